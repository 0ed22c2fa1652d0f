"""Which chip a run trains on: the simulated chip's settings, a user's chip or a served one.

A :class:`ChipSettings` names one chip: by default the simulated chip
(:class:`~limprob.chip.simulated.SimulatedChip`) of distortion ``strength``, mismatch ``seed``,
membrane ``noise`` and weight converter of ``weight_bits``; with ``spec`` a user's chip
(:func:`~limprob.chip.plugins.load_chip`), with ``address`` a served chip
(:class:`~limprob.chip.remote.RemoteChip`). As trace attributes each field is prefixed
``chip_`` (:meth:`ChipSettings.attrs`), the names the simulated chip's own
``describe()`` writes: ``chip_strength``, ``chip_seed``, ``chip_noise``, ``chip_weight_bits``,
and ``chip_spec``, ``chip_address``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from limprob import validation
from limprob.errors import LimprobError

if TYPE_CHECKING:
    import xarray as xr

    from limprob.chip.simulated import SimulatedChip
    from limprob.snn import Network

CHIP_PREFIX = "chip_"
"""Prefix of a chip's trace attributes (:meth:`ChipSettings.attrs`)."""


@dataclass(frozen=True)
class ChipSettings:
    """The chip a run trains on; checked on construction."""

    strength: float = 1.0
    """Distortion strength alpha >= 0 of the simulated chip."""
    seed: int = 0
    """Seed of the simulated chip's hidden mismatch."""
    noise: float = 0.0
    """Membrane noise of the simulated chip, in units of the threshold (0: deterministic); a
    given chip's declared ``noise``."""
    weight_bits: int | None = None
    """Resolution of the simulated chip's weight converter, 1 .. 16 bits (None: continuous); a
    given chip's ``weight_bits``."""
    spec: str = ""
    """A user's chip, ``module:factory`` or a name registered in the entry-point group
    ``limprob.chips`` (:func:`~limprob.chip.plugins.load_chip`), built instead of the simulated
    chip; empty: the simulated chip. With it ``strength`` and ``seed`` are unused, and
    ``noise`` and ``weight_bits`` are the chip's own."""
    address: str = ""
    """``HOST:PORT`` of the served chip trained on (``""``: not a served chip). Recorded so a
    resumed run reconnects; the token never is."""

    def __post_init__(self) -> None:
        validation.strength("strength", self.strength)
        validation.seed("chip seed", self.seed)
        validation.noise("noise", self.noise)
        validation.weight_bits("weight bits", self.weight_bits)
        for name in ("spec", "address"):
            if not isinstance(getattr(self, name), str):
                raise LimprobError(
                    f"chip {name} must be a string, got {getattr(self, name)!r}"
                    + (" (module:factory or a registered name)" if name == "spec" else "")
                )

    @property
    def simulated(self) -> bool:
        """Whether these are the simulated chip's settings (no ``spec``, no ``address``)."""
        return not (self.spec or self.address)

    def attrs(self) -> dict[str, Any]:
        """The settings as trace attributes, ``chip_<field>`` (continuous weights: ``0``
        bits)."""
        fields = asdict(self) | {"weight_bits": self.weight_bits or 0}
        return {CHIP_PREFIX + key: value for key, value in fields.items()}


def build_simulated_chip(
    settings: ChipSettings, network: Network, table: xr.Dataset
) -> SimulatedChip:
    """The simulated chip of ``settings`` (strength, seed, noise, weight resolution) running
    ``network``, with an input per feature and an output per class of ``table`` (a labelled
    table, :mod:`limprob.data`)."""
    from limprob.chip.simulated import SimulatedChip

    return SimulatedChip(
        table.sizes["feature"],
        table.sizes["class"],
        network,
        settings.strength,
        settings.seed,
        noise=settings.noise,
        weight_bits=settings.weight_bits,
    )
