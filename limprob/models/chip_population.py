"""The chip population twin: the six global distortion parameters (and, optionally, the
chip's membrane noise), each chip's mismatch integrated out by a synthetic likelihood
(:mod:`limprob.likelihood.synthetic`).

    inverse_w_sat    ~ HalfNormal(3)        1 / w_sat; 2 is the design's unit-strength chip
    log_gain         ~ Normal(0, 0.5)       global synaptic gain (log)
    log_leak         ~ Normal(0, 0.05)      global scale of the nominal leak (log)
    gain_spread      ~ HalfNormal(1)        log-normal spread of per-synapse gains
    threshold_spread ~ HalfNormal(0.5)      log-normal spread of per-neuron thresholds
    leak_spread      ~ HalfNormal(0.2)      log-normal spread of per-neuron leaks
    noise            ~ HalfNormal(0.3)      membrane noise, units of the threshold (learn_noise)
    synthetic log-likelihood of the observed probe summaries (dim summary), a Potential

The priors are limprob's choices: they hold every strength of the design note's chips from 0
to 2 (spreads 0.7 alpha, 0.4 alpha and 0.1 alpha) well inside their mass. The noise prior has
its mode at a noiseless chip, holds the noisy-chip study's levels 0.05 to 0.4 (94 % of its
mass lies below 0.57), and keeps little mass where a threshold's worth of noise per step would
make every neuron fire at random. With ``learn_noise`` off the model is the six-global model
of noiseless chips, unchanged. ``weight_bits`` gives the simulated chips a B-bit converter
over ``[-weight_range, weight_range]``: a choice of model, compared by
:func:`limprob.twin.weight_bits.choose_weight_bits` by evidence.

The likelihood is a ``pm.Potential``: the whole probe set is one observation of a
non-factorising density, so pointwise LOO does not apply to this model
(:func:`limprob.twin.population.fit_population` keeps its value per draw in
``sample_stats``).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import xarray as xr

from limprob.chip.distortion import GLOBALS
from limprob.chip.simulated import WEIGHT_RANGE
from limprob.likelihood.synthetic import (
    SUMMARY_FLOOR,
    probe_summaries,
    standard_draws,
    summary_names,
    synthetic_log_likelihood,
)
from limprob.snn import Network

POPULATION_PRIORS = {
    "inverse_w_sat": ("HalfNormal", 3.0),
    "log_gain": ("Normal", 0.5),
    "log_leak": ("Normal", 0.05),
    "gain_spread": ("HalfNormal", 1.0),
    "threshold_spread": ("HalfNormal", 0.5),
    "leak_spread": ("HalfNormal", 0.2),
}
"""Prior family and scale of each global parameter."""
NOISE_PRIOR = ("HalfNormal", 0.3)
"""Prior family and scale of the membrane-noise level (units of the threshold)."""
DEFAULT_CHIPS = 64
"""Simulated chips per synthetic-likelihood evaluation."""
DEFAULT_GROUPS = 4
"""Probe groups of the summaries (two statistics each)."""


def observed_summaries(probes: xr.Dataset, n_groups: int = DEFAULT_GROUPS) -> np.ndarray:
    """The probe dataset's summaries (summary,)."""
    counts = np.ascontiguousarray(probes["counts"].values, dtype=np.float64)
    return probe_summaries(counts, n_groups)


def build_population_model(
    network: Network,
    probes: xr.Dataset,
    n_chips: int = DEFAULT_CHIPS,
    n_groups: int = DEFAULT_GROUPS,
    seed: int = 0,
    floor: float = SUMMARY_FLOOR,
    *,
    learn_noise: bool = False,
    weight_bits: int | None = None,
    weight_range: float = WEIGHT_RANGE,
) -> pm.Model:
    """The population twin for a probe dataset (see :mod:`limprob.chip.probes`); ``seed`` draws
    the ``n_chips`` chips' common random numbers (mismatch and, with ``learn_noise``, noise
    streams)."""
    draws = standard_draws(
        n_chips, probes.sizes["input"], network.n_hidden, probes.sizes["output"], seed
    )
    coords = {
        "summary": summary_names(n_groups),
        "probe": probes["probe"].values,
        "probe_obs": probes["obs"].values,
        "feature": probes["input"].values,
        "hidden": probes["hidden"].values,
        "class": probes["output"].values,
        "simulated_chip": range(n_chips),
        "neuron": range(network.n_hidden + probes.sizes["output"]),
    }
    with pm.Model(coords=coords) as model:
        globals_ = [
            getattr(pm, family)(name, scale)
            if family == "HalfNormal"
            else getattr(pm, family)(name, 0.0, scale)
            for name, (family, scale) in POPULATION_PRIORS.items()
        ]

        observed = pm.Data(
            "observed_summaries", observed_summaries(probes, n_groups), dims="summary"
        )
        probe_x = pm.Data("probe_x", probes["x"].values, dims=("probe_obs", "feature"))
        probe_w_in = pm.Data(
            "probe_W_in", probes["W_in"].values, dims=("probe", "feature", "hidden")
        )
        probe_w_out = pm.Data(
            "probe_W_out", probes["W_out"].values, dims=("probe", "hidden", "class")
        )
        # The common random numbers are data too (named, with dims), not constants buried in
        # the graph: model["gain_z_in"] shows them and pm.set_data can replace them.
        z_dims = {
            "gain_z_in": ("simulated_chip", "feature", "hidden"),
            "gain_z_out": ("simulated_chip", "hidden", "class"),
            "threshold_z": ("simulated_chip", "neuron"),
            "leak_z": ("simulated_chip", "neuron"),
        }
        z = {name: pm.Data(name, values, dims=z_dims[name]) for name, values in draws.items()}
        family, scale = NOISE_PRIOR
        noise = getattr(pm, family)("noise", scale) if learn_noise else 0.0
        pm.Potential(
            "synthetic_log_likelihood",
            synthetic_log_likelihood(
                observed,
                globals_,
                probe_w_in,
                probe_w_out,
                probe_x,
                z,
                network,
                n_groups,
                floor,
                noise=noise,
                weight_bits=weight_bits or 0,
                w_max=weight_range,
                noise_seed=seed,
            ),
        )
    assert tuple(POPULATION_PRIORS) == GLOBALS
    return model
