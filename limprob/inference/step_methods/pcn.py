"""Preconditioned Crank-Nicolson (Cotter, Roberts, Stuart and White 2013), optionally with
delayed acceptance."""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
from pymc.step_methods.compound import Competence
from pymc.step_methods.state import dataclass_state
from pytensor.tensor.random.basic import NormalRV

from limprob.inference.step_methods.acceptance import MOVE_STATS, DelayedAcceptance, Screen
from limprob.inference.step_methods.adaptation import robbins_monro_log_scale
from limprob.inference.step_methods.cached_evaluation import (
    CachedEvaluationState,
    CachedEvaluationStep,
    Evaluation,
)
from limprob.inference.step_methods.gaussian_prior import GaussianPrior
from limprob.inference.step_methods.progress import Progress

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
    Other parameters (``record_log_likelihood``, ``cache``, ``estimator``, ``model``, ...) as
    :class:`~limprob.inference.step_methods.cached_evaluation.CachedEvaluationStep`.

    Stats: ``accept`` (acceptance probability; with a screen its unbiased estimate ``a_2`` if
    the screen was passed, else 0), ``accepted``, ``beta``, ``screened_out``, ``model_logp``,
    ``evaluations``, ``log_likelihood__<name>``.
    """

    name = "pcn"
    target_is_likelihood = True
    stats_dtypes_shapes: dict[str, tuple[type, list | None]] = {
        **MOVE_STATS,
        "beta": (np.float64, []),
        "screened_out": (bool, []),
    }
    progress = Progress(("beta", "Beta", "0.3f"), ("accept", "Accept", "0.2f"))
    _state_class = PreconditionedCrankNicolsonState

    def __init__(
        self,
        vars: Any = None,
        *,
        beta: float = 0.5,
        target_accept: float = PCN_TARGET_ACCEPT,
        screen: Screen | None = None,
        **step_options: Any,
    ) -> None:
        if not 0.0 < beta <= 1.0:
            raise ValueError(f"beta must be in (0, 1], not {beta}")
        self.initial_beta = float(beta)
        self.target_accept = float(target_accept)
        self.screen = screen
        super().__init__(vars, **step_options)

    def _prepare(
        self, model: pm.Model, vars: list[Any], initial_point: dict[str, np.ndarray]
    ) -> None:
        self.prior = GaussianPrior.of(model, vars, initial_point, type(self).__name__)

    def _reset_chain(self) -> None:
        super()._reset_chain()
        self._screen_cache = {}
        self.reset_tuning()

    def reset_tuning(self) -> None:
        """Set the step size back to ``initial_beta``."""
        self.log_beta = float(np.log(self.initial_beta))
        self.tune_iteration = 0

    def _transition(self, q: np.ndarray, current: Evaluation) -> dict:
        beta = float(np.exp(self.log_beta))
        mu, sigma = self.prior
        xi = self.rng.standard_normal(q.size)
        proposal = mu + np.sqrt(1.0 - beta**2) * (q - mu) + beta * sigma * xi
        accept, accepted, screened_out = self._accept_or_reject(q, current, proposal)
        if self.tune:
            self.log_beta = min(
                0.0,
                robbins_monro_log_scale(
                    self.log_beta, accept, self.tune_iteration, self.target_accept
                ),
            )
            self.tune_iteration += 1
        return {"accept": accept, "accepted": accepted, "beta": beta, "screened_out": screened_out}

    def _accept_or_reject(
        self, q: np.ndarray, current: Evaluation, proposal: np.ndarray
    ) -> tuple[float, bool, bool]:
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
    def competence(var: Any, has_grad: bool) -> Competence:
        """PyMC's step assignment: compatible with variables whose prior is a Normal."""
        return (
            Competence.COMPATIBLE
            if isinstance(getattr(var.owner, "op", None), NormalRV)
            else Competence.INCOMPATIBLE
        )
