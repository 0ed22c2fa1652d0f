"""Model comparison and digital twin on simulated chips (limprob issue 5).

On a strength-1 SimulatedChip (30-8-2 network, T = 32, chip seed 0, half the training split):

A. chip descriptions, fitted to the same 16 probes x 32 inputs (16 chip queries): the ideal-chip
   model and twins with more and more distortion families, each by blocked MH (LOO on
   probe_counts, Pareto k) and by SMC (log marginal likelihood, Bayes factors);
B. the joint twin (probes + labels), its weights deployed to the chip, against chip-in-the-loop
   MH at the same number of chip queries and at its usual budget;
C. network widths: chip-in-the-loop MH with 8, 12 and 16 hidden neurons (LOO on the labels y);
D. calibration: SBC of the probe-only twin over chips drawn from its own prior (rank
   chi-square and KS p-values), and where theta lands on the design note's chips (seeds 0-2);
E. the chip population twin (each chip's mismatch integrated out by a synthetic likelihood):
   coverage of the design note's chips' true global distortion (seeds 0-2), and its own SBC.

Writes results/model_comparison.{md,nc,png} and the traces under results/model_comparison/.
    .venv/bin/python analyses/model_comparison.py            # about 13 minutes on 2 cores
    .venv/bin/python analyses/model_comparison.py --replot   # the figure, from the saved .nc
"""

from __future__ import annotations

import argparse
import logging
import time
import warnings
from pathlib import Path

import numpy as np
import xarray as xr
from arviz import ess, rhat
from scipy import stats

from limprob.chip import (
    Distortion,
    ParametricChip,
    SimulatedChip,
    hidden_distortion,
    represented_truth,
)
from limprob.chip.distortion import GLOBALS as POPULATION_GLOBALS
from limprob.chip.probes import record_probes_from_table
from limprob.data import load_table, split
from limprob.inference import EvaluationSettings, MCMCSettings, TrainConfig, train_on_chip
from limprob.inference.compare import compare_traces
from limprob.inference.figure_style import family_label
from limprob.inference.plots import save_elpd_comparison
from limprob.io import save_trace
from limprob.models.chip_population import POPULATION_PRIORS
from limprob.models.chip_twin import COUNT_SIGMA_PRIOR, PRIOR_SCALES
from limprob.snn import Network
from limprob.twin import PopulationConfig, TwinConfig, fit_population, fit_twin, fit_twin_smc

RESULTS = Path(__file__).parent / "results"
TRACES = RESULTS / "model_comparison"
FAMILY_LADDER = {
    "ideal": (),
    "sat": ("saturation",),
    "sat+gain": ("saturation", "gain"),
    "sat+gain+leak": ("saturation", "gain", "leak"),
    "sat+gain+leak+thr_mm": ("saturation", "gain", "leak", "threshold_mismatch"),
}
GLOBALS = ("inverse_w_sat", "log_gain", "log_leak")
WIDTHS = (8, 12, 16)
log = logging.getLogger("model_comparison")


def save_ladder_plot(loo, path):
    """Part A's figure: each chip description's LOO ELPD on the probe counts minus the best
    one's, with one standard error; ``loo`` has one row per :data:`FAMILY_LADDER` name."""
    table = loo.rename(index={name: family_label(FAMILY_LADDER[name]) for name in loo.index})
    table.attrs = {**loo.attrs, "var_name": "the probe counts"}
    return save_elpd_comparison(
        table,
        path,
        "Which chip description do 16 probe queries support?\n"
        "Chip twins fitted by blocked MH, compared by PSIS-LOO",
    )


def replot(results=RESULTS):
    """Redraw ``model_comparison.png`` from ``model_comparison.nc``, fitting nothing."""
    import pandas as pd

    with xr.open_dataset(results / "model_comparison.nc") as saved:
        loo = pd.DataFrame(
            {
                "elpd": saved["elpd_loo"].values,
                "se": saved["elpd_se"].values,
                "elpd_diff": saved["elpd_diff"].values,
                "dse": saved["elpd_dse"].values,
                "pareto_k_max": saved["pareto_k_max"].values,
            },
            index=[str(m) for m in saved["model"].values],
        )
    return save_ladder_plot(loo, results / "model_comparison.png")


def coverage_array(rows, column):
    """One column of the population coverage rows as (chip_seed, global)."""
    return np.array([[row[column] for row in rows if row[0] == seed] for seed in (0, 1, 2)])


def interval(posterior, name, prob=0.94):
    values = posterior[name].values.ravel()
    return np.quantile(values, [(1 - prob) / 2, 0.5, (1 + prob) / 2])


def part_a(net, chip, probes, args):
    rows, paths = [], {}
    for method, fit in (("mh", fit_twin), ("smc", fit_twin_smc)):
        for name, families in FAMILY_LADDER.items():
            if method == "smc" and "threshold_mismatch" in families:
                continue  # 20 more dimensions: SMC's IMH kernel is not worth it here
            config = (
                TwinConfig(families, draws=args.draws, tune=args.tune, chains=2, seed=0)
                if method == "mh"
                else TwinConfig(families, draws=args.particles, chains=2)
            )
            started = time.perf_counter()
            tree = fit(net, probes, None, config)
            path = save_trace(tree, TRACES / f"probes_{method}_{name}.nc")
            paths[(method, name)] = path
            log.info("A %s %s: %.0f s", method, name, time.perf_counter() - started)
            rows.append((method, name, time.perf_counter() - started, tree))
    return rows, paths


def part_b(net, chip, probes, data, args):
    config = TwinConfig(
        FAMILY_LADDER["sat+gain+leak"], draws=args.draws, tune=args.joint_tune, chains=2, seed=0
    )
    started = time.perf_counter()
    twin = fit_twin(net, probes, data, config, deploy_to=chip)
    twin.attrs["wall_seconds_total"] = time.perf_counter() - started
    save_trace(twin, TRACES / "joint_twin.nc")
    queries = int(twin.attrs["training_chip_queries"])
    same_queries = TrainConfig(
        network=Network(n_hidden=net.n_hidden),
        mcmc=MCMCSettings(draws=queries // 2, tune=queries - queries // 2 - 1, chains=1),
        evaluation=EvaluationSettings(predictive_draws=10),
    )
    same = train_on_chip(chip, data, same_queries, progressbar=False)
    save_trace(same, TRACES / "mh_same_queries.nc")
    full = train_on_chip(
        chip,
        data,
        TrainConfig(
            network=Network(n_hidden=net.n_hidden),
            mcmc=MCMCSettings(draws=args.mh_draws, tune=args.mh_tune, chains=2),
            evaluation=EvaluationSettings(predictive_draws=20),
        ),
        progressbar=False,
    )
    save_trace(full, TRACES / "mh_h8.nc")
    return twin, same, full


def part_c(data, full_h8, args):
    paths = {8: TRACES / "mh_h8.nc"}
    for hidden in (12, 16):
        chip = SimulatedChip(30, 2, Network(hidden), 1.0, 0)
        tree = train_on_chip(
            chip,
            data,
            TrainConfig(
                network=Network(n_hidden=hidden),
                mcmc=MCMCSettings(draws=args.mh_draws, tune=args.mh_tune, chains=2),
                evaluation=EvaluationSettings(predictive_draws=20),
            ),
            progressbar=False,
        )
        paths[hidden] = save_trace(tree, TRACES / f"mh_h{hidden}.nc")
    return paths


def sbc(data, args):
    """Chips drawn from the probe-only twin's prior (with Gaussian read noise of the prior's
    count_sigma); rank of the true theta among thinned posterior draws."""
    net = Network(n_hidden=4)
    rng = np.random.default_rng(2024)
    families = FAMILY_LADDER["sat+gain+leak"]
    ranks = {name: [] for name in (*GLOBALS, "count_sigma")}
    n_keep = 0
    for rep in range(args.sbc_reps):
        truth = {
            "inverse_w_sat": abs(rng.normal(0, PRIOR_SCALES["inverse_w_sat"])),
            "log_gain": rng.normal(0, PRIOR_SCALES["log_gain"]),
            "log_leak": rng.normal(0, PRIOR_SCALES["log_leak"]),
            "count_sigma": abs(rng.normal(0, COUNT_SIGMA_PRIOR)),
        }
        chip = ParametricChip(
            Distortion(truth["inverse_w_sat"], truth["log_gain"], truth["log_leak"]),
            30,
            2,
            net,
            read_noise=truth["count_sigma"],
            seed=rep,
        )
        probes = record_probes_from_table(chip, data.train, 8, 16, seed=rep)
        tree = fit_twin(
            net,
            probes,
            None,
            TwinConfig(families, draws=args.sbc_draws, tune=args.sbc_draws, chains=1, seed=rep),
        )
        n_keep = record_ranks(tree, truth, ranks, args.sbc_thin)
        log.info("SBC %d: %s", rep, {k: v[-1] for k, v in ranks.items()})
    return rank_report(ranks, n_keep), n_keep


def misspecified(data, args):
    net = Network(n_hidden=8)
    out = []
    for seed in (0, 1, 2):
        chip = SimulatedChip(30, 2, net, 1.0, seed)
        probes = record_probes_from_table(chip, data.train, 16, 32, seed=0)
        tree = fit_twin(
            net,
            probes,
            None,
            TwinConfig(
                FAMILY_LADDER["sat+gain+leak"],
                draws=args.draws,
                tune=args.tune,
                chains=2,
                seed=seed,
            ),
        )
        truth = represented_truth(chip)
        for name in GLOBALS:
            low, mid, high = interval(tree["posterior"], name)
            out.append((seed, name, truth[name], low, mid, high))
    return out


def record_ranks(tree, truth: dict, ranks: dict, thin: int) -> int:
    """Append, for each parameter in ``ranks``, the rank of its true value among every
    ``thin``-th posterior draw; return the number of draws kept."""
    thinned = tree["posterior"].isel(draw=slice(None, None, thin))
    for name in ranks:
        ranks[name].append(int((thinned[name].values.ravel() < truth[name]).sum()))
    return thinned.sizes["draw"]


def rank_report(ranks: dict, n_keep: int) -> dict:
    """Rank chi-square (4 bins) and KS p-values of SBC ranks out of ``n_keep`` draws."""
    report = {}
    for name, values in ranks.items():
        values = np.asarray(values)
        u = (values + 0.5) / (n_keep + 1)
        counts, _ = np.histogram(u, bins=4, range=(0, 1))
        report[name] = {
            "ranks": values,
            "chi2_p": float(stats.chisquare(counts).pvalue),
            "ks_p": float(stats.kstest(u, "uniform").pvalue),
        }
    return report


def population_coverage(data, args):
    """The population twin on the design note's strength-1 chips: 94 % intervals of the six
    globals against the chip's true values (exact: the chip is a member of the family)."""
    net = Network(n_hidden=8)
    out = []
    for seed in (0, 1, 2):
        chip = SimulatedChip(30, 2, net, 1.0, seed)
        probes = record_probes_from_table(chip, data.train, 16, 32, seed=0)
        started = time.perf_counter()
        tree = fit_population(
            net,
            probes,
            PopulationConfig(
                draws=args.population_draws,
                tune=args.population_tune,
                chains=args.population_chains,
                seed=seed,
                n_chips=args.population_chips,
            ),
        )
        save_trace(tree, TRACES / f"population_chip{seed}.nc")
        truth = hidden_distortion(chip).globals()
        posterior = tree["posterior"].to_dataset()
        r_hat, n_eff = rhat(posterior), ess(posterior)
        for name in POPULATION_GLOBALS:
            low, mid, high = interval(posterior, name)
            prior_low, prior_high = prior_interval(name)
            out.append(
                (
                    seed,
                    name,
                    truth[name],
                    low,
                    mid,
                    high,
                    bool(low <= truth[name] <= high),
                    (high - low) / (prior_high - prior_low),
                    float(r_hat[name]),
                    float(n_eff[name]),
                )
            )
        log.info("E chip %d: %.0f s", seed, time.perf_counter() - started)
    return out


def prior_interval(name, prob=0.94):
    family, scale = POPULATION_PRIORS[name]
    dist = stats.halfnorm(scale=scale) if family == "HalfNormal" else stats.norm(scale=scale)
    return dist.ppf((1 - prob) / 2), dist.ppf((1 + prob) / 2)


def population_sbc(data, args):
    """SBC of the population twin: chips drawn from its own prior (globals, then every
    synapse's and neuron's z), 30-4-2, 8 probes x 16 inputs, no read noise."""
    net = Network(n_hidden=4)
    rng = np.random.default_rng(2025)
    ranks = {name: [] for name in POPULATION_GLOBALS}
    n_keep = 0
    for rep in range(args.sbc_reps):
        truth = {
            name: abs(rng.normal(0, scale)) if family == "HalfNormal" else rng.normal(0, scale)
            for name, (family, scale) in POPULATION_PRIORS.items()
        }
        distortion = Distortion(
            **truth,
            threshold_z=rng.standard_normal(6),
            gain_z_in=rng.standard_normal((30, 4)),
            gain_z_out=rng.standard_normal((4, 2)),
            leak_z=rng.standard_normal(6),
        )
        chip = ParametricChip(distortion, 30, 2, net, seed=rep)
        probes = record_probes_from_table(chip, data.train, 8, 16, seed=rep)
        tree = fit_population(
            net,
            probes,
            PopulationConfig(
                draws=args.population_sbc_draws,
                tune=args.population_sbc_draws,
                chains=1,
                seed=rep,
                n_chips=args.population_chips,
                n_groups=2,
            ),
        )
        n_keep = record_ranks(tree, truth, ranks, args.sbc_thin)
        log.info("E SBC %d: %s", rep, {k: v[-1] for k, v in ranks.items()})
    return rank_report(ranks, n_keep), n_keep


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--replot",
        action="store_true",
        help="redraw the figure from results/model_comparison.nc, fitting nothing",
    )
    parser.add_argument("--draws", type=int, default=600)
    parser.add_argument("--tune", type=int, default=600)
    parser.add_argument("--joint-tune", type=int, default=2000)
    parser.add_argument("--particles", type=int, default=300)
    parser.add_argument("--mh-draws", type=int, default=500)
    parser.add_argument("--mh-tune", type=int, default=1500)
    parser.add_argument("--sbc-reps", type=int, default=20)
    parser.add_argument("--sbc-draws", type=int, default=600)
    parser.add_argument("--sbc-thin", type=int, default=6)
    parser.add_argument("--population-draws", type=int, default=3000)
    parser.add_argument("--population-tune", type=int, default=3000)
    parser.add_argument("--population-chains", type=int, default=4)
    parser.add_argument("--population-chips", type=int, default=64)
    parser.add_argument("--population-sbc-draws", type=int, default=600)
    args = parser.parse_args(argv)
    if args.replot:
        print(f"redrew {replot()}")
        return
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    for name in ("pymc", "pymc.sampling.mcmc", "pymc.smc"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")
    TRACES.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    data = split(load_table(), seed=0, train_fraction=0.5)
    net = Network(n_hidden=8)
    chip = SimulatedChip(30, 2, net, 1.0, 0)
    probes = record_probes_from_table(chip, data.train, 16, 32, seed=0)
    probes.to_netcdf(TRACES / "probes.nc")
    truth = represented_truth(chip)

    rows, paths = part_a(net, chip, probes, args)
    mh_names = [n for (m, n) in paths if m == "mh"]
    loo = compare_traces([paths[("mh", n)] for n in mh_names], mh_names, "probe_counts")
    smc_names = [n for (m, n) in paths if m == "smc"]
    smc = compare_traces([paths[("smc", n)] for n in smc_names], smc_names, "probe_counts")
    save_ladder_plot(loo, RESULTS / "model_comparison.png")
    log.info("A done at %.0f s", time.perf_counter() - started)

    twin, same, full = part_b(net, chip, probes, data, args)
    log.info("B done at %.0f s", time.perf_counter() - started)
    width_paths = part_c(data, full, args)
    widths = compare_traces([width_paths[h] for h in WIDTHS], [f"H={h}" for h in WIDTHS], "y")
    log.info("C done at %.0f s", time.perf_counter() - started)
    calibration, n_keep = sbc(data, args)
    log.info("SBC done at %.0f s", time.perf_counter() - started)
    landing = misspecified(data, args)
    log.info("D done at %.0f s", time.perf_counter() - started)
    population = population_coverage(data, args)
    population_calibration, population_keep = population_sbc(data, args)
    total = time.perf_counter() - started

    coverage = {}
    full_twin = [t for (m, n, _, t) in rows if m == "mh" and n == "sat+gain+leak"][0]
    for name in GLOBALS:
        low, mid, high = interval(full_twin["posterior"], name)
        coverage[name] = (truth[name], low, mid, high, bool(low <= truth[name] <= high))

    ideal_vs = loo.loc["ideal"]
    result = xr.Dataset(
        {
            "elpd_loo": ("model", loo["elpd"].reindex(mh_names).values),
            "elpd_se": ("model", loo["se"].reindex(mh_names).values),
            "elpd_diff": ("model", loo["elpd_diff"].reindex(mh_names).values),
            "elpd_dse": ("model", loo["dse"].reindex(mh_names).values),
            "pareto_k_max": ("model", loo["pareto_k_max"].reindex(mh_names).values),
            "log_marginal_likelihood": (
                "model",
                smc["log_marginal_likelihood"].reindex(mh_names).values,
            ),
            "width_elpd_loo": ("width", widths["elpd"].reindex([f"H={h}" for h in WIDTHS]).values),
            "width_elpd_se": ("width", widths["se"].reindex([f"H={h}" for h in WIDTHS]).values),
            "sbc_rank": (
                ("parameter", "replication"),
                np.array([calibration[n]["ranks"] for n in calibration]),
            ),
            "sbc_chi2_p": ("parameter", [calibration[n]["chi2_p"] for n in calibration]),
            "sbc_ks_p": ("parameter", [calibration[n]["ks_p"] for n in calibration]),
            "population_truth": (("chip_seed", "global"), coverage_array(population, 2)),
            "population_low": (("chip_seed", "global"), coverage_array(population, 3)),
            "population_median": (("chip_seed", "global"), coverage_array(population, 4)),
            "population_high": (("chip_seed", "global"), coverage_array(population, 5)),
            "population_covered": (("chip_seed", "global"), coverage_array(population, 6)),
            "population_sbc_rank": (
                ("global", "replication"),
                np.array([population_calibration[n]["ranks"] for n in POPULATION_GLOBALS]),
            ),
            "population_sbc_chi2_p": (
                "global",
                [population_calibration[n]["chi2_p"] for n in POPULATION_GLOBALS],
            ),
            "population_sbc_ks_p": (
                "global",
                [population_calibration[n]["ks_p"] for n in POPULATION_GLOBALS],
            ),
        },
        coords={
            "model": mh_names,
            "width": list(WIDTHS),
            "parameter": list(calibration),
            "replication": np.arange(args.sbc_reps),
            "chip_seed": [0, 1, 2],
            "global": list(POPULATION_GLOBALS),
        },
        attrs={
            "twin_test_accuracy": twin.attrs["test_accuracy_posterior_mean"],
            "twin_chip_queries": twin.attrs["training_chip_queries"],
            "mh_same_queries_test_accuracy": same.attrs["test_accuracy_posterior_mean"],
            "mh_same_queries_chip_queries": same.attrs["training_chip_queries"],
            "mh_full_test_accuracy": full.attrs["test_accuracy_posterior_mean"],
            "mh_full_chip_queries": full.attrs["training_chip_queries"],
            "sbc_posterior_draws_kept": n_keep,
            "population_sbc_posterior_draws_kept": population_keep,
            "wall_seconds": total,
        },
    )
    result.to_netcdf(RESULTS / "model_comparison.nc")

    def table(frame, columns):
        head = "| model | " + " | ".join(columns) + " |\n|" + " --- |" * (len(columns) + 1)
        body = "\n".join(
            f"| {name} | "
            + " | ".join(
                "" if not np.isfinite(float(row[c])) else f"{float(row[c]):.4g}" for c in columns
            )
            + " |"
            for name, row in frame.iterrows()
        )
        return head + "\n" + body

    cols = ["elpd", "se", "elpd_diff", "dse", "p", "weight", "pareto_k_max", "pareto_k_bad"]
    lines = [
        "# Model comparison and digital twin (strength-1 chip, 30-8-2, T = 32, chip seed 0)",
        "",
        f"Total wall time {total:.0f} s. Probes: 16 weight sets x 32 inputs = 16 chip queries.",
        "",
        "## A. Chip descriptions: LOO on probe_counts (blocked MH, 2 x "
        f"{args.draws} draws after {args.tune} tuning)",
        "",
        table(loo, cols),
        "",
        f"ideal-chip model vs sat+gain+leak: elpd_diff = {ideal_vs['elpd_diff']:.1f}, "
        f"dse = {ideal_vs['dse']:.1f} ({abs(ideal_vs['elpd_diff']) / ideal_vs['dse']:.0f} SE).",
        "",
        f"## A. SMC evidence ({args.particles} particles x 2 chains)",
        "",
        table(smc, ["log_marginal_likelihood", "log10_bayes_factor", "elpd", "pareto_k_max"]),
        "",
        "## Coverage of the chip's global distortion "
        "(94 % interval, probe-only twin sat+gain+leak)",
        "",
        "| parameter | truth (represented) | 3 % | median | 97 % | covered |",
        "| --- | --- | --- | --- | --- | --- |",
        *[
            f"| {n} | {t:.3f} | {lo:.3f} | {mid:.3f} | {hi:.3f} | {c} |"
            for n, (t, lo, mid, hi, c) in coverage.items()
        ],
        "",
        "## B. Deployment",
        "",
        "| training | chip queries | test accuracy on the chip (W*) |",
        "| --- | --- | --- |",
        f"| twin (sat+gain+leak, probes + labels) | {twin.attrs['training_chip_queries']} probes "
        f"+ 1 deployment | {twin.attrs['test_accuracy_posterior_mean']:.3f} |",
        f"| chip-in-the-loop MH, same queries | {same.attrs['training_chip_queries']} | "
        f"{same.attrs['test_accuracy_posterior_mean']:.3f} |",
        f"| chip-in-the-loop MH, usual budget | {full.attrs['training_chip_queries']} | "
        f"{full.attrs['test_accuracy_posterior_mean']:.3f} |",
        "",
        "## C. Network widths: LOO on y (chip-in-the-loop MH)",
        "",
        table(widths, cols),
        "",
        f"## D. SBC ({args.sbc_reps} chips from the twin's prior, 30-4-2, 8 probes x 16 inputs, "
        f"read noise = count_sigma; {n_keep} thinned draws)",
        "",
        "| parameter | chi-square p (4 bins) | KS p |",
        "| --- | --- | --- |",
        *[f"| {n} | {c['chi2_p']:.3f} | {c['ks_p']:.3f} |" for n, c in calibration.items()],
        "",
        "## D. Misspecified chips (strength 1, seeds 0-2): where theta lands",
        "",
        "| chip seed | parameter | truth | 3 % | median | 97 % |",
        "| --- | --- | --- | --- | --- | --- |",
        *[
            f"| {s} | {n} | {t:.3f} | {lo:.3f} | {mid:.3f} | {hi:.3f} |"
            for s, n, t, lo, mid, hi in landing
        ],
        "",
        "## E. Chip population twin: coverage of the true global distortion (strength 1)",
        "",
        f"Synthetic likelihood over {args.population_chips} simulated chips, 8 summaries of the "
        f"same 16 probes x 32 inputs; blocked MH with adaptive covariance, "
        f"{args.population_chains} x {args.population_draws} draws after "
        f"{args.population_tune} tuning. Width is the 94 % "
        "interval's width over the prior's.",
        "",
        "| chip seed | parameter | truth | 3 % | median | 97 % | covered | width / prior | r_hat "
        "| ess |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
        *[
            f"| {s} | {n} | {t:.3f} | {lo:.3f} | {mid:.3f} | {hi:.3f} | {c} | {w:.2f} | "
            f"{r:.2f} | {e:.0f} |"
            for s, n, t, lo, mid, hi, c, w, r, e in population
        ],
        "",
        f"covered: {sum(row[6] for row in population)} of {len(population)}",
        "",
        f"## E. SBC of the population twin ({args.sbc_reps} chips from its prior, 30-4-2, 8 "
        f"probes x 16 inputs, {population_keep} thinned draws)",
        "",
        "| parameter | chi-square p (4 bins) | KS p |",
        "| --- | --- | --- |",
        *[
            f"| {n} | {c['chi2_p']:.3f} | {c['ks_p']:.3f} |"
            for n, c in population_calibration.items()
        ],
    ]
    (RESULTS / "model_comparison.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
