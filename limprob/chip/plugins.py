"""A user's chip, by name: ``module:factory`` or a driver package's registered entry point.

A *chip spec* names a factory of chips:

- ``package.module:factory`` (``factory`` may be dotted: ``module:Class.create``), imported
  from ``sys.path``;
- a bare name registered by an installed driver package in the entry-point group
  :data:`ENTRY_POINT_GROUP` (``limprob.chips``), in its ``pyproject.toml``::

      [project.entry-points."limprob.chips"]
      mylab-fpga = "mylab_driver.limprob:make_chip"

The factory is called with keywords only, ``factory(n_inputs=..., n_outputs=...,
network=...)`` (the data's features and classes and the nominal :class:`~limprob.snn.Network`
of the run), and must return a :class:`~limprob.chip.protocol.Chip` of those sizes.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from importlib.metadata import entry_points

from limprob.chip.protocol import Chip, require_chip
from limprob.errors import LimprobError
from limprob.snn import Network

ENTRY_POINT_GROUP = "limprob.chips"
"""The entry-point group through which installed packages register chip factories by name."""


def registered_chips() -> dict:
    """The chip factories installed packages register, as ``{name: entry point}``."""
    return {point.name: point for point in entry_points(group=ENTRY_POINT_GROUP)}


def chip_factory(spec: str) -> Callable[..., Chip]:
    """The factory ``spec`` names (module docstring); :class:`LimprobError` in one line if it
    cannot be found or is not callable."""
    spec = str(spec).strip()
    if ":" in spec:
        module_name, _, attribute = spec.partition(":")
        if not module_name or not attribute:
            raise LimprobError(f"chip {spec!r}: give module:factory (or a registered name)")
        try:
            target = importlib.import_module(module_name)
        except ModuleNotFoundError as error:
            raise LimprobError(f"chip {spec!r}: no module named {error.name!r}") from None
        except Exception as error:  # the driver's own import failed: say how, in one line
            raise LimprobError(
                f"chip {spec!r}: importing {module_name} failed "
                f"({type(error).__name__}: {_one_line(error)})"
            ) from None
        for name in attribute.split("."):
            try:
                target = getattr(target, name)
            except AttributeError:
                raise LimprobError(f"chip {spec!r}: {module_name} has no {attribute!r}") from None
    else:
        registered = registered_chips()
        if spec not in registered:
            known = ", ".join(sorted(registered)) or "none installed"
            raise LimprobError(
                f"chip {spec!r}: not module:factory, nor a name registered in "
                f"the entry-point group {ENTRY_POINT_GROUP} ({known})"
            )
        try:
            target = registered[spec].load()
        except Exception as error:
            raise LimprobError(
                f"chip {spec!r}: loading its entry point failed "
                f"({type(error).__name__}: {_one_line(error)})"
            ) from None
    if not callable(target):
        raise LimprobError(
            f"chip {spec!r}: {type(target).__name__} is not callable, not a chip factory"
        )
    return target


def load_chip(spec: str, *, n_inputs: int, n_outputs: int, network: Network) -> Chip:
    """The chip ``spec``'s factory builds for ``n_inputs`` inputs, ``n_outputs`` outputs and
    ``network``; :class:`LimprobError` in one line, before any query, if the factory fails, or
    returns something that is not a chip (:func:`~limprob.chip.protocol.require_chip`) or a
    chip of other sizes."""
    factory = chip_factory(spec)
    try:
        chip = factory(n_inputs=n_inputs, n_outputs=n_outputs, network=network)
    except LimprobError as error:
        raise LimprobError(f"chip {spec!r}: {error}") from None
    except Exception as error:
        raise LimprobError(
            f"chip {spec!r}: the factory raised {type(error).__name__}: {_one_line(error)}"
        ) from None
    require_chip(chip, f"chip {spec!r}")
    has = {
        "inputs": chip.n_inputs,
        "outputs": chip.n_outputs,
        "hidden neurons": chip.network.n_hidden,
        "time steps": chip.network.n_steps,
    }
    wanted = {
        "inputs": n_inputs,
        "outputs": n_outputs,
        "hidden neurons": network.n_hidden,
        "time steps": network.n_steps,
    }
    for name, value in wanted.items():
        if has[name] != value:
            raise LimprobError(
                f"chip {spec!r}: the factory's chip has {has[name]} {name}, but "
                f"{value} were asked for"
            )
    return chip


def _one_line(error: BaseException) -> str:
    return " ".join(str(error).split())
