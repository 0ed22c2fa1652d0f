"""PyMC model of the LIM energy bounds with posterior uncertainty over device parameters.

Device parameters are random variables; the memory's temperature and attempt time are conditioned
on characterisation data (retention times measured at several barrier heights),

    ln tau_ret,i ~ Normal(ln tau_0 + E_B,i / (k_B T), sigma),

and every bound of :mod:`limprob.energy_limits` is a ``pm.Deterministic`` with dim ``scenario`` (one
training run: parameters N, compute C, precision b, nominal tau_r / tau_u). The precision b is a
fixed value per scenario, not a random variable: it is a design choice of the training run, so
b = 16 and b = 32 are compared as two scenarios rather than mixed into one posterior.

Priors (limprob's choices, docs/energy-model.md gives the reasons):

    T                   ~ LogNormal(ln 300 K, 0.1)            room-temperature operation
    ln tau_0            ~ Normal(ln 1e-9 s, ln 10)            one decade either side of 1 ns
    sigma               ~ HalfNormal(1)                       noise of ln tau_ret measurements
    relaxation_scale    ~ LogNormal(0, 0.3)                   device tau_r relative to nominal
    eps                 ~ LogNormal(ln 1e-9, ln 10 / 2)       flip tolerance, half a decade
    e_flop              ~ LogNormal(ln 7.07e-13 J, 0.3)       accelerator energy per FLOP

tau_ret (10 years, the retention a conventional memory is built for) and c_p = 1 are fixed.
"""

import functools
import math
import warnings
from importlib.resources import files
from pathlib import Path

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from limprob import energy_limits as limits
from limprob.errors import LimprobError
from limprob.io import cached_trace
from limprob.models.energy_draws import (
    CHARACTERISATION_FILE,
    DEVICE_POSTERIOR_CACHE,
    DEVICE_POSTERIOR_SETTINGS,
    DEVICE_VARS,
    ENERGY_VARS,
    DevicePriors,
    bound_draws,
    device_posterior_inputs,
    energies_on_draws,
    scenario_dataset,
    summarise,
)

__all__ = [
    "CHARACTERISATION_FILE",
    "DEVICE_VARS",
    "ENERGY_VARS",
    "DevicePriors",
    "bound_draws",
    "build_model",
    "device_posterior",
    "device_posterior_inputs",
    "load_characterisation",
    "sample_posterior",
    "scenario_dataset",
    "scenario_energies",
    "summarise",
]


def load_characterisation(path: str | Path | None = None) -> xr.Dataset:
    """Retention measurements (dim ``measurement``: ``barrier_ev`` in eV, ``retention_time_s``
    in s).

    Defaults to the synthetic data shipped with limprob (truth in its ``truth_*`` attributes).
    """
    source = files("limprob") / "datasets" / CHARACTERISATION_FILE if path is None else path
    try:
        # the shipped file is a pathlib.Path (a Traversable only to the type checker)
        with xr.open_dataset(source, engine="netcdf4") as dataset:  # type: ignore[arg-type]
            data = dataset.load()
    except (OSError, ValueError) as error:
        raise LimprobError(f"cannot read characterisation data {source}: {error}") from None
    for name in ("barrier_ev", "retention_time_s"):
        if name not in data or data[name].dims != ("measurement",):
            raise LimprobError(f"characterisation data needs {name} with dim 'measurement'")
        limits.validate_positive(name, data[name].values)
    return data


def build_model(
    scenarios: xr.Dataset,
    characterisation: xr.Dataset | None = None,
    priors: DevicePriors = DevicePriors(),
) -> pm.Model:
    """The PyMC model: device priors, retention likelihood, bounds as deterministics."""
    data = load_characterisation() if characterisation is None else characterisation
    coords = {"scenario": scenarios["scenario"].values, "measurement": data["measurement"].values}
    with pm.Model(coords=coords) as model:
        barrier_j = pm.Data(
            "barrier_j", data["barrier_ev"].values * limits.ELEMENTARY_CHARGE_C, dims="measurement"
        )
        n_params = pm.Data("n_params", scenarios["n_params"].values, dims="scenario")
        flops = pm.Data("flops", scenarios["flops"].values, dims="scenario")
        ops = pm.Data("ops", scenarios["ops"].values, dims="scenario")
        bits = pm.Data("bits", scenarios["bits"].values, dims="scenario")
        time_ratio = pm.Data("time_ratio", scenarios["time_ratio"].values, dims="scenario")

        T = pm.LogNormal(
            "temperature_k", mu=math.log(priors.temperature_k), sigma=priors.temperature_log_sd
        )
        log_tau0 = pm.Normal(
            "log_attempt_time", mu=math.log(priors.attempt_time_s), sigma=priors.attempt_time_log_sd
        )
        tau0 = pm.Deterministic("attempt_time_s", pt.exp(log_tau0))
        noise_sd = pm.HalfNormal("noise_sd", sigma=priors.noise_sd_scale)
        pm.Normal(
            "ln_retention_time",
            mu=log_tau0 + barrier_j / limits.thermal_energy_joules(T),
            sigma=noise_sd,
            observed=np.log(data["retention_time_s"].values),
            dims="measurement",
        )

        scale = pm.LogNormal("relaxation_scale", mu=0.0, sigma=priors.relaxation_log_sd)
        eps = pm.LogNormal(
            "flip_tolerance", mu=math.log(priors.flip_tolerance), sigma=priors.flip_tolerance_log_sd
        )
        e_flop = pm.LogNormal(
            "accelerator_j_per_flop",
            mu=math.log(priors.joules_per_flop),
            sigma=priors.joules_per_flop_log_sd,
        )

        ratio = time_ratio * scale
        memory = (priors.retention_s, tau0, eps)
        cp = priors.protocol_constant
        pm.Deterministic("retention_barrier_kt", limits.retention_barrier_kt(*memory))
        landauer = pm.Deterministic(
            "landauer_joules", limits.landauer_joules(ops, bits, T), dims="scenario"
        )
        pm.Deterministic(
            "lim_update_joules", limits.lim_update_joules(ops, bits, T, ratio, cp), dims="scenario"
        )
        pm.Deterministic(
            "lim_consolidation_joules",
            limits.lim_consolidation_joules(n_params, T, *memory),
            dims="scenario",
        )
        lim = pm.Deterministic(
            "lim_joules",
            limits.lim_joules(ops, n_params, bits, T, ratio, *memory, cp),
            dims="scenario",
        )
        pm.Deterministic(
            "static_joules", limits.static_joules(ops, bits, T, ratio, *memory, cp), dims="scenario"
        )
        acc = pm.Deterministic(
            "accelerator_joules", limits.accelerator_joules(flops, e_flop), dims="scenario"
        )
        pm.Deterministic("lim_over_landauer", lim / landauer, dims="scenario")
        pm.Deterministic("accelerator_over_lim", acc / lim, dims="scenario")
    return model


def sample_posterior(
    model: pm.Model, seed: int = 0, draws: int = 1000, tune: int = 500, chains: int = 2
) -> xr.DataTree:
    """NUTS posterior of ``model`` as a DataTree; the same seed gives the same draws, bit for bit.

    A dense mass matrix absorbs the strong correlation of T and ln tau_0 (the data fix the
    Arrhenius slope better than its intercept); one core, so it runs beside other work.
    """
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "QuadPotentialFullAdapt is an experimental feature")
        return pm.sample(
            draws=draws,
            tune=tune,
            chains=chains,
            cores=1,
            random_seed=seed,
            init="jitter+adapt_full",
            progressbar=False,
            compute_convergence_checks=False,
        )


@functools.lru_cache(maxsize=8)
def _default_device_posterior(seed: int, draws: int, tune: int, chains: int) -> xr.DataTree:
    def sample() -> xr.DataTree:
        scenarios = scenario_dataset(limits.BRAIN_SCALE_PARAMS, tokens=limits.BRAIN_SCALE_TOKENS)
        return sample_posterior(
            build_model(scenarios), seed=seed, draws=draws, tune=tune, chains=chains
        )

    return cached_trace(
        DEVICE_POSTERIOR_CACHE, device_posterior_inputs(seed, draws, tune, chains), sample
    )


def device_posterior(
    seed: int = 0,
    draws: int = DEVICE_POSTERIOR_SETTINGS["draws"],
    tune: int = DEVICE_POSTERIOR_SETTINGS["tune"],
    chains: int = DEVICE_POSTERIOR_SETTINGS["chains"],
) -> xr.DataTree:
    """Posterior DataTree of the default model (shipped data, default priors), cached per
    process and on disk (:func:`limprob.io.cached_trace`: ``$LIMPROB_CACHE_DIR``, default
    ``~/.cache/limprob``), keyed by :func:`device_posterior_inputs`."""
    return _default_device_posterior(int(seed), int(draws), int(tune), int(chains))


def scenario_energies(
    scenarios: xr.Dataset,
    seed: int = 0,
    posterior: xr.DataTree | None = None,
    characterisation: xr.Dataset | None = None,
    priors: DevicePriors = DevicePriors(),
) -> xr.Dataset:
    """Posterior draws of every bound for ``scenarios`` (Dataset with dims chain, draw, scenario)
    and of the device parameters.

    The device posterior does not depend on the scenarios, so it is sampled once (``posterior``
    or the cached default for ``seed``) and the bounds are evaluated on its draws for new
    scenarios (:func:`limprob.models.energy_draws.bound_draws`, the same functions of
    :mod:`limprob.energy_limits` as the model's deterministics).
    """
    if posterior is None:
        if characterisation is not None or priors != DevicePriors():
            raise LimprobError("pass the posterior sampled with custom data or priors")
        posterior = device_posterior(seed)
    return energies_on_draws(scenarios, posterior["posterior"].to_dataset(), seed, priors)
