"""PyMC model of the LIM energy bounds with posterior uncertainty over device parameters.

Device parameters are random variables; the memory's temperature and attempt time are conditioned
on characterisation data (retention times measured at several barrier heights),

    ln tau_ret,i ~ Normal(ln tau_0 + E_B,i / (k_B T), sigma),

and every bound of :mod:`limprob.energy.limits` is a ``pm.Deterministic`` with dim ``scenario`` (one
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
from dataclasses import asdict, dataclass
from importlib.resources import files

import arviz_stats as azs
import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from limprob.energy import limits
from limprob.errors import LimprobError

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


def load_characterisation(path=None):
    """Retention measurements (dim ``measurement``: ``barrier_ev`` in eV, ``retention_time_s`` in s).

    Defaults to the synthetic data shipped with limprob (truth in its ``truth_*`` attributes).
    """
    source = files("limprob") / "datasets" / CHARACTERISATION_FILE if path is None else path
    try:
        with xr.open_dataset(source, engine="netcdf4") as dataset:
            data = dataset.load()
    except (OSError, ValueError) as error:
        raise LimprobError(f"cannot read characterisation data {source}: {error}") from None
    for name in ("barrier_ev", "retention_time_s"):
        if name not in data or data[name].dims != ("measurement",):
            raise LimprobError(f"characterisation data needs {name} with dim 'measurement'")
        limits.validate_positive(name, data[name].values)
    return data


def scenario_dataset(n_params, tokens=None, flops=None, bits=limits.DEFAULT_BITS,
                     time_ratio=limits.DEFAULT_TIME_RATIO, names=None):
    """Training scenarios as a Dataset with dim ``scenario`` (validated; scalars broadcast).

    Give ``tokens`` (C = 6 N D) or ``flops`` per scenario; ``flops`` wins where both are given.
    Variables: ``n_params``, ``tokens`` (NaN when unknown), ``flops``, ``ops``, ``bits``,
    ``time_ratio`` (nominal tau_r / tau_u).
    """
    n = limits.validate_positive("params", np.atleast_1d(np.asarray(n_params, dtype=float)))
    shape = n.shape

    def per_scenario(name, value):
        return np.broadcast_to(limits.validate_positive(name, value), shape).astype(float)

    if flops is None and tokens is None:
        raise LimprobError("give tokens or flops")
    token_values = np.full(shape, np.nan) if tokens is None else per_scenario("tokens", tokens)
    with np.errstate(over="ignore"):  # an overflow is refused just below
        flop_values = (limits.training_flops(n, token_values) if flops is None
                       else per_scenario("flops", flops))
    if not np.all(np.isfinite(flop_values)):
        raise LimprobError("the training FLOPs C = 6 N D overflow a float (above 1.8e308): "
                           "params x tokens is too large")
    if names is None:
        names = [f"N={value:.3g}" for value in n]
    if len(names) != n.size or len(set(names)) != n.size:
        raise LimprobError("scenario names must be unique, one per scenario")
    return xr.Dataset(
        {
            "n_params": ("scenario", n, {"units": "1"}),
            "tokens": ("scenario", token_values, {"units": "1"}),
            "flops": ("scenario", flop_values, {"units": "FLOP"}),
            "ops": ("scenario", limits.update_operations(flop_values), {"units": "1"}),
            "bits": ("scenario", per_scenario("bits", bits), {"units": "bit"}),
            "time_ratio": ("scenario", per_scenario("time_ratio", time_ratio), {"units": "1"}),
        },
        coords={"scenario": list(names)},
    )


def build_model(scenarios, characterisation=None, priors=DevicePriors()):
    """The PyMC model: device priors, retention likelihood, bounds as deterministics."""
    data = load_characterisation() if characterisation is None else characterisation
    coords = {"scenario": scenarios["scenario"].values, "measurement": data["measurement"].values}
    with pm.Model(coords=coords) as model:
        barrier_j = pm.Data("barrier_j", data["barrier_ev"].values * limits.ELEMENTARY_CHARGE_C,
                            dims="measurement")
        n_params = pm.Data("n_params", scenarios["n_params"].values, dims="scenario")
        flops = pm.Data("flops", scenarios["flops"].values, dims="scenario")
        ops = pm.Data("ops", scenarios["ops"].values, dims="scenario")
        bits = pm.Data("bits", scenarios["bits"].values, dims="scenario")
        time_ratio = pm.Data("time_ratio", scenarios["time_ratio"].values, dims="scenario")

        T = pm.LogNormal("temperature_k", mu=math.log(priors.temperature_k),
                         sigma=priors.temperature_log_sd)
        log_tau0 = pm.Normal("log_attempt_time", mu=math.log(priors.attempt_time_s),
                             sigma=priors.attempt_time_log_sd)
        tau0 = pm.Deterministic("attempt_time_s", pt.exp(log_tau0))
        noise_sd = pm.HalfNormal("noise_sd", sigma=priors.noise_sd_scale)
        pm.Normal("ln_retention_time", mu=log_tau0 + barrier_j / limits.thermal_energy_joules(T),
                  sigma=noise_sd, observed=np.log(data["retention_time_s"].values),
                  dims="measurement")

        scale = pm.LogNormal("relaxation_scale", mu=0.0, sigma=priors.relaxation_log_sd)
        eps = pm.LogNormal("flip_tolerance", mu=math.log(priors.flip_tolerance),
                           sigma=priors.flip_tolerance_log_sd)
        e_flop = pm.LogNormal("accelerator_j_per_flop", mu=math.log(priors.joules_per_flop),
                              sigma=priors.joules_per_flop_log_sd)

        ratio = time_ratio * scale
        memory = (priors.retention_s, tau0, eps)
        cp = priors.protocol_constant
        pm.Deterministic("retention_barrier_kt", limits.retention_barrier_kt(*memory))
        landauer = pm.Deterministic("landauer_joules", limits.landauer_joules(ops, bits, T),
                                    dims="scenario")
        pm.Deterministic("lim_update_joules", limits.lim_update_joules(ops, bits, T, ratio, cp),
                         dims="scenario")
        pm.Deterministic("lim_consolidation_joules",
                         limits.lim_consolidation_joules(n_params, T, *memory), dims="scenario")
        lim = pm.Deterministic("lim_joules",
                               limits.lim_joules(ops, n_params, bits, T, ratio, *memory, cp),
                               dims="scenario")
        pm.Deterministic("static_joules", limits.static_joules(ops, bits, T, ratio, *memory, cp),
                         dims="scenario")
        acc = pm.Deterministic("accelerator_joules", limits.accelerator_joules(flops, e_flop),
                               dims="scenario")
        pm.Deterministic("lim_over_landauer", lim / landauer, dims="scenario")
        pm.Deterministic("accelerator_over_lim", acc / lim, dims="scenario")
    return model


def sample_posterior(model, seed=0, draws=1000, tune=500, chains=2):
    """NUTS posterior of ``model`` as a DataTree; the same seed gives the same draws, bit for bit.

    A dense mass matrix absorbs the strong correlation of T and ln tau_0 (the data fix the
    Arrhenius slope better than its intercept); one core, so it runs beside other work.
    """
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", "QuadPotentialFullAdapt is an experimental feature")
        return pm.sample(draws=draws, tune=tune, chains=chains, cores=1, random_seed=seed,
                         init="jitter+adapt_full", progressbar=False,
                         compute_convergence_checks=False)


@functools.lru_cache(maxsize=8)
def _default_device_posterior(seed, draws, tune, chains):
    scenarios = scenario_dataset(limits.BRAIN_SCALE_PARAMS, tokens=limits.BRAIN_SCALE_TOKENS)
    return sample_posterior(build_model(scenarios), seed=seed, draws=draws, tune=tune,
                            chains=chains)


def device_posterior(seed=0, draws=1000, tune=500, chains=2):
    """Posterior DataTree of the default model (shipped data, default priors), cached per process."""
    return _default_device_posterior(int(seed), int(draws), int(tune), int(chains))


def scenario_energies(scenarios, seed=0, posterior=None, characterisation=None,
                      priors=DevicePriors()):
    """Posterior draws of every bound for ``scenarios`` (Dataset with dims chain, draw, scenario).

    The device posterior does not depend on the scenarios, so it is sampled once (``posterior``
    or the cached default for ``seed``) and the deterministics are re-evaluated for new scenarios.
    """
    if posterior is None:
        if characterisation is not None or priors != DevicePriors():
            raise LimprobError("pass the posterior sampled with custom data or priors")
        posterior = device_posterior(seed)
    model = build_model(scenarios, characterisation, priors)
    draws = pm.compute_deterministics(posterior["posterior"].to_dataset(), model=model,
                                      var_names=list(ENERGY_VARS), progressbar=False)
    draws = xr.merge([draws, posterior["posterior"].to_dataset()[list(DEVICE_VARS)]])
    draws.attrs.update({"seed": int(seed), **{f"prior_{k}": v for k, v in asdict(priors).items()}})
    return draws.assign_coords(scenario=scenarios["scenario"].values)


def summarise(draws, prob=0.94):
    """Median and equal-tailed ``prob`` interval over (chain, draw): dim ``statistic`` = median, low, high."""
    median = draws.median(dim=("chain", "draw"))
    interval = azs.eti(draws, prob=prob, dim=["chain", "draw"])
    low = interval.sel(ci_bound="lower", drop=True)
    high = interval.sel(ci_bound="upper", drop=True)
    summary = xr.concat([median, low, high], dim="statistic", coords="minimal", compat="override")
    summary = summary.assign_coords(statistic=["median", "low", "high"]).transpose(..., "statistic")
    for name in summary.data_vars:
        if str(name).endswith("_joules"):
            summary[name].attrs["units"] = "J"
    summary.attrs.update({"interval": "equal-tailed", "prob": prob, **draws.attrs})
    return summary
