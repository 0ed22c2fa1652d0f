"""Speed-up of a study from 1 to 2 Dask workers: the same grid, run twice from an empty cache
(fresh LocalCluster each time, worker start-up and compilation included).

    .venv/bin/python benchmarks/study_scaling.py [--seeds 4] [--workers 1 2]

Prints the wall time for each worker count and the ratio to the first.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from limprob.study import Grid, StudySettings, run_study

SETTINGS = StudySettings()  # the analyses' per-cell settings


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", type=int, default=4)
    parser.add_argument("--workers", type=int, nargs="+", default=[1, 2])
    args = parser.parse_args(argv)
    grid = Grid(strengths=(0.0, 2.0), seeds=tuple(range(args.seeds)), train_fractions=(1.0,))
    print(
        f"grid: {len(grid.cells())} cells ({', '.join(grid.methods)} x strengths "
        f"{grid.strengths} x {args.seeds} seeds)"
    )
    times = {}
    for workers in args.workers:
        with tempfile.TemporaryDirectory() as folder:
            started = time.perf_counter()
            run_study(grid, SETTINGS, Path(folder) / "study.nc", workers=workers, progressbar=False)
            times[workers] = time.perf_counter() - started
        print(f"{workers} worker(s): {times[workers]:.1f} s", flush=True)
    first = args.workers[0]
    for workers in args.workers[1:]:
        print(f"speed-up {first} -> {workers} workers: {times[first] / times[workers]:.2f}x")


if __name__ == "__main__":
    main()
