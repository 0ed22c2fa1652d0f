"""How a step estimates the likelihood at a point when each call of the model is noisy.

On a noisy chip an evaluation is a random estimate. A :class:`LikelihoodEstimator` makes it
``R`` calls averaged in probability space (an unbiased estimate of the likelihood), and because
the current point's estimate is kept, never drawn again, the step is pseudo-marginal MH
(Andrieu and Roberts 2009): it targets the exact posterior. ``re_estimate_current`` draws it
again on every step instead (Monte Carlo within Metropolis), which is only approximate.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.special import logsumexp


@dataclass(frozen=True)
class LikelihoodEstimator:
    """How a step estimates the likelihood at a point when each call of the model is noisy.

    With ``R = repeats`` calls returning pointwise log-likelihoods ``l_ir`` (nats), the
    estimate of each observation's likelihood is their mean in probability space,

        log p_hat_i = log (1/R) sum_r exp(l_ir),

    unbiased for ``p_i`` if each call is; with independent noise across observations the
    product ``prod_i p_hat_i`` is unbiased for the likelihood. ``repeats = "auto"`` measures
    the variance ``s1^2`` of the one-call estimate of ``sum_i l_i`` at the current point with
    ``pilot_calls`` calls, at the start of each chain and again at the end of tuning, and sets
    ``R = ceil(s1^2 / target_variance)`` (at most ``max_repeats``): the variance of the log of
    the R-call average is about ``s1^2 / R``, and pseudo-marginal MH is most efficient near
    ``1`` (Doucet, Pitt, Deligiannidis and Kohn 2015; Sherlock et al. 2015).
    ``re_estimate_current`` draws the current point's estimate again on every step: Monte
    Carlo within Metropolis, approximate.
    """

    repeats: int | str = 1
    re_estimate_current: bool = False
    target_variance: float = 1.0
    pilot_calls: int = 20
    max_repeats: int = 64

    def __post_init__(self) -> None:
        if self.repeats != "auto" and not (
            isinstance(self.repeats, int | np.integer) and self.repeats >= 1
        ):
            raise ValueError(f"repeats must be a positive integer or 'auto', not {self.repeats!r}")
        if self.pilot_calls < 2 or self.max_repeats < 1 or not self.target_variance > 0:
            raise ValueError(
                "the pilot needs at least 2 calls, max_repeats >= 1 and a positive target variance"
            )

    @property
    def auto(self) -> bool:
        """Whether a pilot chooses ``repeats`` (``repeats == "auto"``)."""
        return self.repeats == "auto"

    def repeats_for(self, variance: float) -> int:
        """The smallest ``R`` with ``variance / R <= target_variance``, in 1 .. max_repeats."""
        wanted = (
            math.ceil(variance / self.target_variance)
            if np.isfinite(variance)
            else (self.max_repeats)
        )
        return int(min(max(wanted, 1), self.max_repeats))


def average_in_probability(calls: list[list[np.ndarray]]) -> list[np.ndarray]:
    """``log (1/R) sum_r exp(l_r)`` elementwise, for each of the pointwise arrays of ``R``
    calls (``calls[r][k]``: call ``r``'s ``k``-th pointwise array)."""
    n_calls = len(calls)
    return [
        logsumexp(np.stack([np.asarray(call[k], dtype=float) for call in calls]), axis=0)
        - np.log(n_calls)
        for k in range(len(calls[0]))
    ]
