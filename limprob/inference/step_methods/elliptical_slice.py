"""Elliptical slice sampling (Murray, Adams and MacKay 2010)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
from pymc.step_methods.compound import Competence

from limprob.inference.step_methods.cached_evaluation import CachedEvaluationStep, Evaluation
from limprob.inference.step_methods.gaussian_prior import GaussianPrior
from limprob.inference.step_methods.pcn import PreconditionedCrankNicolson
from limprob.inference.step_methods.progress import Progress


class EllipticalSlice(CachedEvaluationStep):
    """Elliptical slice sampling (Murray, Adams and MacKay 2010) for a Gaussian prior.

    With the prior ``Normal(mu, diag(sigma^2))`` (as for :class:`PreconditionedCrankNicolson`)
    and ``L`` the log-density minus that prior, one step from ``q`` (``f = q - mu``) is:

        nu ~ Normal(0, diag(sigma^2));  log y = L(q) + log u,  u ~ U(0, 1)
        theta ~ U(0, 2 pi);  [theta_min, theta_max] = [theta - 2 pi, theta]
        loop: q' = mu + f cos(theta) + nu sin(theta)
              if L(q') > log y: accept q'
              else shrink: theta_min = theta if theta < 0 else theta_max = theta,
                           theta ~ U(theta_min, theta_max)

    It needs no tuning, and each loop round is one evaluation. After ``max_shrinks`` shrinks
    without acceptance (a safety net: shrinking converges on ``q``, which is always on the slice)
    it stays at ``q`` and records ``max_shrinks_reached``.

    Parameters
    ----------
    vars : variables to sample (default: all continuous free variables).
    max_shrinks : shrinks allowed per step (so at most ``max_shrinks + 1`` evaluations).
    Other parameters (``record_log_likelihood``, ``cache``, ``estimator``, ``model``, ...) as
    :class:`~limprob.inference.step_methods.cached_evaluation.CachedEvaluationStep`.

    Stats: ``evaluations``, ``max_shrinks_reached``, ``model_logp``, ``log_likelihood__<name>``.
    """

    name = "slice"
    target_is_likelihood = True
    stats_dtypes_shapes: dict[str, tuple[type, list | None]] = {
        "max_shrinks_reached": (bool, []),
    }
    progress = Progress(("evaluations", "Evaluations", "d"))

    def __init__(self, vars: Any = None, *, max_shrinks: int = 100, **step_options: Any) -> None:
        if max_shrinks < 0:
            raise ValueError(f"max_shrinks must be >= 0, not {max_shrinks}")
        self.max_shrinks = int(max_shrinks)
        super().__init__(vars, **step_options)

    def _prepare(
        self, model: pm.Model, vars: list[Any], initial_point: dict[str, np.ndarray]
    ) -> None:
        self.prior = GaussianPrior.of(model, vars, initial_point, type(self).__name__)

    def _transition(self, q: np.ndarray, current: Evaluation) -> dict:
        mu, sigma = self.prior
        f = q - mu
        nu = sigma * self.rng.standard_normal(q.size)
        log_threshold = current.target - self.rng.standard_exponential()  # = L(q) + log u
        theta = self.rng.uniform(0.0, 2.0 * np.pi)
        theta_min, theta_max = theta - 2.0 * np.pi, theta
        for _ in range(self.max_shrinks + 1):
            proposal = mu + f * np.cos(theta) + nu * np.sin(theta)
            evaluation = self._evaluate(proposal)
            if evaluation.target > log_threshold:
                self._move_to(proposal, evaluation)
                return {"max_shrinks_reached": False}
            if theta < 0.0:
                theta_min = theta
            else:
                theta_max = theta
            theta = self.rng.uniform(theta_min, theta_max)
        return {"max_shrinks_reached": True}

    @staticmethod
    def competence(var: Any, has_grad: bool) -> Competence:
        """PyMC's step assignment: compatible with the variables pCN takes (Gaussian priors)."""
        return PreconditionedCrankNicolson.competence(var, has_grad)
