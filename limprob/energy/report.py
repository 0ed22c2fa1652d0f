"""The energy report: every bound of :mod:`limprob.energy_limits` for one training scenario,
as a posterior median and interval over the device parameters of
:mod:`limprob.models.lim_energy` (priors plus the shipped characterisation data).
"""

import functools
import math

import numpy as np
import xarray as xr

from limprob.energy_limits import (
    BOUND_NAMES,
    DEFAULT_BITS,
    DEFAULT_OPS_PER_FLOP,
    DEFAULT_TIME_RATIO,
)
from limprob.errors import LimprobError
from limprob.models import energy_draws


@functools.lru_cache(maxsize=8)
def device_draws(seed: int = 0) -> xr.Dataset:
    """The default device posterior's draws for ``seed``: from the cache without importing
    PyMC when they are there, else sampled (and cached) by
    :func:`limprob.models.lim_energy.device_posterior`."""
    draws = energy_draws.cached_device_draws(seed)
    if draws is None:
        from limprob.models import lim_energy

        draws = lim_energy.device_posterior(seed)["posterior"].to_dataset()
    return draws


def energy_report(
    params: float,
    tokens: float | None = None,
    bits: float = DEFAULT_BITS,
    *,
    flops: float | None = None,
    time_ratio: float = DEFAULT_TIME_RATIO,
    ops_per_flop: float = DEFAULT_OPS_PER_FLOP,
    seed: int = 0,
    prob: float = 0.94,
) -> dict[str, dict[str, float]]:
    """Posterior median and equal-tailed ``prob`` interval of every bound for one training run
    of C FLOPs (``flops``, or 6 N D from ``tokens``) and OPS = ``ops_per_flop`` x C updates.

    The device parameters come from the posterior of :mod:`limprob.models.lim_energy`
    (priors plus the shipped characterisation data), sampled once per seed and kept on disk
    (:func:`limprob.models.energy_draws.device_draws`).
    Returns ``{name: {"median", "low", "high"}}`` in joules for each name of :data:`BOUND_NAMES`.
    """
    scenarios = energy_draws.scenario_dataset(
        [params],
        tokens=None if tokens is None else [tokens],
        flops=None if flops is None else [flops],
        bits=bits,
        time_ratio=time_ratio,
        ops_per_flop=ops_per_flop,
    )
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below
        energies = energy_draws.energies_on_draws(scenarios, device_draws(seed), seed)
        summary = energy_draws.summarise(energies, prob=prob)
    report = {
        name: {
            key: float(summary[name].sel(scenario=summary.scenario[0], statistic=key))
            for key in ("median", "low", "high")
        }
        for name in BOUND_NAMES
    }
    if not all(math.isfinite(v) for bound in report.values() for v in bound.values()):
        raise LimprobError(
            "the energy bounds overflow a float for this run: ask for fewer "
            "parameters, tokens or FLOPs"
        )
    return report
