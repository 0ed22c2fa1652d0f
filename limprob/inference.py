"""Chip-in-the-loop training: sample the model with PyMC, measure the result on the chip.

:func:`train` runs ``pm.sample`` with the chosen step method and a chip-query counter, then
turns PyMC's DataTree into a limprob trace:

- ``posterior``: ``W_in (chain, draw, input, hidden)``, ``W_out (chain, draw, hidden, output)``;
- ``log_likelihood``: ``y (chain, draw, obs)``, recorded from the chip queries made while
  sampling (the blocked step records it for free); for PyMC's own samplers it is recomputed
  after sampling and those queries are counted apart;
- ``sample_stats``: the sampler's stats and ``chip_queries``, cumulative per chain;
- ``observed_data`` / ``constant_data``: training labels and features;
- ``predictions``: test-set class probabilities measured on the chip for the posterior-mean
  weights W* and for a thinned set of posterior draws, with ``predictions_constant_data``
  holding the test features and labels;
- attributes: the run's configuration, chip identity, seeds, query totals and package
  versions.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass

import numpy as np
import pymc as pm
import pytensor
import xarray as xr
from pymc.step_methods import CompoundStep

from limprob.chip import Chip, SimulatedChip
from limprob.data import Split, check_fraction, load_table, split
from limprob.errors import LimprobError
from limprob.models.chip_in_the_loop import DEFAULT_KAPPA, DEFAULT_SIGMA_W, build_model
from limprob.ops import class_probabilities
from limprob.snn import Network
from limprob.step_methods import BlockedMetropolis, CountedStep, take_recorded_stats

SAMPLERS = ("blocked", "metropolis", "demetropolisz")
"""``blocked``: :class:`BlockedMetropolis` (one chip query per proposal, the default);
``metropolis``: ``pm.Metropolis`` (element-wise updates); ``demetropolisz``:
``pm.DEMetropolisZ``."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run; checked on construction."""

    strength: float = 1.0
    chip_seed: int = 0
    hidden: int = 16
    time_steps: int = 32
    beta: float = 0.9
    theta: float = 1.0
    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    cores: int = 1
    seed: int = 0
    train_fraction: float = 1.0
    sampler: str = "blocked"
    sigma_w: float = DEFAULT_SIGMA_W
    kappa: float = DEFAULT_KAPPA
    predictive_draws: int = 100

    def __post_init__(self):
        if not (np.isfinite(self.strength) and self.strength >= 0):
            raise LimprobError(f"strength must be >= 0, got {self.strength}")
        for name in ("hidden", "time_steps", "draws", "chains", "cores", "predictive_draws"):
            value = getattr(self, name)
            if int(value) != value or value < 1:
                raise LimprobError(f"{name.replace('_', ' ')} must be a positive integer, "
                                   f"got {value}")
        if int(self.tune) != self.tune or self.tune < 0:
            raise LimprobError(f"tune must be a non-negative integer, got {self.tune}")
        check_fraction(self.train_fraction)
        if self.sampler not in SAMPLERS:
            raise LimprobError(f"sampler must be one of {', '.join(SAMPLERS)}, "
                               f"got {self.sampler!r}")
        if not (self.sigma_w > 0 and self.kappa > 0):
            raise LimprobError("sigma_w and kappa must be positive")
        self.network  # checks hidden, time steps, leak and threshold

    @property
    def network(self) -> Network:
        return Network(self.hidden, self.time_steps, self.beta, self.theta)


def make_step(model: pm.Model, chip: Chip, sampler: str = "blocked"):
    """The step method for ``sampler``, followed by a chip-query counter."""
    with model:
        if sampler == "blocked":
            step = BlockedMetropolis()
        elif sampler == "metropolis":
            step = pm.Metropolis()
        elif sampler == "demetropolisz":
            step = pm.DEMetropolisZ()
        else:
            raise LimprobError(f"unknown sampler {sampler!r}")
        return CountedStep(step, chip, model=model)


def prior_draws(model: pm.Model, chains: int, seed: int) -> list[dict]:
    """One prior draw of the free variables per chain: random weights make the neurons fire,
    where the all-zero initial point would not."""
    rngs = np.random.default_rng([seed, 1]).spawn(chains)
    return [
        {rv.name: pm.draw(rv, random_seed=rng) for rv in model.free_RVs} for rng in rngs
    ]


def _log_likelihood_group(tree: xr.DataTree, model: pm.Model, chip: Chip) -> tuple[xr.Dataset, str, int]:
    stats = tree["sample_stats"].to_dataset()
    coords = {"obs": tree["observed_data"]["y"]["obs"].values}
    rest, recorded = take_recorded_stats(stats, [rv.name for rv in model.observed_RVs])
    if recorded:
        tree["sample_stats"] = rest
        return xr.Dataset({name: values.rename({values.dims[-1]: "obs"}).assign_coords(coords)
                           for name, values in recorded.items()}), "recorded while sampling", 0
    before = chip.queries
    with model:
        group = pm.compute_log_likelihood(tree, extend_inferencedata=False, progressbar=False)
    dataset = group.to_dataset() if isinstance(group, xr.DataTree) else group
    return dataset, "recomputed after sampling", chip.queries - before


def evaluate_weights(chip: Chip, w_in: np.ndarray, w_out: np.ndarray, test: xr.Dataset,
                     kappa: float) -> np.ndarray:
    """Class probabilities (obs, class) of the test samples on ``chip``: one query."""
    counts = chip.run(w_in, w_out, test["features"].values)
    return class_probabilities(counts, kappa, chip.network.n_steps)


def accuracy(probabilities: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of samples whose most probable class is their label."""
    return float(np.mean(np.argmax(probabilities, axis=-1) == labels))


def thinned_draws(posterior: xr.Dataset, n: int) -> xr.Dataset:
    """At most ``n`` posterior draws, evenly spaced over the draws of every chain."""
    n_chain, n_draw = posterior.sizes["chain"], posterior.sizes["draw"]
    per_chain = max(1, min(n_draw, n // n_chain))
    index = np.unique(np.linspace(0, n_draw - 1, per_chain).round().astype(int))
    return posterior.isel(draw=index)


def best_chain(log_likelihood: xr.Dataset) -> int:
    """The chain with the highest mean training log-likelihood (summed over observations)."""
    total = sum(log_likelihood[name].sum("obs") for name in log_likelihood.data_vars)
    return int(total.mean("draw").argmax("chain"))


def posterior_mean_weights(posterior: xr.Dataset, log_likelihood: xr.Dataset):
    """W*: the posterior mean of ``W_in`` and ``W_out`` within the best chain.

    Chains of this posterior settle in different modes (permuting hidden neurons, or flipping
    signs, leaves the network's function unchanged), so an average across chains is a point in
    no mode. The mean of the chain that fits the training data best (:func:`best_chain`) is.
    """
    chain = posterior.isel(chain=best_chain(log_likelihood))
    return chain["W_in"].mean("draw").values, chain["W_out"].mean("draw").values


def predictions(chip: Chip, posterior: xr.Dataset, w_star: tuple[np.ndarray, np.ndarray],
                test: xr.Dataset, kappa: float, predictive_draws: int) -> xr.Dataset:
    """Test-set class probabilities on ``chip`` for the posterior-mean weights ``w_star``
    (see :func:`posterior_mean_weights`) and for a thinned set of posterior draws (one query
    each)."""
    classes = posterior["output"].values
    thinned = thinned_draws(posterior, predictive_draws)
    per_draw = np.stack([
        np.stack([
            evaluate_weights(chip, thinned["W_in"].values[c, d], thinned["W_out"].values[c, d],
                             test, kappa)
            for d in range(thinned.sizes["draw"])
        ])
        for c in range(thinned.sizes["chain"])
    ])
    obs = test["obs"].values
    return xr.Dataset(
        {
            "probability_posterior_mean": (("obs", "class"),
                                           evaluate_weights(chip, *w_star, test, kappa)),
            "probability": (("chain", "draw", "obs", "class"), per_draw),
        },
        coords={"chain": thinned["chain"].values, "draw": thinned["draw"].values, "obs": obs,
                "class": classes},
    )


def test_accuracies(predicted: xr.Dataset, labels: np.ndarray) -> dict[str, float]:
    """Accuracy of W* and of the predictive average (class probabilities averaged over the
    thinned draws)."""
    average = predicted["probability"].mean(("chain", "draw")).values
    return {
        "test_accuracy_posterior_mean": accuracy(predicted["probability_posterior_mean"].values,
                                                 labels),
        "test_accuracy_predictive": accuracy(average, labels),
    }


def package_versions() -> dict[str, str]:
    import arviz
    import numba
    import pytensor

    import limprob

    modules = {"limprob": limprob, "pymc": pm, "pytensor": pytensor, "arviz": arviz,
               "numpy": np, "xarray": xr, "numba": numba}
    return {f"version_{name}": module.__version__ for name, module in modules.items()}


def train_on_chip(chip: Chip, data: Split, config: TrainConfig, *,
                  progressbar: bool = True) -> xr.DataTree:
    """Train by MCMC on ``chip`` and return the limprob trace (see the module docstring).

    PyTensor's numba backend compiles with fast-math by default, which lets LLVM reorder
    floating-point sums; limprob turns it off here so the same seeds give the same trace, bit
    for bit, in every process.
    """
    with pytensor.config.change_flags(numba__fastmath=False):
        return _train_on_chip(chip, data, config, progressbar)


def _train_on_chip(chip, data, config, progressbar):
    model = build_model(chip, data.train, sigma_w=config.sigma_w, kappa=config.kappa)
    step = make_step(model, chip, config.sampler)
    initvals = prior_draws(model, config.chains, config.seed)
    start, started = chip.queries, time.perf_counter()
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*CompoundStep.*")
        tree = pm.sample(
            draws=config.draws, tune=config.tune, chains=config.chains, cores=config.cores,
            step=step, initvals=initvals, random_seed=config.seed, progressbar=progressbar,
            compute_convergence_checks=False,
        )
    setup_queries = (chip.queries - start) if config.cores == 1 else None
    wall_seconds = time.perf_counter() - started
    log_likelihood, source, log_likelihood_queries = _log_likelihood_group(tree, model, chip)
    tree["log_likelihood"] = log_likelihood

    posterior = tree["posterior"].to_dataset()
    before = chip.queries
    w_star = posterior_mean_weights(posterior, log_likelihood)
    predicted = predictions(chip, posterior, w_star, data.test, config.kappa,
                            config.predictive_draws)
    train_accuracy = accuracy(evaluate_weights(chip, *w_star, data.train, config.kappa),
                              data.train["labels"].values)
    evaluation_queries = chip.queries - before
    tree["predictions"] = predicted
    tree["predictions_constant_data"] = xr.Dataset(
        {"x": (("obs", "feature"), data.test["features"].values),
         "y": ("obs", data.test["labels"].values)},
        coords={"obs": data.test["obs"].values, "feature": data.test["feature"].values},
    )

    training_queries = int(tree["sample_stats"]["chip_queries"].isel(draw=-1).sum())
    attrs = {
        "limprob_trace": 1,
        "model": "chip_in_the_loop",
        "method": "mh",
        **{k: v for k, v in asdict(config).items()},
        **chip.describe(),
        "data_source": data.train.attrs.get("source", "data"),
        "n_train": data.train.sizes["obs"],
        "n_test": data.test.sizes["obs"],
        "training_chip_queries": training_queries,
        "posterior_mean_chain": best_chain(log_likelihood),
        "log_likelihood_source": source,
        "log_likelihood_chip_queries": log_likelihood_queries,
        "evaluation_chip_queries": evaluation_queries,
        **test_accuracies(predicted, data.test["labels"].values),
        "train_accuracy": train_accuracy,
        "wall_seconds": wall_seconds,
        **package_versions(),
    }
    if setup_queries is not None:
        # start-value checks and anything else PyMC evaluated outside the chains
        attrs["setup_chip_queries"] = setup_queries - training_queries
    tree.attrs.update(attrs)
    return tree


def train(config: TrainConfig, data_path=None, *, progressbar: bool = True) -> xr.DataTree:
    """Load the data, build the simulated chip of ``config`` and train on it."""
    table = load_table(data_path)
    data = split(table, seed=config.seed, train_fraction=config.train_fraction)
    chip = SimulatedChip(table.sizes["feature"], table.sizes["class"], config.network,
                         config.strength, config.chip_seed)
    return train_on_chip(chip, data, config, progressbar=progressbar)
