"""Simulated chips: the LIF network of :mod:`limprob.snn` seen through a :class:`Distortion`.

:class:`SimulatedChip` draws its mismatch once from its seed and keeps it private
(:func:`~limprob.chip.distortion.design_distortion` at the chip's strength): training only ever
queries it. Like a real analog chip it may be noisy and store its weights with a few bits:

- ``noise``: Gaussian membrane noise of standard deviation ``noise * theta`` (``noise`` in units
  of the nominal threshold) added to every neuron's potential at every time step, independently
  for every sample, drawn afresh on every query. Query ``k`` of a chip of seed ``s`` draws the
  stream ``stream_key(s, k)`` (:mod:`limprob.streams`): a run is reproducible bit for bit, and
  two chips of the same seed see the same noise sequence. (Chains sampled in parallel
  processes each query their own copy of the chip, so they see the same sequence too.)
- ``weight_bits``: each weight, after the chip's distortion of the programmed value, passes a
  ``weight_bits``-bit converter over ``[-weight_range, weight_range]``
  (:func:`~limprob.chip.kernels.quantise`; values outside are clipped). The default range 2.0
  is two prior standard deviations of a weight (``DEFAULT_SIGMA_W = 1``) and four times the
  saturation level at strength 1 (``w_sat = 0.5``). ``None``: continuous weights.

``noise = 0`` and ``weight_bits = None`` are the deterministic, continuous chip exactly.

:class:`ParametricChip` is a chip whose distortion is a given
:class:`Distortion`, with optional read noise: the digital twin's own world, used for
calibration.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic
from numpy.typing import ArrayLike

from limprob import validation
from limprob.chip.distortion import Distortion, design_distortion, draw_mismatch
from limprob.chip.kernels import ChipState, batched_distorted_counts, query_counts
from limprob.errors import LimprobError
from limprob.snn import Network
from limprob.trace import network_attrs
from limprob.validation import non_negative_number, positive_integer, positive_number

if TYPE_CHECKING:
    from limprob.chip.protocol import Chip

type QueryKernel = Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]
"""A compiled chip query ``run(w_in, w_out, x) -> counts``, callable from Python and numba."""

WEIGHT_RANGE = 2.0
"""Default range ``w_max`` of a chip's weight converter: weights in ``[-w_max, w_max]``."""


@intrinsic
def _int64_at(typingctx: Any, address: Any) -> tuple[Any, Callable[..., Any]]:
    """Pointer to the int64 at a raw address (the chip's query counter)."""
    signature = types.CPointer(types.int64)(types.intp)

    def codegen(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        return builder.inttoptr(args[0], context.get_value_type(types.CPointer(types.int64)))

    return signature, codegen


def _build_kernel(state: ChipState, counter_address: int) -> QueryKernel:
    """A numba function ``run(w_in, w_out, x) -> counts`` for one chip: :func:`query_counts`
    of ``state`` with its arrays compiled in as constants and the counter read at
    ``counter_address`` (the address of ``state.queries``, which the chip keeps alive), so every
    call counts one query on the chip's own counter. Each chip compiles its own."""
    distortion, n_steps, w_max, bits, noise_sd, seed, reset_zero = state[:-1]

    @numba.njit(nogil=True, fastmath=False)
    def run(w_in: np.ndarray, w_out: np.ndarray, x: np.ndarray) -> np.ndarray:
        # numba supplies an intrinsic's typing context itself: the call has one argument
        counter = numba.carray(_int64_at(counter_address), 1)  # type: ignore[call-arg]
        return query_counts(
            ChipState(distortion, n_steps, w_max, bits, noise_sd, seed, reset_zero, counter),
            w_in,
            w_out,
            x,
        )

    return run


def check_query(
    chip: Chip, w_in: ArrayLike, w_out: ArrayLike, x: ArrayLike
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The query's arrays as contiguous float64, or :class:`LimprobError` if their shapes do not
    fit ``chip`` or they hold NaN or infinite values."""
    w_in = np.ascontiguousarray(w_in, dtype=np.float64)
    w_out = np.ascontiguousarray(w_out, dtype=np.float64)
    x = np.ascontiguousarray(x, dtype=np.float64)
    h = chip.network.n_hidden
    if w_in.shape != (chip.n_inputs, h) or w_out.shape != (h, chip.n_outputs):
        raise LimprobError(
            f"weights of shape {w_in.shape} and {w_out.shape} do not fit a chip of "
            f"{chip.n_inputs}-{h}-{chip.n_outputs} neurons"
        )
    if x.ndim != 2 or x.shape[1] != chip.n_inputs:
        raise LimprobError(f"inputs of shape {x.shape} do not fit {chip.n_inputs} inputs")
    for name, values in (("weights W_in", w_in), ("weights W_out", w_out), ("inputs", x)):
        if not np.all(np.isfinite(values)):
            raise LimprobError(f"the {name} of a query hold NaN or infinite values")
    return w_in, w_out, x


class SimulatedChip:
    """A simulated analog SNN chip with hidden distortion of the given strength.

    Parameters
    ----------
    n_inputs, n_outputs : widths of the input and output layers.
    network : the nominal network (hidden size, time steps, leak, threshold).
    strength : distortion strength alpha >= 0 (0: the ideal network; 1: strong); see
        :mod:`limprob.chip.distortion` for what it scales.
    seed : seeds the chip's mismatch draws and its noise; the same seed is the same chip.
    noise : membrane noise in units of the nominal threshold (module docstring); 0: none.
    weight_bits : resolution of the weight converter, 1 .. 16 bits; None: continuous.
    weight_range : the converter's range ``w_max`` (weights in ``[-w_max, w_max]``).
    """

    def __init__(
        self,
        n_inputs: int = 30,
        n_outputs: int = 2,
        network: Network = Network(),
        strength: float = 0.0,
        seed: int = 0,
        *,
        noise: float = 0.0,
        weight_bits: int | None = None,
        weight_range: float = WEIGHT_RANGE,
    ) -> None:
        self.network = network
        self.n_inputs = positive_integer("chip inputs", n_inputs)
        self.n_outputs = positive_integer("chip outputs", n_outputs)
        self.strength = validation.strength("chip strength", strength)
        self.seed = validation.seed("chip seed", seed)
        self.noise = validation.noise("noise", noise)
        self.weight_bits = validation.weight_bits("weight bits", weight_bits)
        self.weight_range = positive_number("weight range", weight_range)
        mismatch = draw_mismatch(
            np.random.default_rng(self.seed), self.n_inputs, network.n_hidden, self.n_outputs
        )
        self._distortion = design_distortion(self.strength, mismatch)
        self._queries = np.zeros(1, dtype=np.int64)
        self._state = ChipState(
            self._distortion.arrays(network, self.n_inputs, self.n_outputs),
            network.n_steps,
            self.weight_range,
            self.weight_bits or 0,
            self.noise * network.theta,
            self.seed,
            network.reset_zero,
            self._queries,
        )
        self._kernel: QueryKernel | None = None

    @property
    def deterministic(self) -> bool:
        """Whether the same query always returns the same counts (no noise)."""
        return self.noise == 0

    @property
    def queries(self) -> int:
        """Queries made of this chip so far."""
        return int(self._queries[0])

    def continue_from(self, queries: int) -> None:
        """Count ``queries`` queries made so far, as a run restored from a checkpoint had: query
        ``k`` draws its noise from stream ``k``, so the restored run meets the noise the
        uninterrupted one would have."""
        self._queries[0] = queries

    @property
    def query_state(self) -> ChipState:
        """What a query reads (:class:`~limprob.chip.kernels.ChipState`, whose counter is this
        chip's): ``query_counts(chip.query_state, w_in, w_out, x)`` is one query, with one
        compiled kernel for every chip of the same configuration."""
        return self._state

    @property
    def numba_run(self) -> QueryKernel:
        """The compiled query ``run(w_in, w_out, x) -> counts`` for use inside numba code,
        compiled for this chip on first use (the likelihood reads :attr:`query_state`
        instead, which needs no compilation per chip)."""
        if self._kernel is None:
            self._kernel = _build_kernel(self._state, self._queries.ctypes.data)
        return self._kernel

    def run(self, w_in: ArrayLike, w_out: ArrayLike, x: ArrayLike) -> np.ndarray:
        """One query: write the weights, run the inputs, return spike counts (obs, output)."""
        return query_counts(self._state, *check_query(self, w_in, w_out, x))

    def ideal(self) -> SimulatedChip:
        """A chip of the same size and network with no distortion (strength 0), no noise and
        continuous weights: the ideal network."""
        return SimulatedChip(self.n_inputs, self.n_outputs, self.network, 0.0, self.seed)

    def hidden_distortion(self) -> Distortion:
        """The chip's own distortion. Simulation only: training never sees it; the oracle
        reference (:class:`~limprob.inference.backprop.OracleBackprop`), evaluations and tests
        read it, and a real chip has no such method."""
        return self._distortion

    def describe(self) -> dict:
        """What may be said of this chip in a trace: its identity, never its distortion."""
        return {
            "chip": "SimulatedChip",
            "chip_strength": self.strength,
            "chip_seed": self.seed,
            "chip_noise": self.noise,
            "chip_weight_bits": self.weight_bits or 0,
            "chip_weight_range": self.weight_range,
            **network_attrs(self.network),
        }

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_kernel"] = None  # compiled again on first use
        return state

    def __repr__(self) -> str:
        extras = "".join(
            [
                f", noise={self.noise}" if self.noise else "",
                f", weight_bits={self.weight_bits}" if self.weight_bits else "",
            ]
        )
        return (
            f"SimulatedChip({self.n_inputs}-{self.network.n_hidden}-{self.n_outputs}, "
            f"strength={self.strength}, seed={self.seed}{extras})"
        )


def simulate(
    distortion: Distortion, network: Network, w_in: np.ndarray, w_out: np.ndarray, x: np.ndarray
) -> np.ndarray:
    """Counts (batch, obs, output) of weight sets (batch, ...) through ``distortion``
    ((obs, output) for one weight set)."""
    w_in, w_out = np.asarray(w_in, dtype=float), np.asarray(w_out, dtype=float)
    squeeze = w_in.ndim == 2
    if squeeze:
        w_in, w_out = w_in[None], w_out[None]
    counts = batched_distorted_counts(
        np.ascontiguousarray(w_in),
        np.ascontiguousarray(w_out),
        np.ascontiguousarray(x, dtype=float),
        distortion.arrays(network, w_in.shape[1], w_out.shape[2]),
        network.n_steps,
        network.reset_zero,
    )
    return counts[0] if squeeze else counts


class ParametricChip:
    """A chip whose distortion is a given :class:`Distortion`, with optional Gaussian read noise
    of standard deviation ``read_noise`` counts per output: query ``k`` draws it from the
    generator seeded ``[seed, 7, k]``, so :meth:`continue_from` replays it. Implements
    :class:`~limprob.chip.Chip` with continuous weights; its ``noise`` is the read noise (in
    counts: it has no membrane noise), 0 when it answers a query always with the same counts.
    """

    def __init__(
        self,
        distortion: Distortion,
        n_inputs: int = 30,
        n_outputs: int = 2,
        network: Network = Network(),
        read_noise: float = 0.0,
        seed: int = 0,
    ) -> None:
        self.distortion, self.network = distortion, network
        self.n_inputs = positive_integer("chip inputs", n_inputs)
        self.n_outputs = positive_integer("chip outputs", n_outputs)
        self.read_noise = non_negative_number("read noise", read_noise)
        self.seed = validation.seed("chip seed", seed)
        self.weight_bits = None
        self.weight_range = WEIGHT_RANGE
        self._queries = 0

    @property
    def noise(self) -> float:
        """The read noise (counts); 0: deterministic."""
        return self.read_noise

    @property
    def queries(self) -> int:
        """Queries made so far."""
        return self._queries

    def continue_from(self, queries: int) -> None:
        """Count ``queries`` queries made so far: the next query draws read noise ``queries``."""
        self._queries = int(queries)

    def run(self, w_in: ArrayLike, w_out: ArrayLike, x: ArrayLike) -> np.ndarray:
        """One query: spike counts (obs, output) of ``x`` (obs, input) through the distorted
        network with weights ``w_in``, ``w_out``, plus the read noise."""
        w_in, w_out, x = check_query(self, w_in, w_out, x)
        query = self._queries
        self._queries += 1
        counts = simulate(self.distortion, self.network, w_in, w_out, x)
        if self.read_noise > 0:
            rng = np.random.default_rng([self.seed, 7, query])
            counts = counts + self.read_noise * rng.standard_normal(counts.shape)
        return counts

    def describe(self) -> dict:
        """The chip's identity as trace attributes: its read noise, seed, network and distortion
        globals."""
        return {
            "chip": "ParametricChip",
            "chip_read_noise": self.read_noise,
            "chip_seed": self.seed,
            **network_attrs(self.network),
            **{f"chip_{k}": v for k, v in self.distortion.globals().items()},
        }
