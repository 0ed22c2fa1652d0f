"""Chip-in-the-loop training: sample the model with PyMC, measure the result on the chip.

:func:`train_on_chip` runs the one sampling call (:func:`limprob.inference.sampling.sample`)
with the chosen step method and a chip-query counter, then turns PyMC's DataTree into a
limprob trace:

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

from dataclasses import asdict, dataclass

import pymc as pm
import xarray as xr

from limprob.chip.protocol import Chip
from limprob.chip.simulated import SimulatedChip
from limprob.data import Split, load_table, split
from limprob.errors import LimprobError
from limprob.inference.evaluation import (accuracy, best_chain, evaluate_weights,
                                          posterior_mean_weights, predictions, test_accuracies)
from limprob.inference.sampling import (SamplerSettings, exact_arithmetic, package_versions,
                                        prior_draws, sample)
from limprob.inference.step_methods import BlockedMetropolis, CountedStep, take_recorded_stats
from limprob.models.chip_in_the_loop import build_model
from limprob.models.defaults import DEFAULT_KAPPA, DEFAULT_SIGMA_W
from limprob.snn import Network
from limprob.validation import (fraction, non_negative_integer, non_negative_number,
                                positive_integer, positive_number)

SAMPLERS = ("blocked", "metropolis", "demetropolisz")
"""``blocked``: :class:`BlockedMetropolis` (one chip query per proposal, the default);
``metropolis``: ``pm.Metropolis`` (element-wise updates); ``demetropolisz``:
``pm.DEMetropolisZ``."""


@dataclass(frozen=True)
class TrainConfig(SamplerSettings):
    """Everything that defines a training run; checked on construction. The sampler settings
    (draws, tune, chains, cores, seed: keyword-only) are those of :class:`SamplerSettings`; the
    seed also draws the data split."""

    strength: float = 1.0
    """Distortion strength alpha >= 0 of the simulated chip (:func:`train` builds it)."""
    chip_seed: int = 0
    """Seed of the simulated chip's hidden mismatch."""
    hidden: int = 16
    """Hidden LIF neurons H."""
    time_steps: int = 32
    """Time steps T of the network."""
    beta: float = 0.9
    """Nominal leak per time step."""
    theta: float = 1.0
    """Nominal firing threshold (units of the input current)."""
    train_fraction: float = 1.0
    """Fraction of the training split used, in (0, 1]."""
    sampler: str = "blocked"
    """Step method, one of :data:`SAMPLERS`."""
    sigma_w: float = DEFAULT_SIGMA_W
    """Prior standard deviation of every weight."""
    kappa: float = DEFAULT_KAPPA
    """Readout gain of the likelihood ``softmax(kappa c / T)``."""
    predictive_draws: int = 100
    """Thinned posterior draws measured on the test set for the predictive accuracy."""

    def __post_init__(self):
        super().__post_init__()
        non_negative_number("strength", self.strength)
        non_negative_integer("chip seed", self.chip_seed)
        positive_integer("predictive draws", self.predictive_draws)
        fraction("training fraction", self.train_fraction)
        if self.sampler not in SAMPLERS:
            raise LimprobError(f"sampler must be one of {', '.join(SAMPLERS)}, "
                               f"got {self.sampler!r}")
        positive_number("sigma_w", self.sigma_w)
        positive_number("kappa", self.kappa)
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


@exact_arithmetic
def train_on_chip(chip: Chip, data: Split, config: TrainConfig, *,
                  progressbar: bool = True) -> xr.DataTree:
    """Train by MCMC on ``chip`` and return the limprob trace (see the module docstring).

    Compiled without fast-math (:func:`~limprob.inference.sampling.exact_arithmetic`): the
    same seeds give the same trace, bit for bit, in every process.
    """
    model = build_model(chip, data.train, sigma_w=config.sigma_w, kappa=config.kappa)
    step = make_step(model, chip, config.sampler)
    initvals = prior_draws(model, config.chains, config.seed)
    start = chip.queries
    tree, wall_seconds = sample(model, step, config, initvals, progressbar=progressbar)
    setup_queries = (chip.queries - start) if config.cores == 1 else None
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
