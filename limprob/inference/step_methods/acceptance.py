"""The Metropolis-Hastings acceptance rule, and its first stage under delayed acceptance."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

MOVE_STATS: dict[str, tuple[type, list]] = {"accept": (np.float64, []), "accepted": (bool, [])}
"""Stats of a Metropolis-Hastings move: the acceptance probability and whether it moved."""

Screen = Callable[[np.ndarray], float]
"""A cheap approximate log-likelihood of the raveled sampled variables (a software model of the
chip): ``screen(q) -> float`` (nats), for delayed acceptance."""


def acceptance_probability(log_ratio: float) -> float:
    """``min(1, exp(log_ratio))``, and 0 when the ratio is undefined (NaN)."""
    return 0.0 if np.isnan(log_ratio) else float(np.exp(min(0.0, log_ratio)))


class DelayedAcceptance:
    """Stage 1 of delayed acceptance (Christen and Fox 2005), mixed into a step method that
    has ``screen``, ``rng`` and a ``_screen_cache`` (reset per chain to ``{}``).

    For a proposal ``q -> q'`` whose Hastings ratio with respect to the prior ``p`` is ``r_p``,
    stage 1 accepts with ``a_1 = min(1, exp(s(q') - s(q)) r_p)``, ``s`` the cheap screen (a
    software model of the chip); only then is the expensive log-likelihood ``L`` evaluated, and
    stage 2 accepts with

        a_2 = min(1, exp([L(q') - L(q)] - [s(q') - s(q)])).

    The two-stage kernel is reversible with respect to the exact posterior ``p exp(L)``,
    whatever ``s``: a poor screen costs efficiency, never exactness.
    """

    screen: Screen | None
    rng: np.random.Generator
    _screen_cache: dict[bytes, float]

    def _screen_stage(
        self, q: np.ndarray, proposal: np.ndarray, log_prior_ratio: float
    ) -> float | None:
        """Stage 1: ``s(q') - s(q)`` if the proposal passes the screen, None if it is screened
        out. ``s(q)`` comes from the cache (it was the previous step's point or proposal)."""
        screen = self.screen
        assert screen is not None  # stage 1 runs only in a step given a screen
        current = self._screen_cache.get(q.tobytes())
        if current is None:
            current = float(screen(q))
        proposed = float(screen(proposal))
        self._screen_cache = {q.tobytes(): current, proposal.tobytes(): proposed}
        screen_ratio = proposed - current
        passed = self.rng.uniform() < acceptance_probability(screen_ratio + log_prior_ratio)
        return screen_ratio if passed else None
