"""Blocked random-walk Metropolis-Hastings, optionally with delayed acceptance."""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
from numpy.typing import ArrayLike
from pymc.step_methods.compound import Competence
from pymc.step_methods.state import dataclass_state
from pytensor.compile import Function

from limprob.inference.step_methods.acceptance import MOVE_STATS, DelayedAcceptance, Screen
from limprob.inference.step_methods.adaptation import (
    TARGET_ACCEPT,
    robbins_monro_log_scale,
    welford_update,
)
from limprob.inference.step_methods.cached_evaluation import (
    CachedEvaluationState,
    CachedEvaluationStep,
    Evaluation,
)
from limprob.inference.step_methods.progress import Progress


@dataclass_state
class BlockedMetropolisState(CachedEvaluationState):
    """The tuned ``log s`` and tuning count, the learnt covariance (its Welford sums and
    Cholesky factor) and the screen's cached values."""

    log_scale: float
    tune_iteration: int
    _proposal_factor: np.ndarray | None
    _n_seen: int
    _mean: np.ndarray | None
    _scatter: np.ndarray | None
    _screen_cache: dict


class BlockedMetropolis(DelayedAcceptance, CachedEvaluationStep):
    """Blocked random-walk Metropolis-Hastings with a cached current log-density.

    Proposes ``q' = q + s S z`` with ``z ~ N(0, I)`` for all its variables together, evaluates
    the model's log-density once at ``q'`` and accepts with probability
    ``min(1, exp(logp(q') - logp(q)))``. The current point's log-density is kept, so each
    proposal costs one evaluation. During tuning the scale ``s`` follows
    :func:`~limprob.inference.step_methods.adaptation.robbins_monro_log_scale` toward
    ``target_accept``.

    With a ``screen`` the proposal first goes through delayed acceptance
    (:class:`~limprob.inference.step_methods.acceptance.DelayedAcceptance`): stage 1 accepts with
    ``min(1, exp(screen(q') - screen(q)) p(q') / p(q))``, ``p`` the prior of the free variables
    (compiled apart: it never touches the chip), and only a proposal that passes costs an
    evaluation; the chain still targets the exact posterior.

    Parameters
    ----------
    vars : variables to sample (default: all continuous free variables).
    S : per-coordinate proposal standard deviations (default ones).
    scaling : initial scale ``s`` (default ``2.38 / sqrt(d)``).
    target_accept : acceptance rate the tuning aims for.
    adapt_covariance : during tuning, learn the proposal's covariance from the chain itself
        (adaptive Metropolis, Haario, Saksman and Tamminen 2001): after
        ``covariance_warmup`` tuning steps the proposal becomes ``q' = q + s L z`` with
        ``L L^T`` the running covariance of the tuning draws (plus ``1e-10 I``) and ``s``
        restarted at ``2.38 / sqrt(d)``; the covariance is frozen when tuning ends. Worth it
        for a few correlated parameters; for hundreds of weights the diagonal ``S`` is enough.
    screen : optional cheap approximate log-likelihood ``screen(q_raveled) -> float``.
    Other parameters (``record_log_likelihood``, ``cache``, ``estimator``, ``model``, ...) as
    :class:`~limprob.inference.step_methods.cached_evaluation.CachedEvaluationStep`.

    Stats: ``accept`` (with a screen, its unbiased estimate: the stage-2 probability if the
    screen was passed, else 0), ``accepted``, ``scaling``, ``screened_out``, ``model_logp``,
    ``evaluations``, ``log_likelihood__<name>``.
    """

    name = "blocked_metropolis"
    stats_dtypes_shapes: dict[str, tuple[type, list | None]] = {
        **MOVE_STATS,
        "scaling": (np.float64, []),
        "screened_out": (bool, []),
    }
    progress = Progress(("scaling", "Scaling", "0.3f"), ("accept", "Accept", "0.2f"))
    _state_class = BlockedMetropolisState
    proposal_sd: Any
    """``S`` as given; from :meth:`_prepare` on, an array of one sd per coordinate."""
    initial_scaling: Any
    """``scaling`` as given; from :meth:`_prepare` on, a float."""
    _log_prior: Function | None
    _proposal_factor: np.ndarray | None
    _mean: np.ndarray | None
    _scatter: np.ndarray | None

    def __init__(
        self,
        vars: Any = None,
        *,
        S: ArrayLike | None = None,
        scaling: float | None = None,
        target_accept: float = TARGET_ACCEPT,
        adapt_covariance: bool = False,
        covariance_warmup: int = 200,
        screen: Screen | None = None,
        **step_options: Any,
    ) -> None:
        self.proposal_sd, self.initial_scaling = S, scaling  # sized in _prepare
        self.target_accept = float(target_accept)
        self.adapt_covariance = bool(adapt_covariance)
        self.covariance_warmup = int(covariance_warmup)
        self.screen = screen
        super().__init__(vars, **step_options)

    def _prepare(
        self, model: pm.Model, vars: list[Any], initial_point: dict[str, np.ndarray]
    ) -> None:
        size = int(sum(initial_point[v.name].size for v in vars))
        S, scaling = self.proposal_sd, self.initial_scaling
        self.proposal_sd = np.ones(size) if S is None else np.broadcast_to(S, size).astype(float)
        self.initial_scaling = 2.38 / np.sqrt(size) if scaling is None else float(scaling)
        self._log_prior = (
            None if self.screen is None else self._compile([model.logp(vars=model.free_RVs)])
        )

    def _reset_chain(self) -> None:
        super()._reset_chain()
        self._screen_cache = {}
        self.reset_tuning()
        self._proposal_factor = None  # None: the diagonal proposal_sd
        self._n_seen, self._mean, self._scatter = 0, None, None

    def reset_tuning(self) -> None:
        """Set the proposal scale back to ``initial_scaling``."""
        self.log_scale = float(np.log(self.initial_scaling))
        self.tune_iteration = 0

    def _transition(self, q: np.ndarray, current: Evaluation) -> dict:
        scale = np.exp(self.log_scale)
        z = self.rng.standard_normal(q.size)
        step = self.proposal_sd * z if self._proposal_factor is None else self._proposal_factor @ z
        proposal = q + scale * step
        accept, accepted, screened_out = self._accept_or_reject(q, current, proposal)
        if self.tune:
            self.log_scale = robbins_monro_log_scale(
                self.log_scale, accept, self.tune_iteration, self.target_accept
            )
            self.tune_iteration += 1
            if self.adapt_covariance:
                assert self._cached_q is not None  # the point the move ended on
                self._learn_covariance(self._cached_q)
        return {
            "accept": accept,
            "accepted": accepted,
            "scaling": scale,
            "screened_out": screened_out,
        }

    def _accept_or_reject(
        self, q: np.ndarray, current: Evaluation, proposal: np.ndarray
    ) -> tuple[float, bool, bool]:
        """Metropolis-Hastings, or delayed acceptance when there is a screen. Returns the
        acceptance probability (its unbiased estimate with a screen), whether it moved and
        whether the proposal was screened out."""
        if self.screen is None:
            return *self._metropolis(current, proposal), False
        assert self._log_prior is not None  # compiled when there is a screen
        log_prior_ratio = float(self._log_prior(proposal)[0] - self._log_prior(q)[0])
        screen_ratio = self._screen_stage(q, proposal, log_prior_ratio)
        if screen_ratio is None:
            return 0.0, False, True
        # stage 2: exp([logp(q') - logp(q)] - prior ratio - screen ratio) = exp(dL - ds)
        return *self._metropolis(current, proposal, log_prior_ratio + screen_ratio), False

    def _learn_covariance(self, q: np.ndarray) -> None:
        """Welford update of the tuning draws' covariance; from ``covariance_warmup`` steps on,
        propose along it (the scale restarts once, at the switch)."""
        first = self._mean is None
        self._n_seen, self._mean, self._scatter = welford_update(
            self._n_seen, self._mean, self._scatter, q
        )
        if first or self._n_seen < self._covariance_switch():
            return
        if self._n_seen == self._covariance_switch():
            self.log_scale = float(np.log(2.38 / np.sqrt(q.size)))
        self._proposal_factor = self._covariance_factor(self._scatter / (self._n_seen - 1))

    def _covariance_switch(self) -> int:
        """The tuning step from which proposals follow the learned covariance."""
        return self.covariance_warmup

    def _covariance_factor(self, covariance: np.ndarray) -> np.ndarray:
        """The proposal's factor ``L`` (``L L^T = C + 1e-10 I``) of a learned covariance."""
        return np.linalg.cholesky(covariance + 1e-10 * np.eye(len(covariance)))

    @staticmethod
    def competence(var: Any, has_grad: bool) -> Competence:
        """PyMC's step assignment: compatible with any continuous variable."""
        return Competence.COMPATIBLE
