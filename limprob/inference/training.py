"""Chip-in-the-loop training: sample the model with PyMC, measure the result on the chip.

:func:`train_on_chip` runs the one sampling call (:func:`limprob.inference.sampling.sample`)
with the chosen step method and a chip-query counter, then turns PyMC's DataTree into a
limprob trace:

- ``posterior``: ``W_in (chain, draw, feature, hidden)``, ``W_out (chain, draw, hidden, class)``
  (the input neurons are the features, the output neurons the classes: one dim name each,
  in every group);
- ``log_likelihood``: ``y (chain, draw, obs)``, recorded from the chip queries made while
  sampling (the blocked step records it for free); for PyMC's own samplers it is recomputed
  after sampling and those queries are counted apart;
- ``sample_stats``: the sampler's stats and ``chip_queries``, cumulative per chain;
- ``observed_data`` / ``constant_data``: training labels and features;
- ``posterior_predictive``: ``y (chain, draw, obs)``, training labels drawn from the model at
  every posterior draw, one chip query each (counted apart,
  ``posterior_predictive_chip_queries``): the same draws as ``log_likelihood``, which
  ArviZ's LOO-PIT (``az.loo_pit``, ``az.plot_loo_pit``) weights them with, and PPC plots;
- ``predictions``: ``probability (chain, draw, obs, class)``, test-set class probabilities
  measured on the chip for a thinned set of posterior draws, with
  ``predictions_constant_data`` holding the test features and labels;
- ``point_estimates``: ``probability (point_estimate, obs, class)``, the same for the point
  estimates (W*, best draw, last draw), which are not draws and so have no chain or draw;
- attributes: the run's configuration, chip identity, seeds, query totals and package
  versions; a run sampled with a checkpoint also ``checkpoint``, ``checkpoint_every``,
  ``resumed``, ``resumed_draws`` and ``resumed_steps``
  (:func:`~limprob.inference.resumable.sample_with_checkpoint`).

With ``subspace`` other than ``none`` the run has two phases
(:mod:`limprob.inference.subspace`): the posterior holds ``z (chain, draw, direction)`` beside
the weights, which are its deterministics, the posterior is restricted to that subspace
(``posterior_restricted_to_subspace = 1``), and the full-space phase's path is kept in
``warmup_posterior``, ``warmup_log_likelihood`` and ``warmup_sample_stats``.
"""

from __future__ import annotations

import logging
import warnings
from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr

from limprob import interruption, validation
from limprob.chip.plugins import load_chip
from limprob.chip.protocol import Chip, require_chip
from limprob.chip.settings import ChipSettings, build_simulated_chip
from limprob.chip.simulated import SimulatedChip
from limprob.data import Split, load_table, split
from limprob.errors import LimprobError
from limprob.inference import cost
from limprob.inference import subspace as subspaces
from limprob.inference.checkpoint import Checkpoint, Starts
from limprob.inference.diagnostics import convergence_attrs
from limprob.inference.evaluation import (
    POINT_ESTIMATES,
    accuracy,
    best_chain,
    evaluate_weights,
    point_estimate_weights,
    point_predictions,
    predictions,
    test_accuracies,
)
from limprob.inference.sampling import (
    SamplerSettings,
    Step,
    exact_arithmetic,
    name_block_dims,
    package_versions,
    prior_draws,
    sample,
)
from limprob.inference.screening import make_screen, screen_chip
from limprob.inference.starts import check_init, choose_starts
from limprob.inference.step_methods import (
    BlockedMetropolis,
    CountedStep,
    DEMetropolisZCached,
    EllipticalSlice,
    PreconditionedCrankNicolson,
    layer_blocks,
    take_recorded_stats,
)
from limprob.inference.step_methods.likelihood_estimator import LikelihoodEstimator
from limprob.io import netcdf_attribute
from limprob.models.chip_in_the_loop import build_model
from limprob.models.defaults import ModelSettings, dataset_network
from limprob.snn import Network
from limprob.trace import network_attrs, predictions_constant_data
from limprob.validation import fraction, positive_integer, seed

STEP_METHODS = {
    "pcn": PreconditionedCrankNicolson,
    "slice": EllipticalSlice,
    "demcz": DEMetropolisZCached,
    "blocked": BlockedMetropolis,
}
"""limprob's step methods by name: one chip query per evaluation, the current point cached."""
PYMC_STEP_METHODS = {"metropolis": pm.Metropolis, "demetropolisz": pm.DEMetropolisZ}
"""PyMC's own, for comparison: element-wise updates (two queries per update), and
DEMetropolisZ (two queries per proposal)."""
SAMPLERS = (*STEP_METHODS, *PYMC_STEP_METHODS)
BLOCKS = ("joint", "layers")
"""``joint``: one step for all weights; ``layers``: one per layer (``W_in``, ``W_out``), each
with its own scale, sharing their evaluations."""
SCREENABLE = ("blocked", "pcn")
"""Samplers that take a delayed-acceptance screen."""


@dataclass(frozen=True, kw_only=True)
class MCMCSettings(SamplerSettings):
    """How the chains sample: the settings of :class:`SamplerSettings` (draws, tune, chains,
    cores, seed; the seed also draws the data split), the step method and how it splits and
    screens the weights, the likelihood estimator on a noisy chip, where the chains start and
    the subspace they may sample in; checked on construction."""

    sampler: str = "pcn"
    """Step method, one of :data:`SAMPLERS`."""
    blocks: str = "joint"
    """How limprob's step methods split the weights, one of :data:`BLOCKS`."""
    screen: str = "none"
    """Delayed-acceptance screen: ``none``, ``ideal`` (the nominal network) or the path of a
    twin trace (:mod:`limprob.inference.screening`); for the samplers in :data:`SCREENABLE`."""
    repeats: int | str = 1
    """Chip queries per likelihood estimate, averaged in probability space, or ``"auto"``
    (a pilot picks them;
    :class:`~limprob.inference.step_methods.likelihood_estimator.LikelihoodEstimator`)."""
    re_estimate_current: bool = False
    """Draw the current point's estimate again on every step (Monte Carlo within Metropolis:
    approximate) instead of keeping it (pseudo-marginal: exact)."""
    max_repeats: int = 64
    """Most queries per estimate ``repeats="auto"`` may choose (the chain stays exact with
    fewer, only stickier)."""
    init: str = "prior"
    """Where the chains start: ``prior``, ``ideal``, ``twin:TRACE`` or the path of a trace or
    NIR file; the chip chooses among the candidates (:mod:`limprob.inference.starts`)."""
    init_seeds: tuple[int, ...] | None = None
    """One backprop seed per chain for ``ideal`` and ``twin:`` starts (None: derived from
    ``seed``, :func:`~limprob.inference.starts.default_init_seeds`)."""
    subspace: str = "none"
    """``none``, ``pca:K``, ``readout`` or ``random:K``: sample in an affine subspace after a
    full-space adaptation phase (:mod:`limprob.inference.subspace`)."""

    def __post_init__(self) -> None:
        super().__post_init__()
        for name, choices in (("sampler", SAMPLERS), ("blocks", BLOCKS)):
            if getattr(self, name) not in choices:
                raise LimprobError(
                    f"{name} must be one of {', '.join(choices)}, got {getattr(self, name)!r}"
                )
        if self.screen != "none" and (self.sampler not in SCREENABLE or self.blocks != "joint"):
            raise LimprobError(
                f"a screen works with the samplers {', '.join(SCREENABLE)} and "
                f"joint blocks, not {self.sampler} with {self.blocks} blocks"
            )
        if self.blocks != "joint" and self.sampler not in STEP_METHODS:
            raise LimprobError(f"blocks apply to limprob's samplers ({', '.join(STEP_METHODS)})")
        subspaces.check_settings(
            self.subspace,
            limprob_sampler=self.sampler in STEP_METHODS,
            screen=self.screen,
            tune=self.tune,
        )
        self._check_estimator()
        self._check_init()

    def _check_estimator(self) -> None:
        if self.repeats != "auto":
            validation.repeats("repeats", self.repeats)
        validation.repeats("max repeats", self.max_repeats)
        if (self.repeats != 1 or self.re_estimate_current) and self.sampler not in STEP_METHODS:
            raise LimprobError(
                f"repeats and --re-estimate-current apply to limprob's samplers "
                f"({', '.join(STEP_METHODS)}), not {self.sampler}"
            )
        if self.repeats == "auto" and self.blocks != "joint":
            raise LimprobError(
                "--repeats auto needs joint blocks: blocks share the current "
                "point's estimate, so they must share one R; give a number"
            )

    def _check_init(self) -> None:
        check_init(self.init)
        if self.init_seeds is not None:
            seeds = tuple(seed("init seed", s) for s in np.ravel(self.init_seeds))
            if len(seeds) != self.chains:
                raise LimprobError(
                    f"init seeds must give one seed per chain ({self.chains}), got {len(seeds)}"
                )
            object.__setattr__(self, "init_seeds", seeds)

    @property
    def estimator(self) -> LikelihoodEstimator:
        """How the likelihood is estimated on the chip (one query, unless noisy)."""
        return LikelihoodEstimator(
            repeats=self.repeats,
            re_estimate_current=self.re_estimate_current,
            max_repeats=self.max_repeats,
        )


@dataclass(frozen=True)
class EvaluationSettings:
    """The training data used and how the trained network is measured; checked on
    construction."""

    train_fraction: float = 1.0
    """Fraction of the training split used, in (0, 1]."""
    point_estimate: str = "mean"
    """The point estimate reported beside the predictive average, one of
    :data:`~limprob.inference.evaluation.POINT_ESTIMATES`."""
    predictive_draws: int = 100
    """Thinned posterior draws measured on the test set for the predictive accuracy."""

    def __post_init__(self) -> None:
        fraction("training fraction", self.train_fraction)
        if self.point_estimate not in POINT_ESTIMATES:
            raise LimprobError(
                f"point estimate must be one of {', '.join(POINT_ESTIMATES)}, "
                f"got {self.point_estimate!r}"
            )
        positive_integer("predictive draws", self.predictive_draws)


GROUPS = {
    "network": Network,
    "chip": ChipSettings,
    "mcmc": MCMCSettings,
    "model": ModelSettings,
    "evaluation": EvaluationSettings,
}
"""The parts of a :class:`TrainConfig`, by field name, and their classes."""

FLAT_FIELDS = {
    "hidden": ("network", "n_hidden"),
    "time_steps": ("network", "n_steps"),
    **{name: ("network", name) for name in ("beta", "theta", "reset")},
    "strength": ("chip", "strength"),
    "chip_seed": ("chip", "seed"),
    "noise": ("chip", "noise"),
    "weight_bits": ("chip", "weight_bits"),
    "chip_spec": ("chip", "spec"),
    "chip_address": ("chip", "address"),
    **{f.name: ("mcmc", f.name) for f in fields(MCMCSettings)},
    **{f.name: ("model", f.name) for f in fields(ModelSettings)},
    **{f.name: ("evaluation", f.name) for f in fields(EvaluationSettings)},
}
"""The fields of the flat configuration that checkpoints and study cells written before
:class:`TrainConfig` was composed of its parts hold, and the part and field each is now
(:meth:`TrainConfig.from_settings`, :meth:`TrainConfig.flat_fields`)."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run, composed of its parts; checked on construction.

    ``network``: the nominal :class:`~limprob.snn.Network` (hidden size ``n_hidden``, time
    steps ``n_steps``, leak, threshold, reset); ``chip``: the chip trained on
    (:class:`~limprob.chip.settings.ChipSettings`); ``mcmc``: how the chains sample
    (:class:`MCMCSettings`); ``model``: the prior and readout gain
    (:class:`~limprob.models.defaults.ModelSettings`); ``evaluation``: the training data used
    and the measurements (:class:`EvaluationSettings`). A trace records them as attributes
    (:meth:`attrs`).
    """

    network: Network = Network()
    chip: ChipSettings = ChipSettings()
    mcmc: MCMCSettings = MCMCSettings()
    model: ModelSettings = ModelSettings()
    evaluation: EvaluationSettings = EvaluationSettings()

    def __post_init__(self) -> None:
        for name, kind in GROUPS.items():
            if not isinstance(getattr(self, name), kind):
                raise LimprobError(
                    f"the configuration's {name} must be a {kind.__name__}, "
                    f"got {getattr(self, name)!r}"
                )
        if not self.chip.spec:  # a user's chip declares its noise once built: for_chip
            self.check_estimator()
        if self.chip.address and self.mcmc.cores != 1:
            raise LimprobError(
                "a served chip answers one run's queries one at a time: use "
                f"one core (--cores 1) with --chip-address, not {self.mcmc.cores}"
            )

    def check_estimator(self) -> None:
        """Refuse likelihood-estimator settings that do not fit the chip's ``noise``."""
        mcmc, noisy = self.mcmc, self.chip.noise > 0
        if not noisy and (mcmc.repeats != 1 or mcmc.re_estimate_current):
            raise LimprobError(
                "repeats and --re-estimate-current need a noisy chip (noise > 0): a "
                "deterministic chip answers a repeated query with the same counts"
            )
        if noisy and mcmc.sampler == "slice":
            raise LimprobError(
                "elliptical slice sampling is not exact on a noisy chip (its shrinking bracket "
                "compares fresh noisy estimates with a fixed level): use pcn, blocked or demcz"
            )

    @classmethod
    def for_dataset(cls, dataset: str | None, **parts: Any) -> TrainConfig:
        """The configuration with ``dataset``'s default hidden size and readout gain
        (:data:`~limprob.models.defaults.DATASET_NETWORKS`; None: a user's table), then
        ``parts`` (``network=``, ``mcmc=``, ...), which replace them."""
        default = dataset_network(dataset)
        chosen: dict[str, Any] = {
            "network": Network(n_hidden=default["n_hidden"]),
            "model": ModelSettings(kappa=default["kappa"]),
        }
        return cls(**(chosen | parts))

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any]) -> TrainConfig:
        """The configuration ``settings`` hold: its parts as mappings (``asdict`` of a
        :class:`TrainConfig`, as a checkpoint stores it), or the flat fields of a checkpoint
        written before the configuration had parts (:data:`FLAT_FIELDS`); ``TypeError`` on
        an unknown field."""
        parts: dict[str, dict[str, Any]] = {name: {} for name in GROUPS}
        if set(settings) <= set(GROUPS):
            parts |= {name: dict(values) for name, values in settings.items()}
        else:
            for key, value in settings.items():
                if key not in FLAT_FIELDS:
                    raise TypeError(f"unknown training configuration field {key!r}")
                part, name = FLAT_FIELDS[key]
                parts[part][name] = value
        if parts["mcmc"].get("init_seeds") is not None:
            parts["mcmc"]["init_seeds"] = tuple(parts["mcmc"]["init_seeds"])
        return cls(**{name: GROUPS[name](**values) for name, values in parts.items()})

    def flat_fields(self) -> dict[str, Any]:
        """The configuration as the flat fields of :data:`FLAT_FIELDS` (the key of a study cell
        written before the configuration had parts)."""
        return {
            key: getattr(getattr(self, part), name) for key, (part, name) in FLAT_FIELDS.items()
        }

    def attrs(self) -> dict[str, Any]:
        """The configuration as trace attributes, one name per setting: the network's
        ``network_n_hidden``, ... (:func:`~limprob.trace.network_attrs`), the chip's
        ``chip_strength``, ... (:meth:`~limprob.chip.settings.ChipSettings.attrs`), and the
        fields of the sampler, model and evaluation settings by their own names (``draws``,
        ``sampler``, ``kappa``, ``predictive_draws``, ...)."""
        plain = asdict(self.mcmc) | asdict(self.model) | asdict(self.evaluation)
        return {
            **{key: netcdf_attribute(value) for key, value in plain.items()},
            **self.chip.attrs(),
            **network_attrs(self.network),
        }

    @property
    def likelihood_estimate(self) -> str:
        """What the sampler targets, in words: exact or not, and why."""
        if self.chip.noise == 0:
            return "exact: a deterministic chip"
        if self.mcmc.sampler in PYMC_STEP_METHODS or self.mcmc.re_estimate_current:
            return (
                "approximate: Monte Carlo within Metropolis (the current point's noisy "
                "estimate is drawn again on every step)"
            )
        return "exact: pseudo-marginal MH (the current point's noisy estimate is kept)"


def make_step(
    model: pm.Model, chip: Chip, config: TrainConfig, train: xr.Dataset | None = None
) -> CountedStep:
    """The step method of ``config`` (sampler, blocks, screen), followed by a chip-query
    counter; ``train`` is the training table a screen scores."""
    with model:
        if config.mcmc.sampler in PYMC_STEP_METHODS:
            step = PYMC_STEP_METHODS[config.mcmc.sampler]()
        elif config.mcmc.blocks == "layers":
            step = layer_blocks(
                model, STEP_METHODS[config.mcmc.sampler], estimator=config.mcmc.estimator
            )
        elif config.mcmc.screen != "none":
            if train is None:
                raise ValueError("a screened step needs the training table it scores")
            software = screen_chip(config.mcmc.screen, chip.network, chip.n_inputs, chip.n_outputs)
            point = model.initial_point()
            in_shape, out_shape = (point[v.name].shape for v in model.continuous_value_vars)
            step = STEP_METHODS[config.mcmc.sampler](
                screen=make_screen(software, train, config.model.kappa, (in_shape, out_shape)),
                estimator=config.mcmc.estimator,
            )
        else:
            step = STEP_METHODS[config.mcmc.sampler](estimator=config.mcmc.estimator)
        return CountedStep(step, chip, model=model)


def _log_likelihood_group(
    tree: xr.DataTree, model: pm.Model, chip: Chip
) -> tuple[xr.Dataset, str, int]:
    stats = tree["sample_stats"].to_dataset()
    coords = {"obs": tree["observed_data"]["y"]["obs"].values}
    rest, recorded = take_recorded_stats(stats, [rv.name for rv in model.observed_RVs])
    if recorded:
        tree["sample_stats"] = rest
        return (
            xr.Dataset(
                {
                    name: values.rename({values.dims[-1]: "obs"}).assign_coords(coords)
                    for name, values in recorded.items()
                }
            ),
            "recorded while sampling",
            0,
        )
    before = chip.queries
    with model:
        group = pm.compute_log_likelihood(tree, extend_inferencedata=False, progressbar=False)
    dataset = group.to_dataset() if isinstance(group, xr.DataTree) else group
    return dataset, "recomputed after sampling", chip.queries - before


def check_sizes(chip: Chip, data: Split, config: TrainConfig) -> None:
    """The chip must have one input per feature, one output per class, and the configuration's
    hidden size and time steps; raise :class:`LimprobError` naming the first that differs."""
    wanted = {
        "inputs": data.train.sizes["feature"],
        "outputs": data.train.sizes["class"],
        "hidden neurons": config.network.n_hidden,
        "time steps": config.network.n_steps,
    }
    has = {
        "inputs": chip.n_inputs,
        "outputs": chip.n_outputs,
        "hidden neurons": chip.network.n_hidden,
        "time steps": chip.network.n_steps,
    }
    for name, value in wanted.items():
        if has[name] != value:
            raise LimprobError(
                f"the chip has {has[name]} {name}, but the data and training "
                f"configuration need {value}"
            )


def check_checkpointable(config: TrainConfig) -> None:
    """A checkpointed run samples its chains one after another: refuse ``cores > 1``, and a
    subspace (its two phases are not checkpointed)."""
    if config.mcmc.subspace != "none":
        raise LimprobError(
            "a checkpoint cannot hold a two-phase subspace run: drop --checkpoint or --subspace"
        )
    if config.mcmc.cores != 1:
        raise LimprobError(
            "a checkpoint samples the chains one after another: use one core "
            f"(--cores 1), not {config.mcmc.cores}"
        )


@exact_arithmetic
def train_on_chip(
    chip: Chip,
    data: Split,
    config: TrainConfig,
    *,
    progressbar: bool = True,
    checkpoint: Checkpoint | None = None,
) -> xr.DataTree:
    """Train by MCMC on ``chip`` and return the limprob trace (see the module docstring).

    Compiled without fast-math (:func:`~limprob.inference.sampling.exact_arithmetic`): the
    same seeds give the same trace, bit for bit, in every process.

    With a ``checkpoint`` (:mod:`limprob.inference.checkpoint`) the draws and the sampler's
    state are written as it samples, and the chains the checkpoint holds are resumed
    (:func:`~limprob.inference.resumable.sample_with_checkpoint`); the trace is the one
    sampled without, bit for bit, in every group.
    """
    if checkpoint is not None:
        check_checkpointable(config)
    check_sizes(chip, data, config)
    model = build_model(chip, data.train, sigma_w=config.model.sigma_w, kappa=config.model.kappa)
    step = make_step(model, chip, config, data.train)
    if checkpoint is not None:
        checkpoint.begin(config)
    initvals, start_attrs = _starts(chip, data, model, config, checkpoint)
    start = chip.queries
    if config.mcmc.subspace != "none":
        tree, wall_seconds, step = subspaces.sample_in_subspace(
            model, step, chip, data.train, config, initvals, progressbar=progressbar
        )
    elif checkpoint is None:
        tree, wall_seconds = sample(model, step, config.mcmc, initvals, progressbar=progressbar)
    else:
        from limprob.inference.resumable import sample_with_checkpoint

        tree, wall_seconds = sample_with_checkpoint(
            model, step, config.mcmc, initvals, checkpoint, chip=chip, progressbar=progressbar
        )
        tree.attrs["checkpoint"] = str(checkpoint.path)
    setup_queries = (chip.queries - start) if config.mcmc.cores == 1 else None
    with interruption.deferred():  # the draws are in hand: a first signal lets them finish
        tree = _finish(tree, model, step, chip, data, config, wall_seconds, setup_queries)
    tree.attrs.update(start_attrs)
    return tree


def _starts(
    chip: Chip, data: Split, model: pm.Model, config: TrainConfig, checkpoint: Checkpoint | None
) -> tuple[list[dict], dict]:
    """Each chain's initial values and the start attributes: chosen
    (:func:`~limprob.inference.starts.choose_starts`) and, with a checkpoint, stored in it;
    read back from a checkpoint that stores them, with the chip's query count set to where
    the run that chose them began sampling, so a resume makes no choosing query and no
    backprop."""
    stored = None
    if checkpoint is not None:
        stored = stored_starts(checkpoint, config, chip.n_inputs, chip.n_outputs)
    if stored is not None:
        chip.continue_from(stored.chip_queries)
        return stored.initvals, stored.attrs
    initvals, start_attrs = choose_starts(
        chip,
        data,
        model,
        init=config.mcmc.init,
        chains=config.mcmc.chains,
        seed=config.mcmc.seed,
        kappa=config.model.kappa,
        init_seeds=config.mcmc.init_seeds,
        prior_draws=prior_draws,
    )
    if checkpoint is not None:
        checkpoint.record_starts(Starts(initvals, start_attrs, chip.queries))
    return initvals, start_attrs


def stored_starts(
    checkpoint: Checkpoint, config: TrainConfig, n_inputs: int, n_outputs: int
) -> Starts | None:
    """The starts ``checkpoint`` stores for ``config``'s run on a chip of ``n_inputs``
    inputs and ``n_outputs`` outputs (None: it stores none); :class:`LimprobError` if they
    are not one start per chain of that network's weights."""
    hidden = config.network.n_hidden
    shapes = {"W_in": (n_inputs, hidden), "W_out": (hidden, n_outputs)}
    return checkpoint.starts(shapes, config.mcmc.chains)


def _finish(
    tree: xr.DataTree,
    model: pm.Model,
    step: Step,
    chip: Chip,
    data: Split,
    config: TrainConfig,
    wall_seconds: float,
    setup_queries: int | None,
) -> xr.DataTree:
    """The limprob trace from PyMC's tree: log-likelihood, predictions, attributes."""
    log_likelihood, source, log_likelihood_queries = _log_likelihood_group(tree, model, chip)
    tree["log_likelihood"] = log_likelihood
    tree["sample_stats"] = name_block_dims(tree["sample_stats"].to_dataset(), step, model)

    posterior = tree["posterior"].to_dataset()
    before = chip.queries
    predicted = predictions(
        chip, posterior, data.test, config.model.kappa, config.evaluation.predictive_draws
    )
    points = point_predictions(chip, posterior, log_likelihood, data.test, config.model.kappa)
    point = point_estimate_weights(posterior, log_likelihood, config.evaluation.point_estimate)
    train_accuracy = accuracy(
        evaluate_weights(chip, *point, data.train, config.model.kappa), data.train["labels"].values
    )
    evaluation_queries = chip.queries - before
    before = chip.queries
    with model, warnings.catch_warnings():
        # the draw of y is Python that calls the chip's compiled kernel once per draw
        warnings.filterwarnings("ignore", message="Numba will use object mode")
        replicated = pm.sample_posterior_predictive(
            posterior, random_seed=np.random.default_rng([config.mcmc.seed, 2]), progressbar=False
        )
    tree["posterior_predictive"] = replicated["posterior_predictive"].to_dataset()
    predictive_queries = chip.queries - before
    tree["predictions"] = predicted
    tree["point_estimates"] = points
    tree["predictions_constant_data"] = predictions_constant_data(data.test)

    training_queries = int(tree["sample_stats"]["chip_queries"].isel(draw=-1).sum())
    attrs = {
        "limprob_trace": 1,
        "model": "chip_in_the_loop",
        "method": "mh",
        **config.attrs(),
        **chip.describe(),
        "data_source": data.train.attrs.get("source", "data"),
        "n_train": data.train.sizes["obs"],
        "n_test": data.test.sizes["obs"],
        "training_chip_queries": training_queries,
        "posterior_mean_chain": best_chain(log_likelihood),
        "log_likelihood_source": source,
        "log_likelihood_chip_queries": log_likelihood_queries,
        "evaluation_chip_queries": evaluation_queries,
        "posterior_predictive_chip_queries": predictive_queries,
        **test_accuracies(points["probability"], data.test["labels"].values, predicted),
        "train_accuracy": train_accuracy,
        "wall_seconds": wall_seconds,
        "likelihood_estimate": config.likelihood_estimate,
        **_sampler_report(tree["sample_stats"].to_dataset(), config.mcmc.screen != "none"),
        **package_versions(),
    }
    if setup_queries is not None:
        # start-value checks and anything else PyMC evaluated outside the chains
        attrs["setup_chip_queries"] = setup_queries - training_queries
    tree.attrs.update(attrs)
    tree.attrs.update(convergence_attrs(tree))
    return tree


def _sampler_report(stats: xr.Dataset, screened: bool) -> dict:
    """What the step did with its queries: acceptance, and with a screen the proposals it
    screened out and the chip queries saved per accepted move (kept draws)."""
    report: dict[str, float | np.ndarray] = {}
    if "accepted" in stats:
        report["acceptance_rate"] = float(stats["accepted"].mean())
    if "repeats" in stats:
        # per chain, the queries per estimate after tuning and the pilot's measured variance
        repeats = stats["repeats"].isel(draw=-1).values.reshape(stats.sizes["chain"], -1)
        report["repeats_per_chain"] = repeats.max(axis=1).astype(np.int64)
        variance = stats["pilot_log_likelihood_variance"].isel(draw=-1).values
        variance = variance.reshape(stats.sizes["chain"], -1)
        if np.isfinite(variance).any():
            report["pilot_log_likelihood_variance_per_chain"] = np.nanmax(variance, axis=1)
    if screened:
        proposals = stats["screened_out"].size
        n_screened = int(stats["screened_out"].sum())
        accepted = int(stats["accepted"].sum())
        report.update(
            screened_out_fraction=n_screened / proposals,
            chip_queries_saved_per_accepted_move=n_screened / max(accepted, 1),
        )
    return report


LONG_RUN_SECONDS = 60.0
"""Sampling projected to last longer than this is announced (one line on stderr)."""
log = logging.getLogger("limprob")


def memory_estimate(config: TrainConfig, data: Split) -> int:
    """Estimated peak bytes of training on ``data`` (:func:`limprob.inference.cost.train_bytes`)."""
    n_inputs, n_classes = data.train.sizes["feature"], data.train.sizes["class"]
    return cost.train_bytes(
        draws=config.mcmc.draws,
        tune=config.mcmc.tune,
        chains=config.mcmc.chains,
        weights=config.network.n_hidden * (n_inputs + n_classes),
        n_train=data.train.sizes["obs"],
        n_test=data.test.sizes["obs"],
        n_classes=n_classes,
        predictive_draws=config.evaluation.predictive_draws,
    )


def projected_seconds(chip: Chip, data: Split, config: TrainConfig) -> float:
    """Least sampling time (s) of ``config`` on ``chip``, from one timed query with weights
    drawn from the prior; logged as a warning (one line on stderr) above
    :data:`LONG_RUN_SECONDS`."""
    rng = np.random.default_rng([config.mcmc.seed, 3])
    hidden, x = config.network.n_hidden, data.train["features"].values
    seconds = cost.seconds_per_query(
        chip,
        config.model.sigma_w * rng.standard_normal((chip.n_inputs, hidden)),
        config.model.sigma_w * rng.standard_normal((hidden, chip.n_outputs)),
        x,
    )
    repeats = config.mcmc.repeats if isinstance(config.mcmc.repeats, int) else 1  # auto: at least 1
    projected = cost.projected_seconds(
        draws=config.mcmc.draws,
        tune=config.mcmc.tune,
        chains=config.mcmc.chains,
        cores=config.mcmc.cores,
        sampler=config.mcmc.sampler,
        blocks=2 if config.mcmc.blocks == "layers" else 1,
        seconds=seconds * repeats,
    )
    if projected > LONG_RUN_SECONDS:
        log.warning(
            f"limprob: sampling will take at least {cost.duration(projected)} "
            f"({config.mcmc.draws + config.mcmc.tune} steps x {config.mcmc.chains} chains at "
            f"{seconds * 1e3:.3g} ms a chip query x {repeats} repeats); SIGINT or "
            f"SIGTERM stops it and keeps the draws so far"
        )
    return projected


SIMULATED_ONLY = ("chip_strength", "chip_seed")
"""Attributes of a :class:`TrainConfig` that only describe the simulated chip: a trace trained
on a given chip does not record them (unless the chip's own ``describe()`` does)."""


def train(
    config: TrainConfig,
    table: xr.Dataset | None = None,
    *,
    chip: Chip | None = None,
    progressbar: bool = True,
    max_memory: float | None = None,
    checkpoint: Checkpoint | None = None,
) -> xr.DataTree:
    """Split ``table`` (default: the Wisconsin set) and train on ``chip``: by default the
    simulated chip of ``config`` (or the user's chip ``config.chip.spec`` names) with one input
    per feature and one output per class.

    A given ``chip`` (any :class:`~limprob.chip.protocol.Chip`: a driver of real hardware, a
    remote chip) is checked before any query: its members
    (:func:`~limprob.chip.protocol.require_chip`) and its sizes against the data and
    ``config``; ``config``'s noise and weight resolution become the chip's declared ones
    (:func:`for_chip`), and the trace records ``chip.describe()`` instead of the simulated
    chip's settings.

    Refused before any work when the trace's estimated memory (:func:`memory_estimate`)
    exceeds ``max_memory`` bytes (default: the memory available now); a run projected to
    sample for more than a minute says so first (:func:`projected_seconds`). With a
    ``checkpoint``, the configuration and the table are written into it before sampling
    starts, and the run resumes what it holds (:func:`resume`; a chip passed as an object is
    passed again to resume, a ``chip.spec`` is rebuilt from the checkpoint)."""
    table = load_table() if table is None else table
    data = split(table, seed=config.mcmc.seed, train_fraction=config.evaluation.train_fraction)
    cost.check_memory(memory_estimate(config, data), "this training run", max_memory)
    if checkpoint is not None:
        check_checkpointable(config)
        # stored starts that do not fit are refused before any chip query
        stored_starts(checkpoint, config, data.train.sizes["feature"], data.train.sizes["class"])
    simulated = chip is None and not config.chip.spec
    if chip is None:
        chip = simulated_chip(config, table) if simulated else user_chip(config, table)
    else:
        require_chip(chip, "the chip given to train()")
    if not simulated:
        check_sizes(chip, data, config)
        config = for_chip(config, chip)
    before = chip.queries
    projected = projected_seconds(chip, data, config)
    timing_queries = chip.queries - before
    if checkpoint is not None:
        checkpoint.begin(config, table)
    tree = train_on_chip(chip, data, config, progressbar=progressbar, checkpoint=checkpoint)
    if not simulated:
        described = chip.describe()
        for name in SIMULATED_ONLY:
            if name not in described:
                tree.attrs.pop(name, None)
    tree.attrs.update(projected_sampling_seconds=projected, projection_chip_queries=timing_queries)
    return tree


def for_chip(config: TrainConfig, chip: Chip) -> TrainConfig:
    """``config`` with the noise and weight resolution ``chip`` declares (``chip.noise``,
    ``chip.weight_bits``), which decide how the likelihood is estimated; its estimator is
    checked against them, so repeats on a chip that declares no noise are refused."""
    config = replace(
        config, chip=replace(config.chip, noise=float(chip.noise), weight_bits=chip.weight_bits)
    )
    config.check_estimator()
    return config


def user_chip(config: TrainConfig, table: xr.Dataset) -> Chip:
    """The user's chip ``config.chip.spec`` names, built for ``table`` and ``config``'s
    network (:func:`~limprob.chip.plugins.load_chip`)."""
    return load_chip(
        config.chip.spec,
        n_inputs=table.sizes["feature"],
        n_outputs=table.sizes["class"],
        network=config.network,
    )


def checkpointed_config(checkpoint: Checkpoint) -> TrainConfig:
    """The :class:`TrainConfig` of the run ``checkpoint`` holds; :class:`LimprobError` if it
    does not hold one."""
    try:
        return TrainConfig.from_settings(checkpoint.settings)
    except TypeError:  # missing or unknown fields
        raise LimprobError(
            f"{checkpoint.path}: the checkpoint's configuration is not a training run's"
        ) from None


def resume(
    checkpoint: Checkpoint,
    *,
    chip: Chip | None = None,
    progressbar: bool = True,
    max_memory: float | None = None,
) -> xr.DataTree:
    """Finish the run ``checkpoint`` (:meth:`Checkpoint.open`) holds, with its own
    configuration and table: :func:`train` goes on from each chain's last write. ``chip``: the
    chip object the run was given, if it was (a ``chip.spec`` is rebuilt)."""
    return train(
        checkpointed_config(checkpoint),
        checkpoint.table(),
        chip=chip,
        progressbar=progressbar,
        max_memory=max_memory,
        checkpoint=checkpoint,
    )


def chip_settings(chip: Chip) -> dict[str, dict[str, Any]]:
    """The parts of a :class:`TrainConfig` a given chip fixes, as settings
    (:meth:`TrainConfig.from_settings`): its ``network``, and the ``chip``'s noise and weight
    resolution."""
    return {
        "network": asdict(chip.network),
        "chip": {"noise": float(chip.noise), "weight_bits": chip.weight_bits},
    }


def simulated_chip(config: TrainConfig, table: xr.Dataset) -> SimulatedChip:
    """The simulated chip ``config`` describes (strength, seed, noise, weight resolution, the
    network), with an input per feature and an output per class of ``table``."""
    return build_simulated_chip(config.chip, config.network, table)
