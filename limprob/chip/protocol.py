"""The one interface training sees: everything limprob asks of a chip.

A chip's training-time interface is a *query*: write these weights, run these inputs, return
the output spike counts. :class:`Chip` declares that and every other member limprob reads, so
a driver for a real chip implements exactly this and nothing in limprob reads anything else
off the object:

    network, n_inputs, n_outputs   the nominal network it implements and its layer widths
    run(w_in, w_out, x)            one query
    queries                        queries made so far
    continue_from(queries)         resume: set the query counter (a checkpoint's saved state)
    describe()                     identity for the trace's attributes
    noise, weight_bits, weight_range   nominal membrane noise and weight converter

:class:`CompiledChip` adds ``numba_run``, a compiled query the likelihood Op calls from
PyTensor's numba backend with no Python in between (the simulated chips have one; a driver of
real hardware has none and is called through ``run``). :class:`KernelChip` adds
``query_state``: the chip's query is :func:`limprob.chip.kernels.query_counts` of that state,
one compiled kernel for every chip of a configuration (:class:`~limprob.chip.SimulatedChip`).

``isinstance(obj, Chip)`` only checks that the members exist; :func:`require_chip` checks the
same at the boundary where limprob receives a chip and names what is missing.
:func:`limprob.chip.testing.check_chip` checks what the members do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import numpy as np

from limprob.errors import LimprobError
from limprob.snn import Network

if TYPE_CHECKING:
    from limprob.chip.kernels import ChipState


@runtime_checkable
class Chip(Protocol):
    """What limprob may ask of a chip.

    ``network`` is the nominal network the chip implements (hidden size, time steps, leak,
    threshold); ``n_inputs`` and ``n_outputs`` its input and output widths.
    """

    network: Network
    n_inputs: int
    n_outputs: int

    @property
    def queries(self) -> int:
        """Every query run on the chip so far: one per ``run`` that returned counts (a refused
        query is not run, so not counted)."""
        ...

    def run(self, w_in: np.ndarray, w_out: np.ndarray, x: np.ndarray) -> np.ndarray:
        """One query: write ``w_in`` (input, hidden) and ``w_out`` (hidden, output), present
        ``x`` (obs, input), return the output spike counts (obs, output) as float64.

        Raises :class:`~limprob.errors.LimprobError` (and counts no query) when an array holds
        NaN or infinite values or its shape does not fit the chip."""
        ...

    def describe(self) -> dict[str, str | int | float]:
        """The chip's identity for the trace's attributes: names to strings or numbers
        (NetCDF attributes), never a secret (a token, a password)."""
        ...

    @property
    def noise(self) -> float:
        """Nominal membrane noise, standard deviation in units of the threshold per neuron and
        time step; 0: the same query always gives the same counts."""
        ...

    @property
    def weight_bits(self) -> int | None:
        """Resolution of the weight converter in bits; None: continuous weights."""
        ...

    @property
    def weight_range(self) -> float:
        """Range ``w_max`` of the weight converter: weights in ``[-w_max, w_max]``."""
        ...

    def continue_from(self, queries: int) -> None:
        """Resume after ``queries`` queries: set the query counter (which indexes a noisy
        chip's noise stream), as a run restored from a checkpoint had it."""
        ...


@runtime_checkable
class CompiledChip(Chip, Protocol):
    """A chip with an in-process compiled query."""

    @property
    def numba_run(self) -> Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray]:
        """A numba function ``run(w_in, w_out, x) -> counts`` equal to :meth:`Chip.run` on
        contiguous float64 arrays, counting its queries the same way."""
        ...


@runtime_checkable
class KernelChip(CompiledChip, Protocol):
    """A compiled chip whose query is :func:`limprob.chip.kernels.query_counts` of its
    ``query_state``: the likelihood Op passes that state as inputs of the graph, so one
    compiled (and disk-cached) function serves every such chip."""

    @property
    def query_state(self) -> ChipState:
        """What a query reads, its query counter among it (the one ``queries`` reports)."""
        ...


CHIP_MEMBERS = (
    "network",
    "n_inputs",
    "n_outputs",
    "queries",
    "run",
    "describe",
    "noise",
    "weight_bits",
    "weight_range",
    "continue_from",
)
"""The members of :class:`Chip`, in the order :func:`require_chip` names them."""
CALLABLE_MEMBERS = ("run", "describe", "continue_from")


def missing_members(obj: object) -> list[str]:
    """The members of :class:`Chip` that ``obj`` lacks (or has but cannot call)."""
    missing = []
    for name in CHIP_MEMBERS:
        try:
            value = getattr(obj, name)
        except AttributeError:
            missing.append(name)
            continue
        except Exception:  # a property that fails: the member is there, check_chip tests it
            continue
        if name in CALLABLE_MEMBERS and not callable(value):
            missing.append(f"{name} (not callable)")
    return missing


def require_chip(obj: Any, where: str = "the chip") -> Chip:
    """``obj`` if it has every member of :class:`Chip`; else :class:`LimprobError` in one line
    naming ``where`` and the members it lacks, before any query is made."""
    missing = missing_members(obj)
    if missing:
        raise LimprobError(
            f"{where} ({type(obj).__name__}) is not a limprob chip: it has no "
            f"{', '.join(missing)} (see limprob.chip.protocol.Chip)"
        )
    return obj
