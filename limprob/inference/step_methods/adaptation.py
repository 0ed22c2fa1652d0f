"""Adaptation during tuning: the step size toward a target acceptance rate, and the running
covariance of the chain's draws.

Both follow BlackJAX's split of an adaptation into a state and an update function: the step
method keeps the state in plain sight and calls the update once per tuning step.
"""

from __future__ import annotations

import numpy as np

TARGET_ACCEPT = 0.234
"""Acceptance rate that is optimal for random-walk Metropolis in many dimensions
(Roberts, Gelman and Gilks 1997)."""


def robbins_monro_log_scale(
    log_scale: float,
    accept_prob: float,
    iteration: int,
    target: float = TARGET_ACCEPT,
    decay: float = 0.6,
) -> float:
    """One stochastic-approximation step of a log step size toward ``target``:

        log s <- log s + (a - target) / (iteration + 1) ** decay

    where ``a`` is this proposal's acceptance probability. Diminishing steps (decay in
    (0.5, 1]) make the adaptation settle.
    """
    return log_scale + (accept_prob - target) / (iteration + 1.0) ** decay


def welford_update(
    n_seen: int, mean: np.ndarray | None, scatter: np.ndarray | None, q: np.ndarray
) -> tuple[int, np.ndarray, np.ndarray]:
    """Add draw ``q`` (d,) to the running mean and scatter matrix of ``n_seen`` draws
    (Welford): with ``n = n_seen + 1`` and ``delta = q - mean``,

        mean <- mean + delta / n,    scatter <- scatter + delta (q - mean)^T,

    so ``scatter / (n - 1)`` is the sample covariance of the ``n`` draws; the first draw
    (``mean`` None) starts the mean at ``q`` and the scatter at zero."""
    n_seen += 1
    if mean is None:
        return n_seen, q.astype(float).copy(), np.zeros((q.size, q.size))
    delta = q - mean
    mean = mean + delta / n_seen
    return n_seen, mean, scatter + np.outer(delta, q - mean)
