"""Does LOO-based comparison work on every default run? (issue 13's target)

Trains ``limprob train``'s default configuration on chip seeds 0..9 at hidden sizes 8 and 16
(20 runs, Wisconsin, strength 1), then for each run counts whether ArviZ's own ``az.loo``
succeeds, and whether limprob's :func:`~limprob.inference.loo.robust_loo` does (it is what
``limprob compare`` uses); compares the two hidden sizes of each chip seed with ``az.compare``
on the robust LOOs, and prints how many observations had a constant tail, a NaN Pareto k or
k above the threshold.

    .venv/bin/python benchmarks/loo_runs.py [--seeds 10] [--out-dir runs/loo_runs]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import arviz as az
import numpy as np

from limprob.chip.settings import ChipSettings
from limprob.inference.loo import robust_loo
from limprob.inference.training import TrainConfig, train
from limprob.io import load_trace, save_trace
from limprob.snn import Network


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out-dir", default="runs/loo_runs")
    args = parser.parse_args()
    folder = Path(args.out_dir)
    folder.mkdir(parents=True, exist_ok=True)
    arviz_ok = robust_ok = compared = 0
    rows = []
    started = time.perf_counter()
    for seed in range(args.seeds):
        loos = {}
        for hidden in (8, 16):
            path = folder / f"seed{seed}_h{hidden}.nc"
            if not path.exists():
                save_trace(
                    train(
                        TrainConfig(network=Network(n_hidden=hidden), chip=ChipSettings(seed=seed)),
                        progressbar=False,
                    ),
                    path,
                )
            tree = load_trace(path)
            try:
                az.loo(tree, var_name="y")
                arviz_ok += 1
                arviz = "ok"
            except Exception as error:  # counting what ArviZ refuses
                arviz = type(error).__name__
            loo = robust_loo(tree)
            robust_ok += bool(np.isfinite(float(loo.elpd)))
            loos[f"h{hidden}"] = loo
            rows.append(
                (
                    seed,
                    hidden,
                    arviz,
                    float(loo.elpd),
                    float(loo.se),
                    loo.n_constant_tail,
                    loo.n_nan_k,
                    loo.n_k_bad,
                )
            )
        table = az.compare(loos, round_to="none")
        compared += int(np.isfinite(table["elpd"]).all())
    print("seed hidden  az.loo            elpd_loo      se   const_tail nan_k k_bad")
    for seed, hidden, arviz, elpd, se, constant, nan_k, bad in rows:
        print(
            f"{seed:4d} {hidden:6d}  {arviz:16s} {elpd:9.1f} {se:7.1f} {constant:10d} "
            f"{nan_k:5d} {bad:5d}"
        )
    runs = 2 * args.seeds
    print(
        f"az.loo succeeded on {arviz_ok} of {runs} runs; limprob's robust LOO on "
        f"{robust_ok} of {runs}; az.compare of the robust LOOs on {compared} of "
        f"{args.seeds} chip seeds; {time.perf_counter() - started:.0f} s"
    )


if __name__ == "__main__":
    main()
