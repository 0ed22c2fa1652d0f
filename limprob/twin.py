"""Digital-twin inference: sample theta and the weights, deploy the weights to the chip.

:func:`fit_twin` samples :func:`limprob.models.chip_twin.build_twin_model` with blocked
Metropolis-Hastings, one :class:`~limprob.step_methods.BlockedMetropolis` block per scalar of
theta (their posterior widths differ by orders of magnitude, so each block tunes its own
scale), one for each vector of latent mismatch, one for the count noise and one for all the
weights. The pointwise log-likelihoods are computed after sampling from the draws (the twin is
a simulator, so that costs no chip query).
:func:`fit_twin_smc` samples the same model with PyMC's SMC and keeps its log marginal
likelihood. :func:`fit_population` samples the chip population twin
(:mod:`limprob.models.chip_population`: six global parameters, each chip's own mismatch
integrated out) with one adaptive-covariance block; its trace is described there. The first
two return a limprob trace (an ArviZ DataTree):

- ``posterior``: theta, ``count_sigma`` and (with labels) ``W_in``, ``W_out``;
- ``log_likelihood``: ``probe_counts (chain, draw, probe, probe_obs, output)`` and
  ``y (chain, draw, obs)``, separately, so LOO can be computed for either;
- ``observed_data`` / ``constant_data``: probe counts and labels, probe weights and inputs;
- ``predictions`` (with labels and a chip to deploy to): test-set class probabilities on the
  chip for the twin's posterior-mean weights; ``attrs``: families, chip identity, probe chip
  queries, deployed accuracy, sampler settings and package versions.

The sampler never queries the chip: its only chip queries are the probes (recorded
beforehand) and the deployment.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pymc as pm
import xarray as xr
from pymc.step_methods import CompoundStep

from limprob.chip import Chip
from limprob.data import Split
from limprob.distortion import check_families
from limprob.errors import LimprobError
from limprob.inference import (accuracy, best_chain, evaluate_weights, package_versions,
                               prior_draws)
from limprob.models.chip_twin import (DEFAULT_KAPPA, DEFAULT_SIGMA_W, build_twin_model,
                                      identity_point, theta_names)
from limprob.models.chip_population import (DEFAULT_CHIPS, DEFAULT_GROUPS,
                                            build_population_model, observed_summaries)
from limprob.population import GLOBALS, summary_names
from limprob.snn import Network
from limprob.step_methods import BlockedMetropolis, take_recorded_stats


def check_sampler_settings(config, positive: tuple[str, ...]):
    """Raise :class:`LimprobError` unless the named fields are positive integers and ``tune``
    a non-negative one."""
    for name in positive:
        if int(getattr(config, name)) != getattr(config, name) or getattr(config, name) < 1:
            raise LimprobError(f"{name} must be a positive integer")
    if int(config.tune) != config.tune or config.tune < 0:
        raise LimprobError("tune must be a non-negative integer")


@dataclass(frozen=True)
class TwinConfig:
    """Everything that defines a twin run besides the data."""

    families: tuple[str, ...] = ("saturation", "gain", "leak", "threshold_mismatch")
    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    seed: int = 0
    sigma_w: float = DEFAULT_SIGMA_W
    kappa: float = DEFAULT_KAPPA

    def __post_init__(self):
        object.__setattr__(self, "families", check_families(self.families))
        check_sampler_settings(self, ("draws", "chains"))


def make_twin_step(model: pm.Model):
    """Blocked MH: one block per theta scalar, per latent mismatch vector, for the count noise,
    and one for all the weights."""
    names = [rv.name for rv in model.free_RVs]
    weights = [n for n in ("W_in", "W_out") if n in names]
    others = [n for n in names if n not in weights]
    groups = [[n] for n in others if n not in ("gain_z_in", "gain_z_out")]
    if "gain_z_in" in names:
        groups.append(["gain_z_in", "gain_z_out"])
    if weights:
        groups.append(weights)
    with model:
        methods = [BlockedMetropolis([model[n] for n in group], record_log_likelihood=False)
                   for group in groups]
    return CompoundStep(methods)


def _initvals(model: pm.Model, chains: int, seed: int) -> list[dict]:
    """Weights from the prior (so neurons fire); theta at the identity distortion."""
    start = prior_draws(model, chains, seed)
    identity = identity_point(model)
    for point in start:
        point.update(identity)
        point["count_sigma"] = np.array(1.0)
        for name in ("threshold_z", "gain_z_in", "gain_z_out"):
            if name in point:
                point[name] = np.zeros_like(point[name])
    return start


def _log_likelihood(tree: xr.DataTree, model: pm.Model) -> xr.Dataset:
    """Pointwise log-likelihood of every observed variable at every draw, with the model's
    dims. The twin is a simulator, not the chip, so this costs no chip query."""
    with model:
        group = pm.compute_log_likelihood(tree, extend_inferencedata=False, progressbar=False)
    return group.to_dataset() if isinstance(group, xr.DataTree) else group


def _data_groups(probes: xr.Dataset, train: xr.Dataset | None):
    observed = {"probe_counts": (("probe", "probe_obs", "output"), probes["counts"].values)}
    constant = {"probe_x": (("probe_obs", "input"), probes["x"].values),
                "probe_W_in": (("probe", "input", "hidden"), probes["W_in"].values),
                "probe_W_out": (("probe", "hidden", "output"), probes["W_out"].values)}
    coords = {"probe": probes["probe"].values, "probe_obs": probes["obs"].values,
              "output": probes["output"].values, "input": probes["input"].values,
              "hidden": probes["hidden"].values}
    if train is not None:
        observed["y"] = ("obs", train["labels"].values)
        constant["x"] = (("obs", "feature"), train["features"].values)
        coords |= {"obs": train["obs"].values, "feature": train["feature"].values}
    used = lambda variables: {d for v in variables.values() for d in v[0]}
    return (xr.Dataset(observed, coords={k: v for k, v in coords.items() if k in used(observed)}),
            xr.Dataset(constant, coords={k: v for k, v in coords.items() if k in used(constant)}))


def twin_weights(tree: xr.DataTree) -> tuple[np.ndarray, np.ndarray]:
    """The twin's posterior-mean weights, within the chain that fits the labels best."""
    posterior = tree["posterior"].to_dataset()
    if "W_in" not in posterior:
        raise LimprobError("this twin trace has no weights (it was fitted to probes only)")
    chain = posterior.isel(chain=best_chain(tree["log_likelihood"].to_dataset()[["y"]]))
    return chain["W_in"].mean("draw").values, chain["W_out"].mean("draw").values


def deploy(tree: xr.DataTree, chip: Chip, test: xr.Dataset, kappa: float) -> xr.DataTree:
    """Run the twin's posterior-mean weights on ``chip`` (one query); store the test-set class
    probabilities as ``predictions`` and the accuracy in the attributes."""
    w_in, w_out = twin_weights(tree)
    before = chip.queries
    probability = evaluate_weights(chip, w_in, w_out, test, kappa)
    tree["predictions"] = xr.Dataset(
        {"probability_posterior_mean": (("obs", "class"), probability)},
        coords={"obs": test["obs"].values, "class": test["class"].values})
    tree["predictions_constant_data"] = xr.Dataset(
        {"x": (("obs", "feature"), test["features"].values), "y": ("obs", test["labels"].values)},
        coords={"obs": test["obs"].values, "feature": test["feature"].values})
    tree.attrs.update({"deployment_chip_queries": chip.queries - before,
                       "test_accuracy_posterior_mean": accuracy(probability,
                                                                test["labels"].values)})
    return tree


def _probe_attrs(probes: xr.Dataset) -> dict:
    """What a twin trace says of its probes: the chip's identity, the probe settings, and the
    chip queries they cost (the twin's only training queries)."""
    return {**{k: v for k, v in probes.attrs.items()
               if k.startswith(("chip", "probe_", "network_"))},
            "n_probes": probes.sizes["probe"], "n_probe_obs": probes.sizes["obs"],
            "training_chip_queries": int(probes.attrs.get("probe_chip_queries",
                                                          probes.sizes["probe"]))}


def _attrs(model, config: TwinConfig, network: Network, probes: xr.Dataset, data, method,
           wall_seconds) -> dict:
    return {
        "limprob_trace": 1, "model": "chip_twin", "method": method,
        "families": ",".join(config.families) or "none",
        "n_families": len(config.families),
        **{k: v for k, v in asdict(config).items() if k != "families"},
        **network.as_attrs(), **_probe_attrs(probes),
        "n_train": 0 if data is None else data.train.sizes["obs"],
        "theta_names": ",".join(theta_names(model)),
        "wall_seconds": wall_seconds, **package_versions(),
    }


def fit_twin(network: Network, probes: xr.Dataset, data: Split | None, config: TwinConfig,
             deploy_to: Chip | None = None, *, progressbar: bool = False) -> xr.DataTree:
    """Sample the twin by blocked MH; with ``data`` the labels enter too, and with a
    ``deploy_to`` chip the posterior-mean weights are measured on its test set."""
    train = None if data is None else data.train
    model = build_twin_model(network, probes, train, config.families, config.sigma_w,
                             config.kappa)
    compiling = time.perf_counter()
    step = make_twin_step(model)
    started = time.perf_counter()
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*CompoundStep.*")
        tree = pm.sample(draws=config.draws, tune=config.tune, chains=config.chains, cores=1,
                         step=step, initvals=_initvals(model, config.chains, config.seed),
                         random_seed=config.seed, progressbar=progressbar,
                         compute_convergence_checks=False)
    wall = time.perf_counter() - started
    tree["log_likelihood"] = _log_likelihood(tree, model)
    tree["observed_data"], tree["constant_data"] = _data_groups(probes, train)
    tree.attrs.update(_attrs(model, config, network, probes, data, "mh", wall))
    tree.attrs["compile_seconds"] = started - compiling
    if deploy_to is not None and data is not None:
        deploy(tree, deploy_to, data.test, config.kappa)
    return tree


def _final_log_marginal_likelihood(stats: xr.Dataset) -> np.ndarray:
    """Per chain, the SMC log marginal likelihood of the last stage (beta = 1)."""
    values = []
    for per_chain in np.atleast_1d(stats["log_marginal_likelihood"].values):
        stages = np.atleast_1d(np.asarray(per_chain, dtype=float))
        finite = stages[np.isfinite(stages)]
        values.append(finite[-1] if finite.size else np.nan)
    return np.asarray(values)


def fit_twin_smc(network: Network, probes: xr.Dataset, data: Split | None, config: TwinConfig,
                 deploy_to: Chip | None = None, *, progressbar: bool = False,
                 **kernel_kwargs) -> xr.DataTree:
    """Sample the twin with ``pm.sample_smc`` (IMH kernel; ``config.draws`` particles per chain,
    chains run one after another), keep each chain's log marginal likelihood in
    ``sample_stats`` and compute the pointwise log-likelihoods (no chip queries)."""
    train = None if data is None else data.train
    model = build_twin_model(network, probes, train, config.families, config.sigma_w,
                             config.kappa)
    started = time.perf_counter()
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        tree = pm.sample_smc(draws=config.draws, chains=config.chains, cores=1,
                             random_seed=config.seed, progressbar=progressbar,
                             compute_convergence_checks=False, **kernel_kwargs)
        wall = time.perf_counter() - started
    raw = tree["sample_stats"].to_dataset()
    lml = _final_log_marginal_likelihood(raw)
    stages = [len(np.atleast_1d(b)) for b in np.atleast_1d(raw["beta"].values)] \
        if "beta" in raw else [0] * config.chains
    tree["sample_stats"] = xr.Dataset(
        {"log_marginal_likelihood": ("chain", lml), "stages": ("chain", np.asarray(stages))},
        coords={"chain": tree["posterior"]["chain"].values})
    tree["log_likelihood"] = _log_likelihood(tree, model)
    tree["observed_data"], tree["constant_data"] = _data_groups(probes, train)
    tree.attrs.update(_attrs(model, config, network, probes, data, "smc", wall))
    tree.attrs["log_marginal_likelihood"] = float(np.nanmean(lml))
    if deploy_to is not None and data is not None:
        deploy(tree, deploy_to, data.test, config.kappa)
    return tree


@dataclass(frozen=True)
class PopulationConfig:
    """A chip-population fit (:mod:`limprob.population`): sampler settings, the number of
    simulated chips per synthetic-likelihood evaluation and of probe groups."""

    draws: int = 1500
    tune: int = 1500
    chains: int = 2
    seed: int = 0
    n_chips: int = DEFAULT_CHIPS
    n_groups: int = DEFAULT_GROUPS

    def __post_init__(self):
        check_sampler_settings(self, ("draws", "chains", "n_chips", "n_groups"))
        if self.n_chips < 4 * self.n_groups:
            raise LimprobError(f"n_chips must be at least {4 * self.n_groups} to estimate the "
                               f"covariance of {2 * self.n_groups} summaries")


POPULATION_PROPOSAL_SD = {"inverse_w_sat": 0.1, "log_gain": 0.05, "log_leak": 0.01,
                          "gain_spread": 0.1, "threshold_spread": 0.2, "leak_spread": 0.3}
"""First proposal steps in the sampler's (log-transformed for spreads and 1/w_sat) space;
the covariance learnt in tuning replaces them."""


def fit_population(network: Network, probes: xr.Dataset,
                   config: PopulationConfig = PopulationConfig(), *,
                   progressbar: bool = False) -> xr.DataTree:
    """Sample the population twin's six global parameters by blocked MH with an adaptive
    proposal covariance (one synthetic-likelihood evaluation, ``n_chips`` simulated chips, per
    proposal). The probes are the only chip queries.

    Returns a DataTree: ``posterior`` (the six globals), ``sample_stats`` (with
    ``synthetic_log_likelihood``), ``observed_data`` (the summaries and the probe counts),
    ``constant_data`` (probe weights and inputs) and attributes as :func:`fit_twin`'s.
    """
    model = build_population_model(network, probes, config.n_chips, config.n_groups,
                                   config.seed)
    with model:
        step = BlockedMetropolis(model.free_RVs, S=[POPULATION_PROPOSAL_SD[rv.name]
                                                    for rv in model.free_RVs],
                                 adapt_covariance=True)
    started = time.perf_counter()
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*CompoundStep.*")
        tree = pm.sample(draws=config.draws, tune=config.tune, chains=config.chains, cores=1,
                         step=step, initvals=prior_draws(model, config.chains, config.seed),
                         random_seed=config.seed, progressbar=progressbar,
                         compute_convergence_checks=False)
    wall = time.perf_counter() - started
    rest, recorded = take_recorded_stats(tree["sample_stats"].to_dataset(),
                                         ["synthetic_log_likelihood"])
    synthetic = np.asarray(recorded["synthetic_log_likelihood"].values, dtype=float).reshape(
        rest.sizes["chain"], rest.sizes["draw"])
    tree["sample_stats"] = rest.assign(synthetic_log_likelihood=(("chain", "draw"), synthetic))
    observed, constant = _data_groups(probes, None)
    tree["observed_data"] = observed.assign(
        summaries=("summary", observed_summaries(probes, config.n_groups))).assign_coords(
        summary=summary_names(config.n_groups))
    tree["constant_data"] = constant
    tree.attrs.update({
        "limprob_trace": 1, "model": "chip_population", "method": "mh",
        **asdict(config), **network.as_attrs(), **_probe_attrs(probes),
        "theta_names": ",".join(GLOBALS), "wall_seconds": wall, **package_versions(),
    })
    return tree
