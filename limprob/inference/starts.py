"""Where each MH chain starts: candidates from a software model, chosen by the chip.

``init`` (:attr:`limprob.inference.training.TrainConfig.init`) names the candidates:

- ``prior``: one prior draw per chain (:func:`~limprob.inference.sampling.prior_draws`), no
  selection, no chip query;
- ``ideal``: one ideal-model backprop per chain
  (:class:`~limprob.inference.backprop.IdealModelBackprop`), each with its own seed
  (``init_seeds``), trained and validated on the ideal software network: no chip query. Its
  digital training compute is counted (``start_digital_training_flops``, the C_bp of
  :mod:`limprob.energy.training_run`);
- ``twin``: the chip is probed (:data:`TWIN_PROBES` queries of :data:`TWIN_PROBE_OBS` training
  inputs, :func:`~limprob.chip.probes.record_probes_from_table`), its distortion fitted to the
  probes by surrogate-gradient descent
  (:func:`~limprob.inference.surrogate_twin.fit_surrogate_twin`, every synapse's gain and
  every neuron's threshold, from two saturation starts), and for each restart's fit one
  backprop per chain trained through it
  (:class:`~limprob.inference.backprop.DistortionModelBackprop`), so the chip chooses among
  the fits too, beside the ``ideal`` candidates (so a chip the ideal model describes keeps
  the ideal model's start where backprop through a fit stalls);
  the probe queries are counted (``start_twin_probe_chip_queries``) and the fit's quality is
  recorded (``start_twin_explained_fraction``);
- ``twin:TRACE``: the same backprop through a fitted digital twin's distortion (the posterior
  mean of a sampled twin's parameters, or each restart of a surrogate-gradient twin's fit,
  :func:`~limprob.inference.screening.screen_chip`), beside the ``ideal`` candidates; the
  twin's probe queries are counted (``start_twin_probe_chip_queries``);
- ``FILE``: one set of weights, a trace's point estimate (W*: an MH trace's posterior mean of
  its best chain, a backprop trace's weights) or a NIR graph
  (:func:`limprob.chip.nir.from_nir`); refused if its network size differs.

**The chip chooses.** Except for ``prior``, the candidates and :data:`PRIOR_CANDIDATES` prior
draws are each measured on the chip, one query on the whole training set each, and ranked
(:func:`rank_starts`). A model's candidate is used only if it beats every prior draw by the
unnormalised log posterior the chains target (the training log-likelihood
``sum_i log softmax(kappa c_i / T)[y_i]`` plus the log prior of the weights, nats), so a start
that is worse for this chip than a random draw, or that fits with weights far in the prior's
tails (readout weights in the thousands, which a chain would spend its budget walking back
from), loses to a draw. The candidates that pass are ranked by their log-likelihood on the
chip alone: within a budget of thousands of queries a chain stays near its start, so how well
the start fits the chip matters more than its prior density, and the prior term would
otherwise prefer a model's smaller weights to a better fit (on a strength-2 digits chip it
chose the ideal model's start, log-likelihood -2,453, over the twin's, -886, and the chain
reached 0.669 test accuracy where the twin's start reaches 0.842; ``analyses/README.md``).
The rest follow by log posterior. Chain ``c`` starts at the ``c``-th best (cycling when there
are fewer candidates than chains), so the best start is always used and every chain starts
elsewhere. The trace records the queries (``start_selection_chip_queries``), which start each
chain got (``start_per_chain``), and every candidate's log-likelihood, log posterior and
whether it beat the prior draws (``start_candidate_beats_prior``).

MH on the chip is exact whatever the start: a start changes where the chain begins, not the
posterior it samples.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import pymc as pm
import xarray as xr

from limprob.chip.distortion import Distortion
from limprob.chip.protocol import Chip
from limprob.chip.simulated import ParametricChip, SimulatedChip
from limprob.data import Split
from limprob.errors import LimprobError
from limprob.likelihood.chip_likelihood import class_probabilities

if TYPE_CHECKING:
    from limprob.inference.backprop import Backprop
    from limprob.inference.surrogate_twin import SurrogateTwinConfig

PRIOR_CANDIDATES = 4
"""Prior draws measured beside the model's candidates."""
MODES = "prior, ideal, twin, twin:TRACE or the path of a trace or NIR file"
TWIN_PREFIX = "twin:"
TWIN_PROBES = 64
"""Probe queries of ``init="twin"``: enough for the surrogate-gradient fit to reproduce about
99 % of the probe counts' variance on the built-in data sets' chips (4-16-3 to 64-32-10)."""
TWIN_PROBE_OBS = 128
"""Training inputs each probe of ``init="twin"`` runs (all of them when there are fewer)."""


def check_init(init: str) -> str:
    """``init`` if it has the form of a start (:data:`MODES`); the file itself is read later."""
    if not isinstance(init, str) or not init or init == TWIN_PREFIX:
        raise LimprobError(f"init must be {MODES}, got {init!r}")
    return init


def default_init_seeds(seed: int, chains: int) -> tuple[int, ...]:
    """One backprop seed per chain, derived from the run's ``seed``."""
    state = np.random.SeedSequence([seed, 4]).generate_state(chains)
    return tuple(int(s) % 2**31 for s in state)


@dataclass(frozen=True)
class Candidate:
    """A start: ``label`` (as the trace names it) and its weights."""

    label: str
    w_in: np.ndarray
    w_out: np.ndarray


def _backprop_candidates(
    method_of_seed: Callable[[int], Backprop],
    software_chip: Chip,
    data: Split,
    seeds: Iterable[int],
    label: str,
) -> tuple[list[Candidate], float]:
    """One trained candidate per seed, on ``software_chip`` (a software model: its queries
    are no chip's), and their digital training FLOPs."""
    from limprob.energy.training_run import digital_training_flops

    candidates, flops = [], 0.0
    for seed in seeds:
        tree = method_of_seed(seed).train(software_chip, data)
        weights = cast(xr.DataTree, tree["weights"])
        w_in = cast(xr.DataArray, weights["W_in"]).values
        w_out = cast(xr.DataArray, weights["W_out"]).values
        candidates.append(Candidate(f"{label}_seed{seed}", w_in, w_out))
        flops += digital_training_flops(tree)
    return candidates, flops


def model_candidates(
    init: str,
    chip: Chip,
    data: Split,
    kappa: float,
    seeds: tuple[int, ...],
    twin_fit: SurrogateTwinConfig | None = None,
) -> tuple[list[Candidate], dict]:
    """The candidates ``init`` names, and what making them cost (attributes); ``twin_fit``
    the settings of ``init="twin"``'s fit (default
    :class:`~limprob.inference.surrogate_twin.SurrogateTwinConfig`'s, its seed
    the first backprop seed's)."""
    from limprob.inference.backprop import (
        BackpropConfig,
        IdealModelBackprop,
    )

    def config(seed: int) -> BackpropConfig:
        return BackpropConfig(seed=seed, kappa=kappa)

    if init == "prior":
        return [], {}
    if init not in ("ideal", "twin") and not init.startswith(TWIN_PREFIX):
        w_in, w_out = weights_of_file(init, chip)
        return [Candidate("file", w_in, w_out)], {}
    if chip.network.reset != "subtract":
        raise LimprobError(
            f"the {init!r} start trains by backprop, which needs a network that resets by "
            f"subtraction; the chip's resets to {chip.network.reset}: start from 'prior'"
        )
    candidates: list[Candidate] = []
    fit_attrs: dict = {}
    flops = 0.0
    if init != "ideal":  # the twin's candidates first, its trace read before any training
        if init == "twin":
            twin_chips, fit_attrs = _probed_twin(chip, data, seeds[0], twin_fit)
        else:
            twin_chips, fit_attrs = _twin_of_trace(init[len(TWIN_PREFIX) :], chip)
        for label, twin_chip in twin_chips:
            method = functools.partial(_twin_backprop, twin_chip.distortion, kappa)
            made, cost = _backprop_candidates(method, twin_chip, data, seeds, label)
            candidates += made
            flops += cost
    # The ideal model's own candidates, for a twin start too: on a chip the ideal model
    # describes, a twin's backprop can stall where the ideal model's does not, and the chip
    # then keeps these.
    software = SimulatedChip(chip.n_inputs, chip.n_outputs, chip.network)
    ideal, ideal_flops = _backprop_candidates(
        lambda seed: IdealModelBackprop(config(seed)), software, data, seeds, "ideal"
    )
    return candidates + ideal, {"start_digital_training_flops": flops + ideal_flops, **fit_attrs}


def _twin_backprop(distortion: Distortion, kappa: float, seed: int) -> Backprop:
    """Backprop of seed ``seed`` through a twin's ``distortion``."""
    from limprob.inference.backprop import BackpropConfig, DistortionModelBackprop

    return DistortionModelBackprop(distortion, BackpropConfig(seed=seed, kappa=kappa))


def _software_chips(distortions: list[Distortion], chip: Chip) -> list[tuple[str, ParametricChip]]:
    """One software chip per twin distortion, labelled ``twin`` when there is one and
    ``twin_rK`` for the restarts of a surrogate-gradient twin's fit: each makes its own
    candidates, and the chip chooses. The restart of lowest probe loss is not always the better
    start (a strongly saturating chip's gains and saturation trade off in the probes), so the
    fit does not decide alone."""
    return [
        (
            "twin" if len(distortions) == 1 else f"twin_r{r}",
            ParametricChip(d, chip.n_inputs, chip.n_outputs, chip.network),
        )
        for r, d in enumerate(distortions)
    ]


def _probed_twin(
    chip: Chip, data: Split, seed: int, twin_fit: SurrogateTwinConfig | None = None
) -> tuple[list[tuple[str, ParametricChip]], dict]:
    """``init="twin"``'s software chips: ``chip`` probed on the training inputs, its distortion
    fitted by surrogate gradient (:mod:`limprob.inference.surrogate_twin`), one chip per
    restart of the fit (:func:`_software_chips`); and the attributes saying what that cost and
    how well it fits."""
    from limprob.chip.probes import record_probes_from_table
    from limprob.inference.surrogate_twin import (
        SurrogateTwinConfig,
        fit_surrogate_twin,
        restart_distortions,
    )

    n_obs = min(TWIN_PROBE_OBS, data.train.sizes["obs"])
    before = chip.queries
    probes = record_probes_from_table(chip, data.train, TWIN_PROBES, n_obs, seed=seed)
    queries = chip.queries - before
    config = SurrogateTwinConfig() if twin_fit is None else twin_fit
    fit = fit_surrogate_twin(chip.network, probes, replace(config, seed=seed))
    return _software_chips(restart_distortions(fit), chip), {
        "start_twin_probe_chip_queries": int(queries),
        "start_twin_probe_obs": int(n_obs),
        "start_twin_explained_fraction": float(fit.attrs["explained_fraction"]),
        "start_twin_fit_seconds": float(fit.attrs["wall_seconds"]),
    }


def _twin_of_trace(path: str, chip: Chip) -> tuple[list[tuple[str, ParametricChip]], dict]:
    """``init="twin:TRACE"``'s software chips: a sampled twin's posterior-mean chip, or one per
    restart of a surrogate-gradient twin's fit
    (:func:`~limprob.inference.screening.twin_distortions`); and the probe queries the twin
    cost."""
    from limprob.inference.screening import load_twin_trace, twin_distortions

    tree = load_twin_trace(path, chip.network, chip.n_inputs, chip.n_outputs)
    return _software_chips(twin_distortions(tree), chip), {
        "start_twin_probe_chip_queries": int(tree.attrs.get("training_chip_queries", 0))
    }


def weights_of_file(path: str, chip: Chip) -> tuple[np.ndarray, np.ndarray]:
    """``(W_in, W_out)`` of a NIR graph or of a limprob trace's point estimate (W*), checked
    against the chip's network size; :class:`LimprobError` for a path that is neither, or
    another size."""
    file = Path(path)
    if not file.is_file():
        raise LimprobError(f"--init {path}: not {MODES} (no such file)")
    if file.suffix.lower() == ".nir":
        from limprob.chip.nir import from_nir

        graph = from_nir(file)
        w_in, w_out = graph.w_in, graph.w_out
    else:
        from limprob.inference.evaluation import point_estimate_weights
        from limprob.io import load_trace

        tree = load_trace(file, needs=set())
        if "posterior" in tree.children and "log_likelihood" in tree.children:
            w_in, w_out = point_estimate_weights(
                tree["posterior"].to_dataset(), tree["log_likelihood"].to_dataset(), "mean"
            )
        elif "weights" in tree.children:
            w_in = cast(xr.DataArray, tree["weights"]["W_in"]).values
            w_out = cast(xr.DataArray, tree["weights"]["W_out"]).values
        else:
            raise LimprobError(f"--init {path}: the trace holds no weights")
    h = chip.network.n_hidden
    wanted = (chip.n_inputs, h, chip.n_outputs)
    has = (w_in.shape[0], w_in.shape[1], w_out.shape[-1])
    if w_in.ndim != 2 or w_out.shape != (w_in.shape[1], has[2]) or has != wanted:
        raise LimprobError(
            f"--init {path}: weights of a {'-'.join(map(str, has))} network; "
            f"this run trains {'-'.join(map(str, wanted))}"
        )
    return np.asarray(w_in, dtype=np.float64), np.asarray(w_out, dtype=np.float64)


def prior_candidates(model: pm.Model, count: int, seed: int) -> list[Candidate]:
    """``count`` prior draws of the weights (their own stream, not the chains')."""
    rngs = np.random.default_rng([seed, 5]).spawn(count)
    draws = [{rv.name: pm.draw(rv, random_seed=rng) for rv in model.free_RVs} for rng in rngs]
    return [Candidate(f"prior{i}", d["W_in"], d["W_out"]) for i, d in enumerate(draws)]


def log_likelihood_on_chip(
    chip: Chip, candidate: Candidate, train: xr.Dataset, kappa: float
) -> float:
    """One chip query: the summed training log-likelihood of ``candidate`` (nats)."""
    x = np.ascontiguousarray(train["features"].values, dtype=np.float64)
    y = train["labels"].values.astype(np.int64)
    probability = class_probabilities(
        chip.run(candidate.w_in, candidate.w_out, x), kappa, chip.network.n_steps
    )
    return float(np.sum(np.log(probability[np.arange(y.size), y])))


def rank_starts(
    log_likelihoods: np.ndarray, log_posteriors: np.ndarray, beats_prior: np.ndarray
) -> list[int]:
    """The candidates' indices, best start first: the candidates flagged in ``beats_prior``
    (the model's candidates that beat every prior draw by the log posterior) by their
    log-likelihood on the chip, then all the others (prior draws and the candidates that lost
    to one) by their log posterior; ties by index."""
    passed, rest = np.flatnonzero(beats_prior), np.flatnonzero(~beats_prior)
    return sorted(passed.tolist(), key=lambda i: (-log_likelihoods[i], i)) + sorted(
        rest.tolist(), key=lambda i: (-log_posteriors[i], i)
    )


def choose_starts(
    chip: Chip,
    data: Split,
    model: pm.Model,
    *,
    init: str,
    chains: int,
    seed: int,
    kappa: float,
    init_seeds: tuple[int, ...] | None,
    prior_draws: Callable[[pm.Model, int, int], list[dict]],
    twin_fit: SurrogateTwinConfig | None = None,
) -> tuple[list[dict], dict]:
    """The initial values of each chain (``{"W_in": ..., "W_out": ...}``) and the trace's
    attributes saying where each started and what choosing cost (module docstring).
    ``prior_draws(model, chains, seed)`` gives the ``prior`` mode's starts; ``twin_fit`` the
    settings of ``init="twin"``'s fit (:func:`model_candidates`)."""
    init = check_init(init)
    if init == "prior":
        return prior_draws(model, chains, seed), {
            "init": "prior",
            "start_per_chain": "prior draw",
            "start_selection_chip_queries": 0,
        }
    seeds = tuple(init_seeds) if init_seeds else default_init_seeds(seed, chains)
    made, attrs = model_candidates(init, chip, data, kappa, seeds, twin_fit)
    candidates = made + prior_candidates(model, PRIOR_CANDIDATES, seed)
    before = chip.queries
    likelihoods = np.array([log_likelihood_on_chip(chip, c, data.train, kappa) for c in candidates])
    queries = chip.queries - before
    log_prior = model.compile_logp(vars=model.free_RVs)
    scores = likelihoods + np.array(
        [float(log_prior({"W_in": c.w_in, "W_out": c.w_out})) for c in candidates]
    )
    from_model = np.arange(scores.size) < len(made)
    beats_prior = from_model & (scores > scores[~from_model].max())
    ranked = rank_starts(likelihoods, scores, beats_prior)
    chosen = [ranked[c % len(ranked)] for c in range(chains)]
    initvals = [
        {"W_in": candidates[i].w_in.copy(), "W_out": candidates[i].w_out.copy()} for i in chosen
    ]
    attrs.update(
        {
            "init": init,
            "init_seeds_used": np.asarray(seeds, dtype=np.int64),
            "start_candidates": ", ".join(c.label for c in candidates),
            "start_candidate_log_likelihoods": likelihoods,
            "start_candidate_log_posteriors": scores,
            "start_candidate_beats_prior": beats_prior.astype(np.int8),
            "start_per_chain": ", ".join(candidates[i].label for i in chosen),
            "start_log_likelihood_per_chain": likelihoods[chosen],
            "start_log_posterior_per_chain": scores[chosen],
            "start_selection_chip_queries": int(queries),
        }
    )
    return initvals, attrs
