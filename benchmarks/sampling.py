"""Samplers on a chip-query budget: speed, accuracy and function-space ESS per chip query.

1. Proposals per second of the default step end to end through ``pm.sample`` at the reference
   size (30-16-2, T = 32, 455 training samples, strength 1), beside the time of the bare chip
   query each proposal makes; the sampler's share of a proposal is ``1 - t_query / t_proposal``.
2. For each data set and sampler, one run of 2 chains on the same chip (strength 1, chip seed
   0, data seed 0) up to the largest budget, tuning for ``--tune`` steps per chain and keeping
   every draw. At each budget ``B`` of chip queries (``B / 2`` per chain, counted by
   ``sample_stats.chip_queries``) the draws of the second half of what each chain had done by
   then are scored: test accuracy of the predictive average (20 thinned draws per chain) and of
   W* (the mean of the chain with the higher training log-likelihood), measured on the chip,
   and bulk ESS and R-hat of the summed training log-likelihood (function space).

3. Delayed acceptance through the ideal network on Wisconsin, at strength 0 (where the screen
   is exact) and strength 1: for pCN and the blocked walk, with and without the screen, runs of
   500 to 5,000 steps per chain (half tuning): chip queries, predictive accuracy, the fraction
   screened out and the chip queries saved per accepted move.
4. Subspaces (``--sections subspace``): on each data set at strength 1 (its default network, chip
   seed 0, data seed 0), 4 chains of ``--subspace-tune`` tuning and ``--subspace-draws`` draws each,
   in full space and with ``--subspace`` pca:10, pca:5, readout and random:10 from prior draws, and
   from ideal-model backprop chosen on the chip (``--init ideal``) in full space (``ideal``) and
   with pca:5 (``hybrid``) or pca:K (``hybrid:K``), and from backprop through a twin fitted
   to 64 probe queries (``--init twin``) in full space (``twin``) and with pca:5
   (``twin+pca:5``): predictive test accuracy of the 4 chains
   pooled and of one chain on its own (the mean over chains), and the function-space bulk ESS
   of the summed training log-likelihood from the 4 chains per 10,000 chip queries of the
   sampling phase (full space: the kept draws; a subspace: the whole subspace phase, its tuning
   included), with the full-space phase's own ESS beside it. Each row takes 2 to 7 minutes on
   Wisconsin and about 12 on digits (a 2-core machine shared with other work); choose rows with
   ``--subspace-rows``:

       .venv/bin/python benchmarks/sampling.py --sections subspace --datasets wisconsin \
           --subspace-rows full pca:5

    .venv/bin/python benchmarks/sampling.py [--sections speed budgets delayed subspace]
        [--datasets wisconsin yinyang digits] [--samplers ...]
        [--large-samplers blocked pcn pcn-layers] [--out runs/sampling]

Writes ``OUT.nc`` (dims dataset, sampler, budget) and ``OUT.png`` (accuracy against chip queries,
log x axis, one line per sampler, a panel per data set) and prints one table.
"""

import argparse
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import pymc as pm
import xarray as xr
from arviz_stats import ess, rhat

from limprob.chip import SimulatedChip
from limprob.chip.settings import ChipSettings
from limprob.data import load_dataset, split
from limprob.inference.evaluation import accuracy, evaluate_weights
from limprob.inference.sampling import exact_arithmetic, prior_draws
from limprob.inference.training import (
    EvaluationSettings,
    MCMCSettings,
    TrainConfig,
    make_step,
    train_on_chip,
)
from limprob.io import save_dataset
from limprob.models.chip_in_the_loop import build_model
from limprob.snn import Network

logging.getLogger("pymc").setLevel(logging.ERROR)

BUDGETS = (1000, 2000, 5000, 10000, 20000, 50000)
HIDDEN = {"wisconsin": 16, "yinyang": 30, "digits": 32}
"""Hidden neurons per data set: the reference 30-16-2; 4-30-3 for Yin-Yang; the issue's 64-32-10
for digits."""
MAX_BUDGET = {"wisconsin": 20000, "yinyang": 20000, "digits": 50000}
SAMPLERS = {
    "blocked": dict(sampler="blocked"),
    "pcn": dict(sampler="pcn"),
    "pcn-layers": dict(sampler="pcn", blocks="layers"),
    "slice": dict(sampler="slice"),
    "demcz": dict(sampler="demcz"),
    "pcn-ideal": dict(sampler="pcn", screen="ideal"),
    "blocked-ideal": dict(sampler="blocked", screen="ideal"),
}

LARGE_SAMPLERS = ("blocked", "pcn", "pcn-layers")


def timed_proposals(chip, train, proposals=6000, seed=0):
    """Seconds per proposal of the default step through pm.sample, from the first to the last
    draw (so numba compilation, at the first evaluation, is not counted)."""
    model = build_model(chip, train)
    stamps = []
    step = make_step(model, chip, TrainConfig())
    with model:
        pm.sample(
            draws=proposals // 2,
            tune=proposals // 2,
            chains=1,
            step=step,
            initvals=prior_draws(model, 1, seed),
            random_seed=seed,
            progressbar=False,
            compute_convergence_checks=False,
            callback=lambda trace, draw: stamps.append(time.perf_counter()),
        )
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def timed_query(chip, x, repeats=2000):
    rng = np.random.default_rng(0)
    w_in = rng.normal(size=(chip.n_inputs, chip.network.n_hidden))
    w_out = rng.normal(size=(chip.network.n_hidden, chip.n_outputs))
    chip.run(w_in, w_out, x)
    started = time.perf_counter()
    for _ in range(repeats):
        chip.run(w_in, w_out, x)
    return (time.perf_counter() - started) / repeats


def speed():
    data = split(load_dataset("wisconsin"), seed=0)
    chip = SimulatedChip(30, 2, Network(), strength=1.0, seed=0)
    per_proposal = timed_proposals(chip, data.train)
    per_query = timed_query(chip, data.train["features"].values)
    print(
        f"{TrainConfig().mcmc.sampler} step through pm.sample, 30-16-2, strength 1: "
        f"{1 / per_proposal:,.0f} proposals/s ({per_proposal * 1e6:.0f} us); bare chip query "
        f"{per_query * 1e6:.0f} us; the sampler's and PyMC's share "
        f"{1 - per_query / per_proposal:.0%} ({(per_proposal - per_query) * 1e6:.0f} us)"
    )


@exact_arithmetic
def run(dataset: str, sampler: str, tune: int, seed: int = 0):
    """One run of 2 chains to the data set's largest budget; returns the chip, the test table,
    the draws, the cumulative chip queries and the summed log-likelihood per draw."""
    table = load_dataset(dataset, seed=seed)
    data = split(table, seed=seed)
    network = Network(n_hidden=HIDDEN[dataset])
    chip = SimulatedChip(table.sizes["feature"], table.sizes["class"], network, 1.0, seed)
    config = TrainConfig(network=network, mcmc=MCMCSettings(**SAMPLERS[sampler]))
    model = build_model(chip, data.train)
    step = make_step(model, chip, config, data.train)
    per_chain = MAX_BUDGET[dataset] // 2
    # queries per step: one per block, and several for a slice step
    mcmc = config.mcmc
    per_step = (2 if mcmc.blocks == "layers" else 1) * (6 if mcmc.sampler == "slice" else 1)
    steps = per_chain // per_step
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore")
        tree = pm.sample(
            draws=max(steps - tune, 1),
            tune=min(tune, steps - 1),
            chains=2,
            cores=1,
            step=step,
            initvals=prior_draws(model, 2, seed),
            random_seed=seed,
            progressbar=False,
            compute_convergence_checks=False,
            discard_tuned_samples=False,
        )
    posterior = xr.concat(
        [tree["warmup_posterior"].to_dataset(), tree["posterior"].to_dataset()], dim="draw"
    )
    stats = xr.concat(
        [tree["warmup_sample_stats"].to_dataset(), tree["sample_stats"].to_dataset()], dim="draw"
    )
    pointwise = np.asarray(stats["log_likelihood__y"].values.tolist(), dtype=float)
    pointwise = pointwise.reshape(*stats["chip_queries"].shape, -1)
    return chip, data.test, posterior, stats["chip_queries"].values, pointwise.sum(-1)


def score(chip, test, posterior, queries, log_likelihood, budget: int) -> dict:
    """The scores at ``budget`` chip queries (2 chains): see the module docstring."""
    per_chain = budget // 2
    reached = np.array([np.searchsorted(q, per_chain, side="right") for q in queries])
    if np.any(reached < 4) or np.any(queries[:, -1] < per_chain):
        return {}
    n = int(reached.min())
    window = slice(n // 2, n)
    labels = test["labels"].values
    kappa = TrainConfig().model.kappa
    w_in, w_out = posterior["W_in"].values, posterior["W_out"].values
    thin = np.unique(np.linspace(window.start, window.stop - 1, 20).round().astype(int))
    probabilities = [
        evaluate_weights(chip, w_in[c, d], w_out[c, d], test, kappa) for c in range(2) for d in thin
    ]
    best = int(np.argmax(log_likelihood[:, window].mean(1)))
    w_star = (w_in[best, window].mean(0), w_out[best, window].mean(0))
    ll = xr.DataArray(log_likelihood[:, window], dims=("chain", "draw"))
    return {
        "accuracy_predictive": accuracy(np.mean(probabilities, axis=0), labels),
        "accuracy_w_star": accuracy(evaluate_weights(chip, *w_star, test, kappa), labels),
        "ess_bulk_log_likelihood": float(ess(ll, method="bulk")),
        "rhat_log_likelihood": float(rhat(ll)),
    }


SAMPLER_NAMES = {
    "pcn-layers": "pCN, one step per layer",
    "pcn-ideal": "pCN, screened through the ideal network",
    "blocked-ideal": "blocked random walk, screened through the ideal network",
}
"""This benchmark's sampler variants in words (plain samplers: figure_style.SAMPLER_LABELS)."""


def plot(results: xr.Dataset, path: Path):
    """Test accuracy of the predictive average against the chip-query budget, a panel per data
    set with its chance level (majority class), one line per sampler (one run each, so no
    interval)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from limprob.inference.figure_style import (
        DATASET_LABELS,
        SAMPLER_LABELS,
        accuracy_limits,
        dataset_chance,
        draw_chance,
        save_figure,
    )

    datasets = list(results["dataset"].values)
    fig, axes = plt.subplots(
        1,
        len(datasets),
        figsize=(4.2 * len(datasets), 3.9),
        squeeze=False,
        sharey=True,
        layout="constrained",
    )
    for ax, dataset in zip(axes[0], datasets):
        for sampler in results["sampler"].values:
            line = results["accuracy_predictive"].sel(dataset=dataset, sampler=sampler)
            if line.notnull().any():
                name = SAMPLER_NAMES.get(str(sampler), SAMPLER_LABELS.get(str(sampler), sampler))
                ax.plot(results["budget"], line, marker="o", label=str(name))
        draw_chance(ax, dataset_chance(str(dataset)), label=False, annotate=True)
        ax.set(
            xscale="log",
            xlabel="chip queries (both chains)",
            title=f"{DATASET_LABELS.get(str(dataset), dataset)}, strength 1",
            xticks=list(results["budget"].values),
        )
        ax.set_xticklabels([f"{b // 1000}k" for b in results["budget"].values])
        ax.minorticks_off()
        ax.grid(alpha=0.3)
    accuracy_limits(
        axes[0][0],
        results["accuracy_predictive"].values,
        chance=min(dataset_chance(str(d)) for d in datasets),
    )
    axes[0][0].set_ylabel("test accuracy (predictive average)")
    handles = {
        label: handle for ax in axes[0] for handle, label in zip(*ax.get_legend_handles_labels())
    }
    fig.legend(
        handles.values(),
        handles.keys(),
        loc="outside lower center",
        ncols=min(len(handles), 3),
        fontsize=8,
        frameon=False,
    )
    save_figure(fig, path)


def delayed_acceptance():
    data = split(load_dataset("wisconsin"), seed=0)
    print("delayed acceptance through the ideal network, Wisconsin 30-16-2, 2 chains")
    for strength in (0.0, 1.0):
        for sampler in ("pcn", "blocked"):
            for screen in ("none", "ideal"):
                for steps in (500, 1000, 2500, 5000):
                    config = TrainConfig(
                        chip=ChipSettings(strength=strength),
                        mcmc=MCMCSettings(
                            sampler=sampler, screen=screen, tune=steps // 2, draws=steps // 2
                        ),
                        evaluation=EvaluationSettings(predictive_draws=40),
                    )
                    chip = SimulatedChip(30, 2, config.network, strength, 0)
                    attrs = train_on_chip(chip, data, config, progressbar=False).attrs
                    saved = attrs.get("chip_queries_saved_per_accepted_move", 0.0)
                    print(
                        f"  strength {strength:g} {sampler:8s} screen {screen:6s} "
                        f"{steps:5d} steps/chain: {attrs['training_chip_queries']:6d} queries, "
                        f"predictive {attrs['test_accuracy_predictive']:.3f}, screened out "
                        f"{attrs.get('screened_out_fraction', 0.0):.2f}, queries saved per "
                        f"accepted move {saved:.2f}",
                        flush=True,
                    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="+", default=list(HIDDEN), choices=list(HIDDEN))
    parser.add_argument("--samplers", nargs="+", default=list(SAMPLERS), choices=list(SAMPLERS))
    parser.add_argument(
        "--large-samplers",
        nargs="+",
        default=list(LARGE_SAMPLERS),
        choices=list(SAMPLERS),
        help="the samplers run on yinyang and digits (their queries cost 10-30x Wisconsin's)",
    )
    parser.add_argument("--tune", type=int, default=1000, help="tuning steps per chain")
    parser.add_argument("--out", default="runs/sampling")
    parser.add_argument(
        "--sections",
        nargs="+",
        default=["speed", "budgets", "delayed"],
        choices=["speed", "budgets", "delayed", "subspace"],
    )
    parser.add_argument(
        "--subspace-tune",
        type=int,
        default=2500,
        help="tuning steps per chain of the subspace section (default 2500)",
    )
    parser.add_argument(
        "--subspace-draws",
        type=int,
        default=2500,
        help="draws per chain of the subspace section (default 2500)",
    )
    parser.add_argument(
        "--subspace-rows", nargs="+", default=list(SUBSPACE_ROWS), choices=list(SUBSPACE_ROWS)
    )
    parser.add_argument(
        "--plot-only", action="store_true", help="draw OUT.png again from OUT.nc, run nothing"
    )
    args = parser.parse_args(argv)
    if args.plot_only:
        out = Path(args.out)
        with xr.open_dataset(out.with_suffix(".nc")) as results:
            plot(results.load(), out.with_suffix(".png"))
        return
    if "speed" in args.sections:
        speed()
    if "delayed" in args.sections:
        delayed_acceptance()
    if "budgets" in args.sections:
        budgets(args)
    if "subspace" in args.sections:
        subspaces(args)


def budgets(args):
    names = (
        "accuracy_predictive",
        "accuracy_w_star",
        "ess_bulk_log_likelihood",
        "rhat_log_likelihood",
    )
    shape = (len(args.datasets), len(args.samplers), len(BUDGETS))
    results = xr.Dataset(
        {name: (("dataset", "sampler", "budget"), np.full(shape, np.nan)) for name in names},
        coords={"dataset": args.datasets, "sampler": args.samplers, "budget": list(BUDGETS)},
    )
    print(f"{'data set':10s} {'sampler':14s} " + " ".join(f"{b:>17,d}" for b in BUDGETS))
    for dataset in args.datasets:
        for sampler in args.samplers:
            if dataset != "wisconsin" and sampler not in args.large_samplers:
                continue
            started = time.perf_counter()
            chip, test, posterior, queries, log_likelihood = run(dataset, sampler, args.tune)
            cells = []
            for budget in BUDGETS:
                scores = score(chip, test, posterior, queries, log_likelihood, budget)
                for name, value in scores.items():
                    results[name].loc[dataset, sampler, budget] = value
                cells.append(
                    f"{scores['accuracy_predictive']:.3f}/{scores['accuracy_w_star']:.3f}"
                    f" {scores['ess_bulk_log_likelihood']:5.1f}"
                    if scores
                    else "-"
                )
            print(
                f"{dataset:10s} {sampler:14s} "
                + " ".join(f"{c:>17s}" for c in cells)
                + f"   ({time.perf_counter() - started:.0f} s)",
                flush=True,
            )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    results.attrs.update(
        chip_strength=1.0,
        chip_seed=0,
        data_seed=0,
        chains=2,
        tune_per_chain=args.tune,
        cells="predictive / W* accuracy, bulk ESS",
    )
    save_dataset(results, out.with_suffix(".nc"))
    plot(results, out.with_suffix(".png"))
    print(
        f"cells: predictive accuracy / W* accuracy, function-space bulk ESS of the summed "
        f"training log-likelihood; wrote {out.with_suffix('.nc')} and {out.with_suffix('.png')}"
    )


SUBSPACE_ROWS = {
    "full": dict(subspace="none"),
    "pca:10": dict(subspace="pca:10"),
    "pca:5": dict(subspace="pca:5"),
    "readout": dict(subspace="readout"),
    "random:10": dict(subspace="random:10"),
    "ideal": dict(subspace="none", init="ideal"),
    "hybrid": dict(subspace="pca:5", init="ideal"),
    "hybrid:10": dict(subspace="pca:10", init="ideal"),
    "hybrid:20": dict(subspace="pca:20", init="ideal"),
    "twin": dict(subspace="none", init="twin"),
    "twin+pca:5": dict(subspace="pca:5", init="twin"),
}
"""The rows of the subspace section: the first five from prior draws (``--init prior``), the
next four from ideal-model backprop chosen on the chip (``--init ideal``; ``hybrid`` is the
pca:5 subspace, ``hybrid:K`` the pca:K one), the last two from backprop through a twin fitted
to 64 probe queries (``--init twin``), in full space and in pca:5."""


def chain_accuracies(tree: xr.DataTree) -> np.ndarray:
    """Each chain's own predictive test accuracy (chain,): its thinned draws' class
    probabilities averaged, against the test labels. Full-space chains that sit in different
    modes pool into an ensemble whose accuracy no one chain's posterior has; a subspace holds
    one mode, so its fair full-space reference is a chain on its own."""
    probability = tree["predictions"]["probability"].mean("draw").transpose("chain", "obs", "class")
    labels = tree["predictions_constant_data"]["y"].values
    return np.array([accuracy(chain, labels) for chain in probability.values])


def subspaces(args):
    """Section 4: full space against the subspaces, 4 chains each (module docstring)."""
    from dataclasses import fields

    from limprob.inference.training import train

    known = {f.name for f in fields(MCMCSettings)}
    print(
        f"subspaces, strength 1, 4 chains x ({args.subspace_tune} tune + "
        f"{args.subspace_draws} draws); ESS per 10,000 queries of the sampling phase"
    )
    print(
        f"{'data set':10s} {'row':10s} {'accuracy':>8s} {'one chain':>9s} {'ESS/10k':>8s} "
        f"{'ESS':>7s} {'queries':>8s} {'R-hat':>6s} {'full-space ESS':>15s} {'seconds':>8s}"
    )
    for dataset in args.datasets:
        table = load_dataset(dataset, seed=0)
        for row in args.subspace_rows:
            if not set(SUBSPACE_ROWS[row]) <= known:
                print(
                    f"{dataset:10s} {row:10s} skipped: the sampler settings have no "
                    f"{', '.join(sorted(set(SUBSPACE_ROWS[row]) - known))}"
                )
                continue
            config = TrainConfig.for_dataset(
                dataset,
                mcmc=MCMCSettings(
                    chains=4,
                    tune=args.subspace_tune,
                    draws=args.subspace_draws,
                    **{"init": "prior", **SUBSPACE_ROWS[row]},
                ),
                evaluation=EvaluationSettings(predictive_draws=100),
            )
            started = time.perf_counter()
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore")
                tree = train(config, table, progressbar=False)
            attrs = tree.attrs
            queries = attrs.get("subspace_chip_queries", config.mcmc.chains * config.mcmc.draws)
            ess_bulk = attrs["ess_bulk_log_likelihood"]
            full = attrs.get("full_space_ess_bulk_log_likelihood", np.nan)
            print(
                f"{dataset:10s} {row:10s} {attrs['test_accuracy_predictive']:8.3f} "
                f"{chain_accuracies(tree).mean():9.3f} {ess_bulk * 10000 / queries:8.1f} "
                f"{ess_bulk:7.1f} {queries:8d} "
                f"{attrs['rhat_log_likelihood']:6.3f} {full:15.1f} "
                f"{time.perf_counter() - started:8.0f}",
                flush=True,
            )


if __name__ == "__main__":
    main()
