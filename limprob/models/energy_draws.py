"""The LIM energy model's bounds evaluated on posterior draws of the device parameters, with
numpy and without PyMC, so that a report from a cached device posterior starts in a second.

Every bound of :mod:`limprob.energy_limits` is plain arithmetic on the device parameters and
the scenario, the same functions :mod:`limprob.models.lim_energy` builds its
``pm.Deterministic`` from; here they take xarray draws (chain, draw) and scenarios
(scenario) and broadcast to (chain, draw, scenario):

    ratio = time_ratio * relaxation_scale                  tau_r / tau_u of the device
    OPS = ops_per_flop x C                                 update operations (count)
    E_landauer = OPS b kT ln 2                             J
    E_lim = OPS kT (b ln 2 + c_p ratio) + N kT ln(tau_ret / (tau_0 eps))   J
    E_static = OPS b kT ln(tau_ret / (tau_0 eps)) + OPS c_p kT ratio       J
    E_acc = C e_flop                                       J

The default device posterior (shipped characterisation data, default priors) is sampled by
:mod:`limprob.models.lim_energy` once per seed and kept on disk
(:func:`limprob.io.cached_trace`, keyed by :func:`device_posterior_inputs`);
:func:`cached_device_draws` reads it back without importing PyMC.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib.metadata import version
from importlib.resources import files
from pathlib import Path

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike

from limprob import energy_limits as limits
from limprob.errors import LimprobError
from limprob.io import read_cached_trace

CHARACTERISATION_FILE = "device_characterisation.nc"
ENERGY_VARS = (
    "landauer_joules",
    "lim_update_joules",
    "lim_consolidation_joules",
    "lim_joules",
    "static_joules",
    "accelerator_joules",
    "lim_over_landauer",
    "accelerator_over_lim",
)
DEVICE_VARS = (
    "temperature_k",
    "attempt_time_s",
    "noise_sd",
    "relaxation_scale",
    "flip_tolerance",
    "accelerator_j_per_flop",
)


@dataclass(frozen=True)
class DevicePriors:
    """Prior centres (natural units) and log-scale spreads of the device parameters."""

    temperature_k: float = limits.DEFAULT_TEMPERATURE_K
    temperature_log_sd: float = 0.1
    attempt_time_s: float = limits.DEFAULT_ATTEMPT_TIME_S
    attempt_time_log_sd: float = math.log(10.0)
    noise_sd_scale: float = 1.0
    relaxation_log_sd: float = 0.3
    flip_tolerance: float = limits.DEFAULT_FLIP_TOLERANCE
    flip_tolerance_log_sd: float = math.log(10.0) / 2
    joules_per_flop: float = limits.DEFAULT_ACCELERATOR_J_PER_FLOP
    joules_per_flop_log_sd: float = 0.3
    retention_s: float = limits.DEFAULT_RETENTION_S
    protocol_constant: float = limits.DEFAULT_PROTOCOL_CONSTANT


def scenario_dataset(
    n_params: ArrayLike,
    tokens: ArrayLike | None = None,
    flops: ArrayLike | None = None,
    bits: ArrayLike = limits.DEFAULT_BITS,
    time_ratio: ArrayLike = limits.DEFAULT_TIME_RATIO,
    names: Sequence[str] | None = None,
    ops_per_flop: ArrayLike = limits.DEFAULT_OPS_PER_FLOP,
) -> xr.Dataset:
    """Training scenarios as a Dataset with dim ``scenario`` (validated; scalars broadcast).

    Give ``tokens`` (C = 6 N D) or ``flops`` per scenario; ``flops`` wins where both are given.
    The update operations are OPS = ``ops_per_flop`` x C. Variables: ``n_params``, ``tokens``
    (NaN when unknown), ``flops``, ``ops``, ``ops_per_flop``, ``bits``, ``time_ratio`` (nominal
    tau_r / tau_u).
    """
    n = limits.validate_positive("params", np.atleast_1d(np.asarray(n_params, dtype=float)))
    shape = n.shape

    def per_scenario(name: str, value: ArrayLike) -> np.ndarray:
        return np.broadcast_to(limits.validate_positive(name, value), shape).astype(float)

    if flops is None and tokens is None:
        raise LimprobError("give tokens or flops")
    token_values = np.full(shape, np.nan) if tokens is None else per_scenario("tokens", tokens)
    with np.errstate(over="ignore"):  # an overflow is refused just below
        flop_values = (
            limits.training_flops(n, token_values)
            if flops is None
            else per_scenario("flops", flops)
        )
    if not np.all(np.isfinite(flop_values)):
        raise LimprobError(
            "the training FLOPs C = 6 N D overflow a float (above 1.8e308): "
            "params x tokens is too large"
        )
    if names is None:
        names = [f"N={value:.3g}" for value in n]
    if len(names) != n.size or len(set(names)) != n.size:
        raise LimprobError("scenario names must be unique, one per scenario")
    ratio = per_scenario("ops_per_flop", ops_per_flop)
    with np.errstate(over="ignore"):  # an overflow is refused just below
        ops = limits.update_operations(flop_values, ratio)
    if not np.all(np.isfinite(ops)):
        raise LimprobError(
            "the update operations OPS = ops_per_flop x C overflow a float "
            "(above 1.8e308): lower ops_per_flop"
        )
    return xr.Dataset(
        {
            "n_params": ("scenario", n, {"units": "1"}),
            "tokens": ("scenario", token_values, {"units": "1"}),
            "flops": ("scenario", flop_values, {"units": "FLOP"}),
            "ops": ("scenario", ops, {"units": "1"}),
            "ops_per_flop": ("scenario", ratio, {"units": "1 per FLOP"}),
            "bits": ("scenario", per_scenario("bits", bits), {"units": "bit"}),
            "time_ratio": ("scenario", per_scenario("time_ratio", time_ratio), {"units": "1"}),
        },
        coords={"scenario": list(names)},
    )


def bound_draws(
    device: xr.Dataset, scenarios: xr.Dataset, priors: DevicePriors = DevicePriors()
) -> xr.Dataset:
    """Every variable of :data:`ENERGY_VARS` (chain, draw, scenario) from device draws
    ``device`` (the variables of :data:`DEVICE_VARS`, dims chain, draw) and ``scenarios``
    (:func:`scenario_dataset`); the fixed retention time and protocol constant from
    ``priors``. Energies in J, ratios dimensionless."""
    T, tau0, eps = device["temperature_k"], device["attempt_time_s"], device["flip_tolerance"]
    ops, n_params, bits = scenarios["ops"], scenarios["n_params"], scenarios["bits"]
    ratio = scenarios["time_ratio"] * device["relaxation_scale"]
    memory = (priors.retention_s, tau0, eps)
    cp = priors.protocol_constant
    landauer = limits.landauer_joules(ops, bits, T)
    lim = limits.lim_joules(ops, n_params, bits, T, ratio, *memory, cp)
    accelerator = limits.accelerator_joules(scenarios["flops"], device["accelerator_j_per_flop"])
    bounds = {
        "landauer_joules": landauer,
        "lim_update_joules": limits.lim_update_joules(ops, bits, T, ratio, cp),
        "lim_consolidation_joules": limits.lim_consolidation_joules(n_params, T, *memory),
        "lim_joules": lim,
        "static_joules": limits.static_joules(ops, bits, T, ratio, *memory, cp),
        "accelerator_joules": accelerator,
        "lim_over_landauer": lim / landauer,
        "accelerator_over_lim": accelerator / lim,
    }
    return xr.Dataset(
        {
            name: value.drop_attrs().transpose("chain", "draw", "scenario")
            for name, value in bounds.items()
        }
    )


def device_posterior_inputs(seed: int, draws: int, tune: int, chains: int) -> dict:
    """Everything the default device posterior depends on, its cache key: the sampler
    settings, the priors, SHA-256 hashes of the characterisation data and of the model's
    source (:mod:`limprob.models.lim_energy`), and the versions of the libraries that sample
    it (read from the installed metadata, without importing them)."""
    data = (files("limprob") / "datasets" / CHARACTERISATION_FILE).read_bytes()
    source = Path(__file__).with_name("lim_energy.py").read_bytes()
    return {
        "seed": seed,
        "draws": draws,
        "tune": tune,
        "chains": chains,
        "priors": asdict(DevicePriors()),
        "characterisation_sha256": hashlib.sha256(data).hexdigest(),
        "model_source_sha256": hashlib.sha256(source).hexdigest(),
        "versions": {name: version(name) for name in ("pymc", "pytensor", "numpy")},
    }


DEVICE_POSTERIOR_CACHE = "device_posterior"
"""Name of the default device posterior's entries in the cache folder."""
DEVICE_POSTERIOR_SETTINGS = {"draws": 1000, "tune": 500, "chains": 2}
"""NUTS settings of the default device posterior (per chain; chains)."""


def cached_device_draws(seed: int = 0) -> xr.Dataset | None:
    """The default device posterior's draws of :data:`DEVICE_VARS` (chain, draw) for ``seed``
    from the cache, or None when it has not been sampled (or its entry is unreadable):
    :func:`limprob.models.lim_energy.device_posterior` samples and caches it."""
    inputs = device_posterior_inputs(int(seed), **DEVICE_POSTERIOR_SETTINGS)
    tree = read_cached_trace(DEVICE_POSTERIOR_CACHE, inputs)
    return None if tree is None else tree["posterior"].to_dataset()[list(DEVICE_VARS)]


def energies_on_draws(
    scenarios: xr.Dataset, device: xr.Dataset, seed: int = 0, priors: DevicePriors = DevicePriors()
) -> xr.Dataset:
    """Posterior draws of every bound for ``scenarios`` (:func:`bound_draws`) beside the
    device draws ``device`` they come from (dims chain, draw, scenario), with the device
    posterior's seed and priors as attributes."""
    draws = xr.merge([bound_draws(device, scenarios, priors), device[list(DEVICE_VARS)]])
    draws.attrs.update({"seed": int(seed), **{f"prior_{k}": v for k, v in asdict(priors).items()}})
    return draws.assign_coords(scenario=scenarios["scenario"].values)


def summarise(draws: xr.Dataset, prob: float = 0.94) -> xr.Dataset:
    """Median and equal-tailed ``prob`` interval over (chain, draw): dim ``statistic`` = median,
    low, high. The interval's ends are the (1 - prob) / 2 and (1 + prob) / 2 quantiles (numpy's
    linear interpolation, as ``arviz_stats.eti``)."""
    edge = (1 - prob) / 2
    median = draws.median(dim=("chain", "draw"))
    ends = draws.quantile([edge, 1 - edge], dim=("chain", "draw"), method="linear")
    low = ends.isel(quantile=0, drop=True)
    high = ends.isel(quantile=1, drop=True)
    summary = xr.concat([median, low, high], dim="statistic", coords="minimal", compat="override")
    summary = summary.assign_coords(statistic=["median", "low", "high"]).transpose(..., "statistic")
    for name in summary.data_vars:
        if str(name).endswith("_joules"):
            summary[name].attrs["units"] = "J"
    summary.attrs.update({"interval": "equal-tailed", "prob": prob, **draws.attrs})
    return summary
