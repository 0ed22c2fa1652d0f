"""The constants the chip-in-the-loop models share (limprob's choices), in one place.

W ~ Normal(0, DEFAULT_SIGMA_W)                       every weight, dimensionless
p(y_i | W) = softmax(DEFAULT_KAPPA c_i / T)[y_i]     c_i spike counts over T steps

A run's choice of the two is a :class:`ModelSettings`.
"""

from __future__ import annotations

from dataclasses import dataclass

from limprob.validation import positive_number

DEFAULT_SIGMA_W = 1.0
"""Prior standard deviation of every weight."""
DEFAULT_KAPPA = 8.0
"""Readout gain: a class whose neuron fires on every step leads the other by e^8 in odds."""


@dataclass(frozen=True)
class ModelSettings:
    """The chip-in-the-loop model's prior and readout gain; checked on construction."""

    sigma_w: float = DEFAULT_SIGMA_W
    """Prior standard deviation of every weight."""
    kappa: float = DEFAULT_KAPPA
    """Readout gain of the likelihood ``softmax(kappa c / T)``."""

    def __post_init__(self) -> None:
        positive_number("sigma_w", self.sigma_w)
        positive_number("kappa", self.kappa)


DATASET_NETWORKS = {
    "wisconsin": {"n_hidden": 16, "kappa": 8.0},
    "yinyang": {"n_hidden": 16, "kappa": 8.0},
    "digits": {"n_hidden": 16, "kappa": 4.0},
    "wine": {"n_hidden": 16, "kappa": 8.0},
}
"""Default hidden size (:attr:`limprob.snn.Network.n_hidden`) and readout gain of each
built-in data set, chosen by measurement
(``analyses/network_defaults.py`` and its ``results/network_defaults.md``: MH's test accuracy
on a strength-1 chip for hidden 8 or 16 and gain 4 or 8; the generic 16 and 8 stay unless
another beats them by more than 3 points, which happened on digits only). A user's own table
(``--data``) gets Wisconsin's."""


def dataset_network(dataset: str | None) -> dict:
    """``{"n_hidden": H, "kappa": kappa}`` of a built-in data set (None: a user's table, which
    gets Wisconsin's)."""
    return dict(DATASET_NETWORKS[dataset or "wisconsin"])


DATASET_INITS = {
    "wisconsin": "prior",
    "yinyang": "twin",
    "digits": "twin",
    "wine": "twin",
}
"""Where ``limprob train --dataset NAME`` starts its chains unless ``--init`` is given
(:mod:`limprob.inference.starts`), chosen by measurement on strength-1 chips of 5 chip seeds:
``analyses/tasks.py`` (one blocked-walk chain read at 1,000 to 10,000 queries, from a prior
draw, from ideal-model backprop and from backprop through a twin fitted to 64 probe queries,
each chosen on the chip) and ``analyses/init_defaults.py`` (``limprob train``'s own defaults,
pCN and 2 chains of 2,000 queries). The twin start wins clearly on digits (0.953 against
0.494 cold within 2,000 queries, tasks) and Yin-Yang (0.857 against 0.572), and on wine at
the defaults (W* 0.967 against 0.939 cold, predictive 0.978 against 0.972; the ideal start
ties). Wisconsin keeps the prior: at the defaults the twin start's W* is 0.946 against 0.956
cold and its predictive accuracy 0.974 against 0.963, within about a point either way, at 12
times the time and 76 queries more; the blocked walk of ``tasks.py`` prefers it within
2,000 queries. A
user's own table (``--data``), which no measurement covers, and a network that resets to
zero (which backprop does not train) start from the prior."""


def dataset_init(dataset: str | None, reset: str = "subtract") -> str:
    """The default ``init`` of a built-in data set (None: a user's table, ``prior``) for a
    network that resets by ``reset`` (``zero``: ``prior``)."""
    return DATASET_INITS[dataset] if dataset and reset == "subtract" else "prior"
