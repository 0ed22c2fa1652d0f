"""The chip population twin's fit: the six global distortion parameters of a chip's family
(and, with ``learn_noise``, its membrane noise), each chip's own mismatch integrated out
(:mod:`limprob.models.chip_population`), sampled by blocked Metropolis-Hastings with an
adaptive proposal covariance.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pymc as pm
import xarray as xr

from limprob import validation
from limprob.chip.probes import probe_attrs
from limprob.chip.simulated import WEIGHT_RANGE
from limprob.errors import LimprobError
from limprob.inference.sampling import (
    SamplerSettings,
    exact_arithmetic,
    package_versions,
    prior_draws,
    sample,
)
from limprob.inference.step_methods import BlockedMetropolis, take_recorded_stats
from limprob.io import netcdf_attribute
from limprob.likelihood.synthetic import summary_names
from limprob.models.chip_population import (
    DEFAULT_CHIPS,
    DEFAULT_GROUPS,
    build_population_model,
    observed_summaries,
)
from limprob.snn import Network
from limprob.trace import network_attrs
from limprob.twin.fit import data_groups
from limprob.validation import positive_integer, positive_number


@dataclass(frozen=True)
class PopulationConfig(SamplerSettings):
    """A chip-population fit (:mod:`limprob.likelihood.synthetic`): the number of simulated
    chips per synthetic-likelihood evaluation and of probe groups; whether the chip's membrane
    noise is learnt (a seventh global, ``noise``); the simulated chips' weight converter
    (``weight_bits`` 1..16 over ``[-weight_range, weight_range]``, None: continuous); and the
    sampler settings (keyword-only) of :class:`~limprob.inference.sampling.SamplerSettings`,
    here 1,500 draws after 1,500 tuning steps by default."""

    n_chips: int = DEFAULT_CHIPS
    n_groups: int = DEFAULT_GROUPS
    learn_noise: bool = False
    weight_bits: int | None = None
    weight_range: float = WEIGHT_RANGE
    draws: int = field(default=1500, kw_only=True)
    tune: int = field(default=1500, kw_only=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        positive_integer("n_chips", self.n_chips)
        positive_integer("n_groups", self.n_groups)
        if not isinstance(self.learn_noise, bool):
            raise LimprobError(f"learn_noise must be True or False, got {self.learn_noise!r}")
        validation.weight_bits("weight bits", self.weight_bits)
        positive_number("weight range", self.weight_range)
        if self.n_chips < 4 * self.n_groups:
            raise LimprobError(
                f"n_chips must be at least {4 * self.n_groups} to estimate the "
                f"covariance of {2 * self.n_groups} summaries"
            )


POPULATION_PROPOSAL_SD = {
    "inverse_w_sat": 0.1,
    "log_gain": 0.05,
    "log_leak": 0.01,
    "gain_spread": 0.1,
    "threshold_spread": 0.2,
    "leak_spread": 0.3,
    "noise": 0.3,
}
"""First proposal steps in the sampler's (log-transformed for spreads and 1/w_sat) space;
the covariance learnt in tuning replaces them."""


def population_model(network: Network, probes: xr.Dataset, config: PopulationConfig) -> pm.Model:
    """The population twin of ``probes`` with ``config``'s chips, summary groups, seed, noise
    and converter (:func:`~limprob.models.chip_population.build_population_model`)."""
    return build_population_model(
        network,
        probes,
        config.n_chips,
        config.n_groups,
        config.seed,
        learn_noise=config.learn_noise,
        weight_bits=config.weight_bits,
        weight_range=config.weight_range,
    )


@exact_arithmetic
def fit_population(
    network: Network,
    probes: xr.Dataset,
    config: PopulationConfig = PopulationConfig(),
    *,
    progressbar: bool = False,
) -> xr.DataTree:
    """Sample the population twin's six global parameters (and ``noise`` with
    ``config.learn_noise``) by blocked MH with an adaptive proposal covariance (one
    synthetic-likelihood evaluation, ``n_chips`` simulated chips, per proposal). The probes are
    the only chip queries.

    Returns a DataTree: ``posterior`` (the globals), ``sample_stats`` (with
    ``synthetic_log_likelihood``), ``observed_data`` (the summaries and the probe counts),
    ``constant_data`` (probe weights and inputs) and attributes as
    :func:`~limprob.twin.fit.fit_twin`'s.
    """
    model = population_model(network, probes, config)
    with model:
        step = BlockedMetropolis(
            model.free_RVs,
            S=[POPULATION_PROPOSAL_SD[rv.name] for rv in model.free_RVs],
            adapt_covariance=True,
        )
    tree, wall = sample(
        model, step, config, prior_draws(model, config.chains, config.seed), progressbar=progressbar
    )
    rest, recorded = take_recorded_stats(
        tree["sample_stats"].to_dataset(), ["synthetic_log_likelihood"]
    )
    synthetic = np.asarray(recorded["synthetic_log_likelihood"].values, dtype=float).reshape(
        rest.sizes["chain"], rest.sizes["draw"]
    )
    tree["sample_stats"] = rest.assign(synthetic_log_likelihood=(("chain", "draw"), synthetic))
    observed, constant = data_groups(probes, None)
    tree["observed_data"] = observed.assign(
        summaries=("summary", observed_summaries(probes, config.n_groups))
    ).assign_coords(summary=summary_names(config.n_groups))
    tree["constant_data"] = constant
    tree.attrs.update(
        {
            "limprob_trace": 1,
            "model": "chip_population",
            "method": "mh",
            **{k: netcdf_attribute(v) for k, v in asdict(config).items()},
            **network_attrs(network),
            **probe_attrs(probes),
            "distortion_parameters": ",".join(rv.name for rv in model.free_RVs),
            "wall_seconds": wall,
            **package_versions(),
        }
    )
    return tree
