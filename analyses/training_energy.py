"""Energy of chip-in-the-loop training, by method: MH against surrogate-gradient backprop.

Trains the reference network (30-16-2, T = 32) on one strength-1 simulated chip by blocked MH
(2 chains x 5000 proposals), ideal-model backprop and in-the-loop backprop, then prices each
run's weight writes and forward passes under the Landauer, LIM, static-barrier and accelerator
bounds with the device-parameter posterior (limprob.training_energy). Neither seed paper makes
this comparison.

    .venv/bin/python analyses/training_energy.py [--strength 1] [--chip-seed 0]

Writes results/training_energy.nc (dims method, statistic) and results/training_energy.md.
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

import xarray as xr

from limprob.inference.backprop import BackpropConfig, train_backprop
from limprob.chip import SimulatedChip
from limprob.data import load_table, split
from limprob.energy.limits import BOUND_NAMES
from limprob.inference.sampling import package_versions
from limprob.inference.training import TrainConfig, train_on_chip
from limprob.io import save_dataset
from limprob.energy.training_run import training_energy

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
        "mh": train_on_chip(chip(), data, TrainConfig(strength=args.strength, draws=2000,
                                                      tune=3000, seed=args.chip_seed),
                            progressbar=False),
        "backprop": train_backprop(chip(), data, BackpropConfig(seed=args.chip_seed)),
        "in_the_loop_backprop": train_backprop(chip(), data, BackpropConfig(seed=args.chip_seed),
                                               in_the_loop=True),
    }
    summaries = {name: training_energy(tree) for name, tree in runs.items()}
    result = xr.concat(list(summaries.values()), dim="method", coords="minimal",
                       compat="override").assign_coords(method=list(runs))
    result["test_accuracy"] = ("method", [
        float(tree.attrs.get("test_accuracy", tree.attrs.get("test_accuracy_posterior_mean")))
        for tree in runs.values()])
    result["training_chip_queries"] = ("method", [int(t.attrs["training_chip_queries"])
                                                  for t in runs.values()])
    result["weight_writes"] = ("method", [s.attrs["weight_writes"] for s in summaries.values()])
    result["forward_flops"] = ("method", [s.attrs["forward_flops"] for s in summaries.values()])
    result.attrs = {"chip_strength": args.strength, "chip_seed": args.chip_seed, "bits": 32,
                    "interval": "94 % equal-tailed, device-parameter posterior",
                    **package_versions()}
    RESULTS.mkdir(exist_ok=True)
    save_dataset(result, RESULTS / "training_energy.nc")

    lines = [f"# Energy of training on a strength-{args.strength:g} chip (seed {args.chip_seed})",
             "",
             "Median [94 % interval] in joules; writes = chip queries x 512 weights at 32 bits "
             "(backprop: one write at deployment).", "",
             "| method | test accuracy | chip queries | weight writes | "
             + " | ".join(name.removesuffix("_joules") for name in BOUND_NAMES) + " |",
             "| --- " * (4 + len(BOUND_NAMES)) + "|"]
    for index, method in enumerate(runs):
        row = result.isel(method=index)  # by position: sel by a string label keeps the dim here
        cells = [f"{float(row[n].isel(statistic=0)):.2e} "
                 f"[{float(row[n].isel(statistic=1)):.1e}, "
                 f"{float(row[n].isel(statistic=2)):.1e}]" for n in BOUND_NAMES]
        lines.append(f"| {method} | {float(row['test_accuracy']):.3f} | "
                     f"{int(row['training_chip_queries'])} | {float(row['weight_writes']):.3g} | "
                     + " | ".join(cells) + " |")
    (RESULTS / "training_energy.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
