"""Differential-evolution Metropolis from the chain's own past (DE-MCz), one evaluation per
proposal."""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
from numpy.typing import ArrayLike
from pymc.step_methods.compound import Competence
from pymc.step_methods.state import dataclass_state
from pymc.vartypes import continuous_types

from limprob.inference.step_methods.acceptance import MOVE_STATS
from limprob.inference.step_methods.adaptation import TARGET_ACCEPT, robbins_monro_log_scale
from limprob.inference.step_methods.cached_evaluation import (
    CachedEvaluationState,
    CachedEvaluationStep,
    Evaluation,
)
from limprob.inference.step_methods.progress import Progress


@dataclass_state
class DEMetropolisZCachedState(CachedEvaluationState):
    """The tuned ``log s`` and tuning count, the history ``Z`` and the steps taken."""

    log_scaling: float
    tune_iteration: int
    _history: list
    _steps: int


class DEMetropolisZCached(CachedEvaluationStep):
    """Differential-evolution Metropolis from the chain's own past (ter Braak and Vrugt 2008),
    blocked over its variables, with the current log-density cached: one evaluation per
    proposal (PyMC's ``DEMetropolisZ`` makes two).

    Proposal, with ``z_a != z_b`` drawn uniformly from the history ``Z``:

        q' = q + lambda (z_a - z_b) + e,    e ~ N(0, diag(epsilon^2)),
        lambda = s * 2.38 / sqrt(2 d),  or lambda = 1 with probability ``mode_jump_probability``,

    accepted with ``min(1, exp(logp(q') - logp(q)))``. ``Z`` starts as the chain's initial point
    and the current point is appended every ``thin`` steps, during tuning and sampling. While
    ``Z`` has fewer than two entries the proposal is ``q + e``. During tuning ``log s``
    follows :func:`robbins_monro_log_scale` toward ``target_accept`` (mode jumps excluded); as in
    PyMC's ``DEMetropolisZ``, the first ``tune_drop_fraction`` of the history is dropped when
    tuning ends. ``d`` is the size of this step's own variables (PyMC uses the whole model's).

    Parameters
    ----------
    vars : variables to sample (default: all continuous free variables).
    scaling : initial factor ``s``.
    epsilon : standard deviation(s) of the small jitter ``e`` (scalar or per coordinate).
    mode_jump_probability : probability of a ``lambda = 1`` jump.
    thin : append the current point to the history every ``thin`` steps.
    target_accept : acceptance rate the tuning aims for.
    tune_drop_fraction : fraction of the history dropped when tuning ends.
    Other parameters (``record_log_likelihood``, ``cache``, ``estimator``, ``model``, ...) as
    :class:`~limprob.inference.step_methods.cached_evaluation.CachedEvaluationStep`.

    Stats: ``accept``, ``accepted``, ``scaling`` (``s``), ``lambda``, ``model_logp``,
    ``evaluations``, ``log_likelihood__<name>``.
    """

    name = "demcz"
    stats_dtypes_shapes: dict[str, tuple[type, list | None]] = {
        **MOVE_STATS,
        "scaling": (np.float64, []),
        "lambda": (np.float64, []),
    }
    progress = Progress(("scaling", "Scaling", "0.3f"), ("accept", "Accept", "0.2f"))
    _state_class = DEMetropolisZCachedState
    epsilon: Any
    """``epsilon`` as given; from :meth:`_prepare` on, an array of one value per coordinate."""

    def __init__(
        self,
        vars: Any = None,
        *,
        scaling: float = 1.0,
        epsilon: ArrayLike = 1e-3,
        mode_jump_probability: float = 0.1,
        thin: int = 1,
        target_accept: float = TARGET_ACCEPT,
        tune_drop_fraction: float = 0.9,
        **step_options: Any,
    ) -> None:
        if scaling <= 0 or thin < 1:
            raise ValueError(f"need scaling > 0 and thin >= 1, not {scaling} and {thin}")
        self.initial_scaling = float(scaling)
        self.epsilon = epsilon
        self.mode_jump_probability = float(mode_jump_probability)
        self.thin = int(thin)
        self.target_accept = float(target_accept)
        self.tune_drop_fraction = float(tune_drop_fraction)
        super().__init__(vars, **step_options)

    def _prepare(
        self, model: pm.Model, vars: list[Any], initial_point: dict[str, np.ndarray]
    ) -> None:
        size = int(sum(initial_point[v.name].size for v in vars))
        self.optimal_lambda = 2.38 / np.sqrt(2 * size)
        self.epsilon = np.broadcast_to(self.epsilon, size).astype(float)

    def _reset_chain(self) -> None:
        super()._reset_chain()
        self._history: list[np.ndarray] = []
        self._steps = 0
        self.reset_tuning()

    def reset_tuning(self) -> None:
        """Set the scaling back to ``initial_scaling``."""
        self.log_scaling = float(np.log(self.initial_scaling))
        self.tune_iteration = 0

    def stop_tuning(self) -> None:
        """Drop the first ``tune_drop_fraction`` of the history (keeping at least two entries),
        so that sampling is not steered by unconverged tuning states."""
        n_drop = min(
            int(self.tune_drop_fraction * len(self._history)), max(len(self._history) - 2, 0)
        )
        self._history = self._history[n_drop:]
        super().stop_tuning()

    def _transition(self, q: np.ndarray, current: Evaluation) -> dict:
        if not self._history:
            self._history.append(q.copy())
        mode_jump = bool(self.rng.uniform() < self.mode_jump_probability)
        scaling = float(np.exp(self.log_scaling))
        lamb = 1.0 if mode_jump else scaling * self.optimal_lambda
        proposal = (
            q + self._history_difference(lamb) + self.epsilon * self.rng.standard_normal(q.size)
        )
        accept, accepted = self._metropolis(current, proposal)
        if self.tune and not mode_jump:
            self.log_scaling = robbins_monro_log_scale(
                self.log_scaling, accept, self.tune_iteration, self.target_accept
            )
            self.tune_iteration += 1
        self._steps += 1
        if self._steps % self.thin == 0:
            assert self._cached_q is not None  # the point the move ended on
            self._history.append(self._cached_q.copy())
        return {"accept": accept, "accepted": accepted, "scaling": scaling, "lambda": lamb}

    def _history_difference(self, lamb: float) -> np.ndarray | float:
        """``lamb (z_a - z_b)`` for two distinct history entries (0 before there are two)."""
        n = len(self._history)
        if n < 2:
            return 0.0
        a = self.rng.integers(n)
        b = self.rng.integers(n - 1)
        b += b >= a
        return lamb * (self._history[a] - self._history[b])

    @staticmethod
    def competence(var: Any, has_grad: bool) -> Competence:
        """PyMC's step assignment: compatible with continuous variables."""
        return Competence.COMPATIBLE if var.dtype in continuous_types else Competence.INCOMPATIBLE
