"""The population twin learns a noisy, quantised chip's noise level and weight resolution
(limprob issue 12, item 6 and its third target).

Chips: strength 1, membrane noise 0.1 (units of the threshold), 6-bit weights over [-2, 2],
30-8-2, T = 32, chip seeds 0, 1, 2; 16 probes x 32 inputs of half the training split each
(``limprob probe``'s settings). The twin learns the noise as a seventh global
(``PopulationConfig(learn_noise=True)``), with 32 simulated chips per evaluation.

A. Weight bits: on chip seed 0, the twin fitted under 4, 6 and 8 bits and continuous weights,
   compared by the evidence of its synthetic likelihood (``limprob.twin.weight_bits``).
B. Noise: on chip seeds 0, 1 and 2, the twin under the chosen resolution (seed 0 reuses A's
   fit); the 94 % interval of every parameter against the chip's truth.

Writes results/twin_noise.{nc,md} and the fits under results/twin_noise/.
    .venv/bin/python analyses/twin_noise.py              # about 35 minutes on 2 shared cores
    .venv/bin/python analyses/twin_noise.py --quick      # a smoke run into runs/twin_noise_quick
    .venv/bin/python analyses/twin_noise.py --reuse-fits # again from the saved fits
"""

from __future__ import annotations

import argparse
import logging
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import xarray as xr
from arviz import ess, rhat

from limprob.chip import SimulatedChip, hidden_distortion
from limprob.chip.probes import record_probes_from_table
from limprob.data import load_table, split
from limprob.io import save_dataset, save_trace
from limprob.snn import Network
from limprob.twin import PopulationConfig, fit_population
from limprob.twin.weight_bits import CANDIDATES, compare_fits, label

RESULTS = Path(__file__).parent / "results"
NOISE, WEIGHT_BITS, STRENGTH, SEEDS = 0.1, 6, 1.0, (0, 1, 2)
PARAMETERS = (
    "inverse_w_sat",
    "log_gain",
    "log_leak",
    "gain_spread",
    "threshold_spread",
    "leak_spread",
    "noise",
)
log = logging.getLogger("twin_noise")


def interval(posterior: xr.Dataset, name: str, prob: float = 0.94) -> np.ndarray:
    """The equal-tailed ``prob`` interval and median of ``name``: (low, median, high)."""
    return np.quantile(posterior[name].values.ravel(), [(1 - prob) / 2, 0.5, (1 + prob) / 2])


def coverage(tree: xr.DataTree, truth: dict) -> xr.Dataset:
    """Each parameter's truth, 94 % interval, whether it covers the truth, R-hat and bulk ESS
    (dim parameter)."""
    posterior = tree["posterior"].to_dataset()
    r_hat, n_eff = rhat(posterior), ess(posterior)
    low, median, high = np.array([interval(posterior, n) for n in PARAMETERS]).T
    values = np.array([truth[n] for n in PARAMETERS])
    return xr.Dataset(
        {
            "truth": ("parameter", values),
            "low": ("parameter", low),
            "median": ("parameter", median),
            "high": ("parameter", high),
            "covered": ("parameter", (low <= values) & (values <= high)),
            "r_hat": ("parameter", [float(r_hat[n]) for n in PARAMETERS]),
            "ess_bulk": ("parameter", [float(n_eff[n]) for n in PARAMETERS]),
        },
        coords={"parameter": list(PARAMETERS)},
    )


def chip_and_probes(seed: int, train):
    net = Network(n_hidden=8)
    chip = SimulatedChip(30, 2, net, STRENGTH, seed, noise=NOISE, weight_bits=WEIGHT_BITS)
    return net, chip, record_probes_from_table(chip, train, 16, 32, seed=0)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--draws", type=int, default=300)
    parser.add_argument("--tune", type=int, default=300)
    parser.add_argument("--chips", type=int, default=32)
    parser.add_argument("--proposals", type=int, default=200)
    parser.add_argument("--quick", action="store_true", help="a smoke run: few draws")
    parser.add_argument(
        "--reuse-fits",
        action="store_true",
        help="read the fits a previous run saved instead of sampling again",
    )
    args = parser.parse_args()
    results = RESULTS
    if args.quick:
        args.draws, args.tune, args.chips, args.proposals = 20, 20, 16, 16
        results = Path("runs") / "twin_noise_quick"
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    started = time.perf_counter()
    train = split(load_table(), seed=0, train_fraction=0.5).train
    traces = results / "twin_noise"
    traces.mkdir(parents=True, exist_ok=True)

    def fit_or_load(path: Path, config: PopulationConfig) -> xr.DataTree:
        """The fit of ``config`` on this chip's probes, or, with --reuse-fits, the one saved."""
        if args.reuse_fits and path.exists():
            with xr.open_datatree(path, engine="netcdf4") as stored:
                return stored.load()
        at = time.perf_counter()
        tree = fit_population(net, probes, config)
        save_trace(tree, path)
        log.info("%s in %.0f s", path.name, time.perf_counter() - at)
        return tree

    fits, truths = {}, {}
    for seed in SEEDS:
        net, chip, probes = chip_and_probes(seed, train)
        truths[seed] = {**hidden_distortion(chip).globals(), "noise": NOISE}
        config = PopulationConfig(
            n_chips=args.chips,
            learn_noise=True,
            draws=args.draws,
            tune=args.tune,
            chains=2,
            seed=seed,
        )
        if seed == SEEDS[0]:
            trees = {
                label(bits): fit_or_load(
                    traces / f"chip{seed}_bits{label(bits)}.nc", replace(config, weight_bits=bits)
                )
                for bits in CANDIDATES
            }
            choice = compare_fits(net, probes, config, trees, args.proposals)
            save_dataset(choice.table, traces / "weight_bits_comparison.nc")
            log.info("A: chose %s", label(choice.chosen))
            fits[seed] = trees[label(choice.chosen)]
        else:
            fits[seed] = fit_or_load(
                traces / f"chip{seed}_bits{label(choice.chosen)}.nc",
                replace(config, weight_bits=choice.chosen),
            )
    write_results(
        results, fits, truths, choice.table, choice.trees, args, time.perf_counter() - started
    )


def write_results(
    results: Path, fits: dict, truths: dict, table: xr.Dataset, trees: dict, args, total: float
) -> None:
    """results/twin_noise.nc (the coverage over chip_seed and parameter, the evidence over
    weight_bits, each candidate's noise interval) and results/twin_noise.md."""
    covered = xr.concat([coverage(fits[s], truths[s]) for s in SEEDS], "chip_seed")
    covered = covered.assign_coords(chip_seed=list(SEEDS))
    candidates = (
        xr.concat(
            [
                coverage(t, truths[SEEDS[0]]).sel(parameter="noise", drop=True)
                for t in trees.values()
            ],
            "weight_bits",
        )
        .assign_coords(weight_bits=list(trees))
        .sel(weight_bits=table["weight_bits"].values)
    )
    result = xr.Dataset(
        {
            **{f"coverage_{k}": v for k, v in covered.data_vars.items()},
            **{f"evidence_{k}": v for k, v in table.data_vars.items()},
            **{f"candidate_noise_{k}": v for k, v in candidates.data_vars.items()},
        },
        attrs={
            "chip_strength": STRENGTH,
            "chip_noise": NOISE,
            "chip_weight_bits": WEIGHT_BITS,
            "chosen_weight_bits": table.attrs["chosen"],
            "choice_decisive": table.attrs["decisive"],
            "draws": args.draws,
            "tune": args.tune,
            "chains": 2,
            "n_chips": args.chips,
            "proposals": args.proposals,
            "wall_seconds": total,
            "fits_reused": int(args.reuse_fits),
        },
    )
    save_dataset(result, results / "twin_noise.nc")
    (results / "twin_noise.md").write_text(report(covered, table, candidates, args, total))
    log.info("wrote %s in %.0f s", results / "twin_noise.md", total)


def report(
    covered: xr.Dataset, table: xr.Dataset, candidates: xr.Dataset, args, total: float
) -> str:
    noise = covered.sel(parameter="noise")
    title = (
        f"# The population twin on noisy, quantised chips (strength {STRENGTH:g}, noise "
        f"{NOISE:g}, {WEIGHT_BITS}-bit weights, 30-8-2, T = 32)"
    )
    reused = " (the fits read from an earlier run's files)" if args.reuse_fits else ""
    settings = (
        f"Total wall time {total:.0f} s{reused}. Each fit: {args.chips} simulated "
        f"chips per evaluation, 2 chains x {args.draws} draws after {args.tune} "
        f"tuning; evidence from {args.proposals} importance-sampling proposals."
    )
    lines = [
        title,
        "",
        settings,
        "",
        "## A. Weight bits chosen by evidence (chip seed 0)",
        "",
        (
            "| weight bits | log evidence | se | Pareto k | IS ESS | log10 Bayes factor "
            "| posterior probability | noise 3 % | noise median | noise 97 % |"
        ),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for name in table["weight_bits"].values:
        row, c = table.sel(weight_bits=name), candidates.sel(weight_bits=name)
        lines.append(
            f"| {name} | {float(row['log_evidence']):.2f} | {float(row['log_evidence_se']):.2f} | "
            f"{float(row['pareto_k']):.2f} | {float(row['importance_ess']):.0f} | "
            f"{float(row['log10_bayes_factor']):.2f} | {float(row['posterior_probability']):.3f} | "
            f"{float(c['low']):.3f} | {float(c['median']):.3f} | {float(c['high']):.3f} |"
        )
    decisive = "decisive" if table.attrs["decisive"] else "not decisive"
    chosen = f"chosen: {table.attrs['chosen']} ({decisive}; the chip has {WEIGHT_BITS}-bit weights)"
    lines += [
        "",
        chosen,
        "",
        f"## B. Noise: 94 % intervals (truth {NOISE:g}) under the chosen resolution",
        "",
        "| chip seed | 3 % | median | 97 % | covered | r_hat | ess_bulk |",
        "| --- | --- | --- | --- | --- | --- | --- |",
    ]
    for seed in covered["chip_seed"].values:
        r = noise.sel(chip_seed=seed)
        lines.append(
            f"| {seed} | {float(r['low']):.3f} | {float(r['median']):.3f} | "
            f"{float(r['high']):.3f} | {bool(r['covered'])} | {float(r['r_hat']):.2f} | "
            f"{float(r['ess_bulk']):.0f} |"
        )
    count = f"noise covered on {int(noise['covered'].sum())} of {noise.sizes['chip_seed']} chips"
    lines += [
        "",
        count,
        "",
        "## Every parameter",
        "",
        ("| chip seed | parameter | truth | 3 % | median | 97 % | covered | r_hat | ess_bulk |"),
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for seed in covered["chip_seed"].values:
        for name in covered["parameter"].values:
            r = covered.sel(chip_seed=seed, parameter=name)
            lines.append(
                f"| {seed} | {name} | {float(r['truth']):.3f} | "
                f"{float(r['low']):.3f} | {float(r['median']):.3f} | "
                f"{float(r['high']):.3f} | {bool(r['covered'])} | "
                f"{float(r['r_hat']):.2f} | {float(r['ess_bulk']):.0f} |"
            )
    lines += ["", f"covered: {int(covered['covered'].sum())} of {covered['covered'].size}", ""]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
