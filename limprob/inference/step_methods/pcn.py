"""Preconditioned Crank-Nicolson (Cotter, Roberts, Stuart and White 2013), optionally with
delayed acceptance."""

from __future__ import annotations

import numpy as np
from pymc.step_methods.compound import Competence
from pymc.step_methods.state import dataclass_state
from pytensor.tensor.random.basic import NormalRV

from limprob.inference.step_methods.base import (
    MOVE_STATS,
    CachedEvaluationState,
    CachedEvaluationStep,
    DelayedAcceptance,
    EvaluationCache,
    GaussianPrior,
    LikelihoodEstimator,
    Progress,
    Screen,
    resolve_vars,
    robbins_monro_log_scale,
)

PCN_TARGET_ACCEPT = 0.25
"""Default acceptance rate that pCN's ``beta`` is tuned toward."""


@dataclass_state
class PreconditionedCrankNicolsonState(CachedEvaluationState):
    """pCN's tuned ``log beta`` and tuning count, and the screen's cached values."""

    log_beta: float
    tune_iteration: int
    _screen_cache: dict


class PreconditionedCrankNicolson(DelayedAcceptance, CachedEvaluationStep):
    """Preconditioned Crank-Nicolson (pCN) for variables with a Gaussian prior.

    With the prior ``q ~ Normal(mu, diag(sigma^2))`` read from the model (untransformed
    ``pm.Normal`` variables with constant parameters), the proposal

        q' = mu + sqrt(1 - beta^2) (q - mu) + beta sigma xi,    xi ~ N(0, I),

    is reversible w.r.t. the prior, so it is accepted with

        min(1, exp(L(q') - L(q))),    L = model logp - log prior of the sampled variables,

    at one evaluation per proposal (``L(q)`` is cached). ``beta`` in (0, 1] follows
    :func:`robbins_monro_log_scale` on ``log beta`` (clipped at 0) toward ``target_accept``
    during tuning. Its acceptance does not collapse as the dimension grows, unlike a random walk.

    Parameters
    ----------
    vars : variables to sample (default: all continuous free variables).
    beta : initial step size ``beta`` in (0, 1].
    target_accept : acceptance rate the tuning aims for.
    screen : optional cheap approximate log-likelihood ``screen(q_raveled) -> float``; with it,
        proposals go through delayed acceptance (:class:`DelayedAcceptance`, prior ratio 1):
        only those that pass the screen cost an evaluation.
    record_log_likelihood : record the pointwise log-likelihoods at the current point as stats.
    cache : an evaluation cache shared with the other steps of a compound step.
    estimator : how a noisy likelihood is estimated (:class:`LikelihoodEstimator`): repeats
        per estimate, and whether the current point's estimate is kept (pseudo-marginal).

    Stats: ``accept`` (acceptance probability; with a screen its unbiased estimate ``a_2`` if
    the screen was passed, else 0), ``accepted``, ``beta``, ``screened_out``, ``model_logp``,
    ``evaluations``, ``log_likelihood__<name>``.
    """

    name = "pcn"
    target_is_likelihood = True
    stats_dtypes_shapes = {
        **MOVE_STATS,
        "beta": (np.float64, []),
        "screened_out": (bool, []),
    }
    progress = Progress(("beta", "Beta", "0.3f"), ("accept", "Accept", "0.2f"))
    _state_class = PreconditionedCrankNicolsonState

    def __init__(self, vars=None, *, beta=0.5, target_accept=PCN_TARGET_ACCEPT,
                 screen: Screen | None = None, record_log_likelihood=True,
                 cache: EvaluationCache | None = None,
                 estimator: LikelihoodEstimator | None = None, model=None, rng=None,
                 initial_point=None, compile_kwargs=None, blocked=True):
        model, vars, initial_point = resolve_vars(model, vars, initial_point)
        if not 0.0 < beta <= 1.0:
            raise ValueError(f"beta must be in (0, 1], not {beta}")
        self.prior = GaussianPrior.of(model, vars, initial_point, type(self).__name__)
        self.initial_beta = float(beta)
        self.target_accept = float(target_accept)
        self.screen = screen
        super().__init__(vars, model=model, initial_point=initial_point,
                         record_log_likelihood=record_log_likelihood,
                         compile_kwargs=compile_kwargs, blocked=blocked, rng=rng, cache=cache,
                         estimator=estimator)

    def _reset_chain(self):
        super()._reset_chain()
        self._screen_cache = {}
        self.reset_tuning()

    def reset_tuning(self):
        """Set the step size back to ``initial_beta``."""
        self.log_beta = float(np.log(self.initial_beta))
        self.tune_iteration = 0

    def _transition(self, q, current):
        beta = float(np.exp(self.log_beta))
        mu, sigma = self.prior
        xi = self.rng.standard_normal(q.size)
        proposal = mu + np.sqrt(1.0 - beta**2) * (q - mu) + beta * sigma * xi
        accept, accepted, screened_out = self._accept_or_reject(q, current, proposal)
        if self.tune:
            self.log_beta = min(0.0, robbins_monro_log_scale(
                self.log_beta, accept, self.tune_iteration, self.target_accept))
            self.tune_iteration += 1
        return {"accept": accept, "accepted": accepted, "beta": beta,
                "screened_out": screened_out}

    def _accept_or_reject(self, q, current, proposal) -> tuple[float, bool, bool]:
        """Metropolis-Hastings, or delayed acceptance when there is a screen (the prior ratio
        is 1: the proposal is prior-reversible). Returns the acceptance probability (its
        unbiased estimate with a screen), whether it moved and whether it was screened out."""
        if self.screen is None:
            return *self._metropolis(current, proposal), False
        screen_ratio = self._screen_stage(q, proposal, log_prior_ratio=0.0)
        if screen_ratio is None:
            return 0.0, False, True
        return *self._metropolis(current, proposal, screen_ratio), False

    @staticmethod
    def competence(var, has_grad):
        """PyMC's step assignment: compatible with variables whose prior is a Normal."""
        return (Competence.COMPATIBLE if isinstance(getattr(var.owner, "op", None), NormalRV)
                else Competence.INCOMPATIBLE)
