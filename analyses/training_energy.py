"""Energy of chip-in-the-loop training, by method: MH against surrogate-gradient backprop.

Trains the reference network (30-16-2, T = 32) on one strength-1 simulated chip by MH (the
default sampler, pCN: 2 chains x (3000 tuning + 2000 kept) steps), ideal-model backprop and
in-the-loop backprop, then prices each run with the device-parameter posterior
(limprob.energy.training_run): the chip's share (its weight writes under the Landauer, LIM and
static-barrier bounds, its forward passes under the accelerator bound) and, for both
backprops, their own training on a digital machine, C_bp = epochs x [(1 + 2) F n_fit +
v F n_validation] FLOPs at the accelerator's energy per FLOP, with the total per bound.
Neither seed paper makes this comparison.

    .venv/bin/python analyses/training_energy.py [--strength 1] [--chip-seed 0]

Writes results/training_energy.nc (dims method, statistic) and results/training_energy.md.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import xarray as xr

from limprob.chip import SimulatedChip
from limprob.chip.settings import ChipSettings
from limprob.data import load_table, split
from limprob.energy.training_run import BACKWARD_FLOPS_PER_FORWARD, training_energy
from limprob.energy_limits import BOUND_NAMES
from limprob.inference.backprop import BackpropConfig, train_backprop
from limprob.inference.sampling import package_versions
from limprob.inference.training import MCMCSettings, TrainConfig, train_on_chip
from limprob.io import save_dataset
from limprob.snn import flops_per_run

RESULTS = Path(__file__).resolve().parent / "results"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strength", type=float, default=1.0)
    parser.add_argument("--chip-seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.getLogger("pymc").setLevel(logging.WARNING)

    table = load_table()
    data = split(table, seed=args.chip_seed)

    def chip():
        return SimulatedChip(30, 2, strength=args.strength, seed=args.chip_seed)

    runs = {
        "mh": train_on_chip(
            chip(),
            data,
            TrainConfig(
                chip=ChipSettings(strength=args.strength, seed=args.chip_seed),
                mcmc=MCMCSettings(draws=2000, tune=3000, seed=args.chip_seed),
            ),
            progressbar=False,
        ),
        "backprop": train_backprop(chip(), data, BackpropConfig(seed=args.chip_seed)),
        "in_the_loop_backprop": train_backprop(
            chip(), data, BackpropConfig(seed=args.chip_seed), "in_the_loop_backprop"
        ),
    }
    summaries = {name: training_energy(tree) for name, tree in runs.items()}
    result = xr.concat(
        list(summaries.values()), dim="method", coords="minimal", compat="override"
    ).assign_coords(method=list(runs))
    result["test_accuracy"] = (
        "method",
        [
            float(tree.attrs.get("test_accuracy", tree.attrs.get("test_accuracy_posterior_mean")))
            for tree in runs.values()
        ],
    )
    result["training_chip_queries"] = (
        "method",
        [int(t.attrs["training_chip_queries"]) for t in runs.values()],
    )
    result["epochs_run"] = ("method", [int(t.attrs.get("epochs_run", 0)) for t in runs.values()])
    for name in ("weight_writes", "forward_flops", "digital_training_flops"):
        result[name] = ("method", [s.attrs[name] for s in summaries.values()])
    result["digital_training_flops"].attrs["units"] = "FLOP"
    result["forward_flops"].attrs["units"] = "FLOP"
    result.attrs = {
        "chip_strength": args.strength,
        "chip_seed": args.chip_seed,
        "bits": 32,
        "backward_flops_per_forward": BACKWARD_FLOPS_PER_FORWARD,
        "interval": "94 % equal-tailed, device-parameter posterior",
        **package_versions(),
    }
    RESULTS.mkdir(exist_ok=True)
    save_dataset(result, RESULTS / "training_energy.nc")
    network = chip().network
    size = (30, network.n_hidden, 2, network.n_steps)
    lines = markdown(
        result,
        args,
        n_weights=size[0] * size[1] + size[1] * size[2],
        per_sample=flops_per_run(1, *size),
    )
    (RESULTS / "training_energy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


def interval(variable) -> str:
    """``median [low, high]`` of a (statistic)-dim variable."""
    low, median, high = (float(variable.sel(statistic=k)) for k in ("low", "median", "high"))
    if low == median == high == 0.0:
        return "0"
    return f"{median:.2e} [{low:.1e}, {high:.1e}]"


def markdown(result: xr.Dataset, args, n_weights: int, per_sample: int) -> list[str]:
    """The counts per method, then each bound's chip share, digital training and total."""
    methods = [str(m) for m in result["method"].values]
    rows = {m: result.isel(method=i) for i, m in enumerate(methods)}  # isel keeps one label
    lines = [
        f"# Energy of training on a strength-{args.strength:g} chip (seed {args.chip_seed})",
        "",
        (
            f"Counts. Test accuracy measured on the chip (MH: of the posterior-mean weights "
            f"W*). Weight writes = chip queries x {n_weights} weights at 32 bits (a run "
            "with no training queries: one write at deployment). Chip forward FLOPs: the "
            "samples the chip ran while training. Digital training FLOPs: backprop's forward "
            "and backward passes on a digital machine, epochs x [(1 + 2) F n_fit + "
            f"v F n_validation], F = {per_sample} FLOP per sample."
        ),
        "",
        (
            "| method | test accuracy | chip queries | epochs | weight writes | "
            "chip forward FLOPs | digital training FLOPs |"
        ),
        "| --- " * 7 + "|",
    ]
    for m, row in rows.items():
        lines.append(
            f"| {m} | {float(row['test_accuracy']):.3f} | "
            f"{int(row['training_chip_queries'])} | {int(row['epochs_run']) or '-'} | "
            f"{float(row['weight_writes']):.3g} | {float(row['forward_flops']):.3g} | "
            f"{float(row['digital_training_flops']):.3g} |"
        )
    lines += [
        "",
        (
            "Energy, median [94 % interval] in joules. The chip's share is priced by "
            "each bound (writes for landauer, lim and static; forward passes for "
            "accelerator); the digital training at the accelerator's energy per FLOP; "
            "total = the two, draw by draw."
        ),
        "",
        "| method | bound | chip's share | digital training | total |",
        "| --- | --- | --- | --- | --- |",
    ]
    for m, row in rows.items():
        for name in BOUND_NAMES:
            lines.append(
                f"| {m} | {name.removesuffix('_joules')} | {interval(row[name])} | "
                f"{interval(row['digital_training_joules'])} | "
                f"{interval(row[f'total_{name}'])} |"
            )
    reference = rows[methods[0]]
    lines += [
        "",
        f"Medians of the totals over {methods[0]}'s:",
        "",
        ("| bound | " + " | ".join(f"{m} / {methods[0]}" for m in methods[1:]) + " |"),
        "| --- " * len(methods) + "|",
    ]
    for name in BOUND_NAMES:
        ratios = [
            float(rows[m][f"total_{name}"].sel(statistic="median"))
            / float(reference[f"total_{name}"].sel(statistic="median"))
            for m in methods[1:]
        ]
        lines.append(
            f"| {name.removesuffix('_joules')} | " + " | ".join(f"{r:.3g}" for r in ratios) + " |"
        )
    return lines


if __name__ == "__main__":
    main()
