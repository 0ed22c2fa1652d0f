"""Adaptive Metropolis (Haario, Saksman and Tamminen 2001) from a given proposal covariance,
frozen when tuning ends."""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike
from pymc.step_methods.state import dataclass_state

from limprob.inference.step_methods.progress import Progress
from limprob.inference.step_methods.random_walk import BlockedMetropolis, BlockedMetropolisState

ADAPTIVE_EPSILON = 1e-6
"""Default ``eps`` added to the learnt covariance's diagonal (units of the sampled variables
squared), so the proposal stays non-singular however the chain moved."""


@dataclass_state
class AdaptiveMetropolisState(BlockedMetropolisState):
    """The blocked walk's state (tuned scale, Welford sums, Cholesky factor of the proposal)."""


class AdaptiveMetropolis(BlockedMetropolis):
    """Random-walk Metropolis whose proposal covariance is learnt from the chain during tuning
    and then frozen:

        q' = q + s L xi,    xi ~ N(0, I_d),    L L^T = C + eps I_d,    s = 2.38 / sqrt(d)

    (so the proposal covariance is ``(2.38^2 / d) (C + eps I)``, Haario et al.'s). ``C`` starts
    as ``covariance`` (for a subspace, the covariance of the full-space path projected on it);
    after ``covariance_warmup`` tuning steps it is the running (Welford) covariance of this
    chain's tuning draws, updated at every later tuning step, and ``s`` restarts at
    ``2.38 / sqrt(d)``. Throughout tuning ``s`` also follows
    :func:`~limprob.inference.step_methods.adaptation.robbins_monro_log_scale` toward
    ``target_accept``.

    Adaptation stops when tuning ends (PyMC calls ``stop_tuning``): from then on the proposal
    is a fixed symmetric Gaussian random walk, so the draws kept are those of a valid
    fixed-kernel Metropolis-Hastings chain with the model's posterior as its invariant
    distribution (the tuning draws, made by a kernel that changed at every step, are not
    kept). As every limprob step it costs one evaluation (one chip query) per proposal, the
    current point's evaluation is cached, and on a noisy chip the current point's estimate is
    kept (pseudo-marginal) unless the estimator says otherwise.

    Parameters
    ----------
    vars : variables to sample (default: all continuous free variables).
    covariance : initial ``C`` (d, d), symmetric positive semi-definite (default identity).
    epsilon : ``eps`` added to ``C``'s diagonal.
    covariance_warmup : tuning steps before the chain's own covariance replaces ``C``.
    Other parameters as :class:`~limprob.inference.step_methods.BlockedMetropolis` (no screen).

    Stats: ``accept``, ``accepted``, ``scaling`` (``s``), ``screened_out`` (always False),
    ``model_logp``, ``evaluations``, ``log_likelihood__<name>``.
    """

    name = "adaptive_metropolis"
    progress = Progress(("scaling", "Scaling", "0.3f"), ("accept", "Accept", "0.2f"))
    _state_class = AdaptiveMetropolisState

    def __init__(
        self,
        vars: Any = None,
        *,
        covariance: ArrayLike | None = None,
        epsilon: float = ADAPTIVE_EPSILON,
        covariance_warmup: int = 200,
        **kwargs: Any,
    ) -> None:
        if "screen" in kwargs or "adapt_covariance" in kwargs or "S" in kwargs:
            raise TypeError(
                "AdaptiveMetropolis takes a covariance, not S, screen or adapt_covariance"
            )
        self.covariance = None if covariance is None else np.asarray(covariance, dtype=float)
        self.epsilon = float(epsilon)
        super().__init__(vars, adapt_covariance=True, covariance_warmup=covariance_warmup, **kwargs)
        self.set_covariance(
            np.eye(self.proposal_sd.size) if self.covariance is None else self.covariance
        )

    def set_covariance(self, covariance: ArrayLike) -> None:
        """Start the next chain's proposal from ``C = covariance`` (d, d)."""
        size = self.proposal_sd.size
        covariance = np.asarray(covariance, dtype=float)
        if covariance.shape != (size, size):
            raise ValueError(f"covariance must be ({size}, {size}), not {covariance.shape}")
        self.covariance = covariance
        self._initial_factor = self._factor(covariance)
        self._proposal_factor = self._initial_factor

    def _factor(self, covariance: np.ndarray) -> np.ndarray:
        """Cholesky factor of ``covariance + eps I``."""
        return np.linalg.cholesky(covariance + self.epsilon * np.eye(len(covariance)))

    def _reset_chain(self) -> None:
        super()._reset_chain()
        self._proposal_factor = getattr(self, "_initial_factor", None)

    def _covariance_switch(self) -> int:
        """The blocked walk's Welford update (:meth:`BlockedMetropolis._learn_covariance`)
        switches to the learned covariance at ``covariance_warmup`` steps, but not before two
        draws give a covariance at all."""
        return max(self.covariance_warmup, 2)

    def _covariance_factor(self, covariance: np.ndarray) -> np.ndarray:
        """The Haario factor of a learned covariance (:meth:`_factor`)."""
        return self._factor(covariance)
