"""Counting chip queries beside any step method."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import pymc as pm
from pymc.step_methods.compound import BlockedStep, Competence, CompoundStep
from pymc.step_methods.state import DataClassState, dataclass_state

if TYPE_CHECKING:
    from limprob.chip.protocol import Chip


@dataclass_state
class ChipQueryCounterState(DataClassState):
    """The chip's queries since the start of the chain, so a restored counter goes on counting
    from there (whatever the chip's own count). The counter draws no random numbers."""

    chain_queries: int


class ChipQueryCounter(BlockedStep):
    """A step that changes nothing and records ``chip_queries``: the chip's queries since the
    start of this chain (tuning included). Put it last in a compound step."""

    name = "chip_query_counter"
    stats_dtypes_shapes: dict[str, tuple[type, list]] = {"chip_queries": (np.int64, [])}
    _state_class = ChipQueryCounterState

    def __init__(
        self,
        vars: list[Any] | None = None,
        *,
        chip: Chip,
        model: pm.Model | None = None,
        blocked: bool = True,
        rng: np.random.Generator | None = None,
    ) -> None:
        self.vars = vars
        self.chip = chip
        self._start = chip.queries

    def setup_chain(self, rng: np.random.Generator, tune: int, draws: int) -> None:
        """Start a chain: count the chip's queries from now on."""
        super().setup_chain(rng, tune, draws)
        self._start = self.chip.queries

    @property
    def chain_queries(self) -> int:
        """The chip's queries since the start of this chain (settable, to resume a chain's
        count)."""
        return self.chip.queries - self._start

    @chain_queries.setter
    def chain_queries(self, queries: int) -> None:
        self._start = self.chip.queries - queries

    def step(self, point: dict) -> tuple[dict, list[dict]]:
        """Leave ``point`` as it is and record ``chip_queries``."""
        return point, [{"chip_queries": self.chain_queries}]

    @staticmethod
    def competence(var: Any, has_grad: bool) -> Competence:
        """Never assigned by PyMC: the counter is added explicitly (:class:`CountedStep`)."""
        return Competence.INCOMPATIBLE


class CountedStep(CompoundStep):
    """A step method followed by a :class:`ChipQueryCounter`.

    Unlike a plain ``CompoundStep``, which keeps ``model_logp`` only from its last method, this
    keeps it from the last sampling method, so ``lp`` stays in the trace.
    """

    def __init__(self, step: Any, chip: Chip, model: pm.Model | None = None) -> None:
        model = pm.modelcontext(model)
        methods = list(step.methods) if isinstance(step, CompoundStep) else [step]
        super().__init__([*methods, ChipQueryCounter(model.value_vars, chip=chip, model=model)])

    def step(self, point: dict) -> tuple[dict, list[dict]]:
        """Run each method in turn, keep ``model_logp`` from the last sampling method only, then
        record the chip queries."""
        stats = []
        for method in self.methods[:-1]:
            point, method_stats = method.step(point)
            stats.extend(method_stats)
        for method_stats in stats[:-1]:
            method_stats.pop("model_logp", None)
        point, counter_stats = self.methods[-1].step(point)
        return point, stats + counter_stats
