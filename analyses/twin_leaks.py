"""What fitting each neuron's leak buys the twin start: ``tasks.py``'s twin-start cell (probe
the chip, fit the surrogate twin, backprop through each restart's fit, let the chip choose,
then one blocked-walk chain of 10,000 queries) with the twin's leak fitted as one global scale
(the default) and per neuron (``SurrogateTwinConfig(leak_per_neuron=True)``), on the same chips.

Per chip seed and form: the fit's explained share of the probe counts' variance, the start the
chip chose and its test accuracy, and the chain's posterior-predictive test accuracy at
1,000 / 2,000 / 5,000 / 10,000 queries (probe and choosing queries included, as in
``tasks.py``); beside them the oracle of ``results/tasks.nc`` when it holds the cell.

    .venv/bin/python analyses/twin_leaks.py [--dataset yinyang] [--strength 2] [--workers 2]

writes ``results/twin_leaks_<data set>_s<strength>.{nc,md}``. Yin-Yang at strength 2 takes
about 25 CPU-minutes (10 cells).
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import numpy as np
import xarray as xr

sys.path.insert(0, str(Path(__file__).resolve().parent))

from limprob.data import DATASETS
from limprob.inference.sampling import exact_arithmetic
from limprob.inference.surrogate_twin import SurrogateTwinConfig
from limprob.io import save_dataset
from tasks import (
    BUDGETS,
    SEEDS,
    Cell,
    _chip_and_data,
    _test_accuracy,
    predictive_accuracy,
    run_chain,
)

LEAKS = {"global": False, "per_neuron": True}
"""The twin's leak: one global scale, or each neuron's."""


@exact_arithmetic
def run_twin_start(dataset: str, strength: float, seed: int, leak_per_neuron: bool) -> dict:
    """One twin-start cell of ``tasks.py`` with the twin's leak fitted as ``leak_per_neuron``
    says."""
    import logging

    logging.getLogger("pymc").setLevel(logging.WARNING)
    started = time.process_time()
    chip, data, config = _chip_and_data(Cell("mh_twin_start", dataset, strength, seed))
    twin_fit = SurrogateTwinConfig(leak_per_neuron=leak_per_neuron)
    posterior, spent, start = run_chain(chip, data, config, "twin", twin_fit)
    point = start["initial_point"]
    result = {
        "explained_fraction": float(start["start_twin_explained_fraction"]),
        "start": str(start["start_per_chain"]),
        "start_test_accuracy": _test_accuracy(
            chip, point["W_in"], point["W_out"], data, config.model.kappa
        ),
    }
    for budget in BUDGETS:
        kept = int(np.searchsorted(spent, budget, side="right"))
        result[f"accuracy_{budget}"] = (
            predictive_accuracy(chip, posterior, kept, data, config) if kept else math.nan
        )
    result["cpu_seconds"] = time.process_time() - started
    return result


def oracle_of(out_dir: Path, dataset: str, strength: float) -> np.ndarray:
    """The oracle's test accuracy per chip seed from ``tasks.nc`` (NaN where it has none)."""
    path = out_dir / "tasks.nc"
    if not path.is_file():
        return np.full(len(SEEDS), np.nan)
    with xr.open_dataset(path) as tasks:
        where = {"method": "oracle", "dataset": dataset, "strength": strength}
        try:
            return tasks["test_accuracy"].loc[where].isel(budget=-1).values.copy()
        except KeyError:
            return np.full(len(SEEDS), np.nan)


def compute(dataset: str, strength: float, workers: int) -> dict:
    """Every (seed, leak) cell on ``workers`` Dask workers: ``{(seed, leak): result}``."""
    from limprob.study import connect

    client, cluster = connect(workers=workers)
    try:
        futures = {
            (seed, leak): client.submit(
                run_twin_start, dataset, strength, seed, per_neuron, pure=False
            )
            for seed in SEEDS
            for leak, per_neuron in LEAKS.items()
        }
        return {key: future.result() for key, future in futures.items()}
    finally:
        client.close()
        if cluster is not None:
            cluster.close()


def assemble(results: dict, oracle: np.ndarray) -> xr.Dataset:
    """The results as arrays over ``seed``, ``leak`` and ``budget``."""
    leaks, seeds = list(LEAKS), list(SEEDS)

    def grid(name: str) -> np.ndarray:
        return np.array([[results[(s, k)][name] for k in leaks] for s in seeds])

    accuracy = np.stack([grid(f"accuracy_{b}") for b in BUDGETS], axis=-1)
    return xr.Dataset(
        {
            "test_accuracy": (("seed", "leak", "budget"), accuracy),
            "start_test_accuracy": (("seed", "leak"), grid("start_test_accuracy")),
            "explained_fraction": (("seed", "leak"), grid("explained_fraction")),
            "start": (("seed", "leak"), grid("start").astype(str)),
            "cpu_seconds": (("seed", "leak"), grid("cpu_seconds")),
            "oracle_test_accuracy": (("seed",), oracle),
        },
        coords={"seed": seeds, "leak": leaks, "budget": list(BUDGETS)},
        attrs={
            "description": "tasks.py's twin-start cell with the twin's leak fitted globally "
            "or per neuron; test accuracy of the chain's posterior predictive at each budget "
            "of chip queries (probes and start choice included)",
        },
    )


def report(results: xr.Dataset, dataset: str, strength: float) -> str:
    """Markdown: per chip and form, then the means and their gap to the oracle."""
    lines = [
        f"# The twin's leak, global or per neuron: {dataset}, strength {strength:g}",
        "",
        "Generated by `analyses/twin_leaks.py`. Test accuracy on the chip of the chain's "
        "posterior predictive (`tasks.py`'s twin-start cell), at each budget of chip queries.",
        "",
        "| chip seed | leak | explained | start (its test accuracy) | "
        + " | ".join(f"{b:,}" for b in BUDGETS)
        + " | oracle |",
        "| --- | --- | --- | --- |" + " --- |" * (len(BUDGETS) + 1),
    ]
    for seed in results["seed"].values:
        for leak in results["leak"].values:
            cell = results.sel(seed=seed, leak=leak)
            lines.append(
                f"| {seed} | {leak} | {float(cell['explained_fraction']):.3f} | "
                f"{str(cell['start'].values).split('_seed')[0]} "
                f"({float(cell['start_test_accuracy']):.3f}) | "
                + " | ".join(f"{float(v):.3f}" for v in cell["test_accuracy"].values)
                + f" | {float(results['oracle_test_accuracy'].sel(seed=seed)):.3f} |"
            )
    lines += ["", "Mean over chip seeds (points from the mean oracle in brackets):", ""]
    oracle = float(results["oracle_test_accuracy"].mean())
    for leak in results["leak"].values:
        means = results["test_accuracy"].sel(leak=leak).mean("seed").values
        lines.append(
            f"- {leak}: "
            + ", ".join(
                f"{b:,}: {m:.3f} ({100 * (m - oracle):+.1f})" for b, m in zip(BUDGETS, means)
            )
        )
    cpu = float(results["cpu_seconds"].sum()) / 60
    lines += ["", f"The {results['cpu_seconds'].size} cells took {cpu:.0f} CPU-minutes."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", choices=DATASETS, default="yinyang")
    parser.add_argument("--strength", type=float, default=2.0)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--out-dir", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args(argv)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    results = assemble(
        compute(args.dataset, args.strength, args.workers),
        oracle_of(out_dir, args.dataset, args.strength),
    )
    stem = f"twin_leaks_{args.dataset}_s{args.strength:g}"
    save_dataset(results, out_dir / f"{stem}.nc")
    text = report(results, args.dataset, args.strength)
    (out_dir / f"{stem}.md").write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
