"""What a run will cost, said before it starts: the memory of its arrays and its sampling time.

Memory (bytes, float64 = 8 bytes a number) of a training run with ``W`` weights, ``N`` training
and ``M`` test samples, ``K`` classes and ``S`` sampler statistics per draw:

    2 x (draws + tune) x chains x (W + N + S) x 8      PyMC's arrays (it keeps the tuning
                                                        steps until the end) and the DataTree
                                                        made from them
    + P x (M x K + N) x 8                               test probabilities and the posterior
                                                        predictive of P thinned draws

A probe dataset holds ``probes x (obs x outputs + W) + obs x inputs`` numbers; a population
twin's synthetic likelihood draws ``chips`` simulated chips (their mismatch, ``inputs x hidden
+ hidden x outputs + 3 hidden`` numbers each, and their counts, ``probes x obs x outputs``).

:func:`check_memory` refuses a run whose estimate exceeds the memory available now (or a
limit the user sets). :func:`projected_seconds` multiplies the steps by the chip queries
each makes at least and by the measured time of one query (:func:`seconds_per_query`).
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import numpy as np

from limprob.validation import available_bytes, check_memory  # noqa: F401 (re-exported)

if TYPE_CHECKING:
    from limprob.chip.protocol import Chip

BYTES_PER_NUMBER = 8
SAMPLER_STATS = 8
"""Sampler statistics per draw, a generous count (accepted, scaling, chip_queries, lp, ...)."""
COPIES = 2
"""PyMC's arrays and the DataTree converted from them are alive together."""
QUERIES_PER_STEP = {"metropolis": 2, "demetropolisz": 2}
"""Chip queries a step makes at least, per block of weights: one for limprob's step methods,
which cache the current point's log-likelihood; two for PyMC's, which evaluate both points."""


def train_bytes(
    *,
    draws: int,
    tune: int,
    chains: int,
    weights: int,
    n_train: int,
    n_test: int,
    n_classes: int,
    predictive_draws: int,
) -> int:
    """Estimated peak bytes of a training run's trace (see the module docstring)."""
    sampled = COPIES * (draws + tune) * chains * (weights + n_train + SAMPLER_STATS)
    predicted = predictive_draws * (n_test * n_classes + n_train)
    return BYTES_PER_NUMBER * (sampled + predicted)


def probe_bytes(*, probes: int, obs: int, inputs: int, hidden: int, outputs: int) -> int:
    """Bytes of a probe dataset: counts and weights of every probe, and the inputs."""
    weights = inputs * hidden + hidden * outputs
    return BYTES_PER_NUMBER * (probes * (obs * outputs + weights) + obs * inputs)


def population_bytes(
    *, chips: int, probes: int, obs: int, inputs: int, hidden: int, outputs: int
) -> int:
    """Bytes of the population twin's simulated chips: mismatch draws and counts per chip."""
    per_chip = inputs * hidden + hidden * outputs + 3 * hidden + probes * obs * outputs
    return BYTES_PER_NUMBER * chips * per_chip


def seconds_per_query(chip: Chip, w_in: np.ndarray, w_out: np.ndarray, x: np.ndarray) -> float:
    """Wall time (s) of one query of ``chip``, measured on the second of two (the first may
    compile); both are counted in the chip's queries."""
    chip.run(w_in, w_out, x)
    started = time.perf_counter()
    chip.run(w_in, w_out, x)
    return time.perf_counter() - started


def projected_seconds(
    *, draws: int, tune: int, chains: int, cores: int, sampler: str, blocks: int, seconds: float
) -> float:
    """Least sampling time (s): (draws + tune) x chains x queries per step x ``seconds`` per
    query, over the chains run in parallel."""
    per_step = QUERIES_PER_STEP.get(sampler, 1) * blocks
    return (draws + tune) * chains * per_step * seconds / min(cores, chains)


def duration(seconds: float) -> str:
    """``"12 min"``, ``"3.4 h"``."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
