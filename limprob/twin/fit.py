"""Per-chip digital-twin inference: sample the distortion parameters and the weights, deploy the
weights to the chip.

:func:`fit_twin` samples :func:`limprob.models.chip_twin.build_twin_model` with blocked
Metropolis-Hastings, one :class:`~limprob.inference.step_methods.BlockedMetropolis` block per
scalar distortion parameter (their posterior widths differ by orders of magnitude, so each
block tunes its own scale), one for each vector of latent mismatch, one for the count noise and
one for all the weights. The pointwise log-likelihoods are computed after sampling from the
draws (the twin is a simulator, so that costs no chip query).
:func:`fit_twin_smc` samples the same model with PyMC's SMC and keeps its log marginal
likelihood. Both return a limprob trace (an ArviZ DataTree):

- ``posterior``: the distortion parameters, ``count_sigma`` and (with labels) ``W_in``,
  ``W_out``;
- ``log_likelihood``: ``probe_counts (chain, draw, probe, probe_obs, output)`` and
  ``y (chain, draw, obs)``, separately, so LOO can be computed for either;
- ``observed_data`` / ``constant_data``: probe counts and labels, probe weights and inputs;
- ``point_estimates`` (with labels and a chip to deploy to): ``probability (point_estimate,
  obs, class)``, test-set class probabilities on the chip for the twin's posterior-mean
  weights; ``attrs``: families, chip identity, probe chip
  queries, deployed accuracy, sampler settings and package versions.

The sampler never queries the chip: its only chip queries are the probes (recorded
beforehand) and the deployment.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr
from pymc.step_methods.compound import CompoundStep

from limprob.chip.distortion import check_families
from limprob.chip.probes import probe_attrs
from limprob.chip.protocol import Chip
from limprob.data import Split
from limprob.errors import LimprobError
from limprob.inference.evaluation import accuracy, best_chain, evaluate_weights, point_dataset
from limprob.inference.sampling import (
    SamplerSettings,
    exact_arithmetic,
    name_block_dims,
    package_versions,
    prior_draws,
    sample,
)
from limprob.inference.step_methods import BlockedMetropolis, layer_blocks
from limprob.models.chip_twin import build_twin_model, distortion_names, identity_point
from limprob.models.defaults import DEFAULT_KAPPA, DEFAULT_SIGMA_W
from limprob.snn import Network
from limprob.trace import network_attrs, predictions_constant_data


@dataclass(frozen=True)
class TwinConfig(SamplerSettings):
    """Everything that defines a per-chip twin run besides the data: the distortion families,
    the weight prior and readout gain, and the sampler settings (keyword-only) of
    :class:`~limprob.inference.sampling.SamplerSettings`."""

    families: tuple[str, ...] = ("saturation", "gain", "leak", "threshold_mismatch")
    sigma_w: float = DEFAULT_SIGMA_W
    kappa: float = DEFAULT_KAPPA

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "families", check_families(self.families))


def make_twin_step(model: pm.Model) -> CompoundStep:
    """Blocked MH: one block per scalar distortion parameter, per latent mismatch vector, for
    the count noise, and one for all the weights; the blocks hand on their evaluations
    (:func:`~limprob.inference.step_methods.layer_blocks`), so none re-simulates the point the
    block before it moved to."""
    names = [rv.name for rv in model.free_RVs]
    weights = [n for n in ("W_in", "W_out") if n in names]
    others = [n for n in names if n not in weights]
    groups = [[n] for n in others if n not in ("gain_z_in", "gain_z_out")]
    if "gain_z_in" in names:
        groups.append(["gain_z_in", "gain_z_out"])
    if weights:
        groups.append(weights)
    return layer_blocks(
        model,
        BlockedMetropolis,
        record_log_likelihood=False,
        blocks={"+".join(group): group for group in groups},
    )


def _initvals(model: pm.Model, chains: int, seed: int) -> list[dict]:
    """Weights from the prior (so neurons fire); the distortion at the identity."""
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


def data_groups(probes: xr.Dataset, train: xr.Dataset | None) -> tuple[xr.Dataset, xr.Dataset]:
    """``observed_data`` and ``constant_data`` of a twin: the probes (their ``input`` and
    ``output`` neurons named ``feature`` and ``class``, as in every trace) and the labels."""
    observed: dict[str, tuple] = {
        "probe_counts": (("probe", "probe_obs", "class"), probes["counts"].values)
    }
    constant: dict[str, tuple] = {
        "probe_x": (("probe_obs", "feature"), probes["x"].values),
        "probe_W_in": (("probe", "feature", "hidden"), probes["W_in"].values),
        "probe_W_out": (("probe", "hidden", "class"), probes["W_out"].values),
    }
    coords = {
        "probe": probes["probe"].values,
        "probe_obs": probes["obs"].values,
        "class": probes["output"].values,
        "feature": probes["input"].values,
        "hidden": probes["hidden"].values,
    }
    if train is not None:
        observed["y"] = ("obs", train["labels"].values)
        constant["x"] = (("obs", "feature"), train["features"].values)
        coords |= {"obs": train["obs"].values, "feature": train["feature"].values}

    def used(variables: dict) -> set:
        return {d for v in variables.values() for d in v[0]}

    return (
        xr.Dataset(observed, coords={k: v for k, v in coords.items() if k in used(observed)}),
        xr.Dataset(constant, coords={k: v for k, v in coords.items() if k in used(constant)}),
    )


def twin_weights(tree: xr.DataTree) -> tuple[np.ndarray, np.ndarray]:
    """The twin's posterior-mean weights, within the chain that fits the labels best."""
    posterior = tree["posterior"].to_dataset()
    if "W_in" not in posterior:
        raise LimprobError("this twin trace has no weights (it was fitted to probes only)")
    chain = posterior.isel(chain=best_chain(tree["log_likelihood"].to_dataset()[["y"]]))
    return chain["W_in"].mean("draw").values, chain["W_out"].mean("draw").values


def deploy(tree: xr.DataTree, chip: Chip, test: xr.Dataset, kappa: float) -> xr.DataTree:
    """Run the twin's posterior-mean weights on ``chip`` (one query); store the test-set class
    probabilities as ``point_estimates`` and the accuracy in the attributes."""
    w_in, w_out = twin_weights(tree)
    before = chip.queries
    probability = evaluate_weights(chip, w_in, w_out, test, kappa)
    tree["point_estimates"] = point_dataset(probability[None], ["mean"], test)
    tree["predictions_constant_data"] = predictions_constant_data(test)
    tree.attrs.update(
        {
            "deployment_chip_queries": chip.queries - before,
            "test_accuracy_posterior_mean": accuracy(probability, test["labels"].values),
        }
    )
    return tree


def _attrs(
    model: pm.Model,
    config: TwinConfig,
    network: Network,
    probes: xr.Dataset,
    data: Split | None,
    method: str,
    wall_seconds: float,
) -> dict:
    return {
        "limprob_trace": 1,
        "model": "chip_twin",
        "method": method,
        "families": ",".join(config.families) or "none",
        "n_families": len(config.families),
        **{k: v for k, v in asdict(config).items() if k != "families"},
        **network_attrs(network),
        **probe_attrs(probes),
        "n_train": 0 if data is None else data.train.sizes["obs"],
        "distortion_parameters": ",".join(distortion_names(model)),
        "wall_seconds": wall_seconds,
        **package_versions(),
    }


@exact_arithmetic
def fit_twin(
    network: Network,
    probes: xr.Dataset,
    data: Split | None,
    config: TwinConfig,
    deploy_to: Chip | None = None,
    *,
    progressbar: bool = False,
) -> xr.DataTree:
    """Sample the twin by blocked MH; with ``data`` the labels enter too, and with a
    ``deploy_to`` chip the posterior-mean weights are measured on its test set."""
    train = None if data is None else data.train
    model = build_twin_model(network, probes, train, config.families, config.sigma_w, config.kappa)
    compiling = time.perf_counter()
    step = make_twin_step(model)
    started = time.perf_counter()
    tree, wall = sample(
        model, step, config, _initvals(model, config.chains, config.seed), progressbar=progressbar
    )
    tree["log_likelihood"] = _log_likelihood(tree, model)
    tree["sample_stats"] = name_block_dims(tree["sample_stats"].to_dataset(), step, model)
    tree["observed_data"], tree["constant_data"] = data_groups(probes, train)
    tree.attrs.update(_attrs(model, config, network, probes, data, "mh", wall))
    tree.attrs["compile_seconds"] = started - compiling
    if deploy_to is not None and data is not None:
        deploy(tree, deploy_to, data.test, config.kappa)
    return tree


def _stages_per_chain(stat: xr.DataArray, n_chains: int) -> list[np.ndarray]:
    """An SMC stat recorded once per tempering stage, as one float array per chain (with one
    chain PyMC labels the stages ``chain``)."""
    chains = (
        [stat.values] if n_chains == 1 else [stat.isel(chain=c).values for c in range(n_chains)]
    )
    return [
        np.concatenate(
            [np.atleast_1d(np.asarray(v, dtype=float)) for v in np.atleast_1d(per_chain)]
        )
        for per_chain in chains
    ]


def _final_log_marginal_likelihood(stats: xr.Dataset, n_chains: int) -> np.ndarray:
    """Per chain, the SMC log marginal likelihood of the last stage (beta = 1)."""
    values = []
    for stages in _stages_per_chain(stats["log_marginal_likelihood"], n_chains):
        finite = stages[np.isfinite(stages)]
        values.append(finite[-1] if finite.size else np.nan)
    return np.asarray(values)


@exact_arithmetic
def fit_twin_smc(
    network: Network,
    probes: xr.Dataset,
    data: Split | None,
    config: TwinConfig,
    deploy_to: Chip | None = None,
    *,
    progressbar: bool = False,
    **kernel_kwargs: Any,
) -> xr.DataTree:
    """Sample the twin with ``pm.sample_smc`` (IMH kernel; ``config.draws`` particles per chain,
    chains run one after another), keep each chain's log marginal likelihood and number of
    tempering stages in the group ``smc`` (dim chain: they are per chain, not per draw, so
    not ``sample_stats``) and compute the pointwise log-likelihoods (no chip queries)."""
    train = None if data is None else data.train
    model = build_twin_model(network, probes, train, config.families, config.sigma_w, config.kappa)
    started = time.perf_counter()
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=UserWarning)
        tree = pm.sample_smc(
            draws=config.draws,
            chains=config.chains,
            cores=1,
            random_seed=config.seed,
            progressbar=progressbar,
            compute_convergence_checks=False,
            **kernel_kwargs,
        )
        wall = time.perf_counter() - started
    raw = tree["sample_stats"].to_dataset()
    lml = _final_log_marginal_likelihood(raw, config.chains)
    stages = (
        [len(b) for b in _stages_per_chain(raw["beta"], config.chains)]
        if "beta" in raw
        else [0] * config.chains
    )
    del tree["sample_stats"]
    tree["smc"] = xr.Dataset(
        {"log_marginal_likelihood": ("chain", lml), "stages": ("chain", np.asarray(stages))},
        coords={"chain": tree["posterior"]["chain"].values},
    )
    tree["log_likelihood"] = _log_likelihood(tree, model)
    tree["observed_data"], tree["constant_data"] = data_groups(probes, train)
    tree.attrs.update(_attrs(model, config, network, probes, data, "smc", wall))
    tree.attrs["log_marginal_likelihood"] = float(np.nanmean(lml))
    if deploy_to is not None and data is not None:
        deploy(tree, deploy_to, data.test, config.kappa)
    return tree
