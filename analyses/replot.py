"""Redraw every analysis figure from its saved results, training and sampling nothing.

    .venv/bin/python analyses/replot.py            # all figures, about 30 s
    .venv/bin/python analyses/replot.py tasks      # only the named analyses

Each analysis's ``--replot`` reads its ``analyses/results/*.nc`` (the calibration figure:
``results/calibration_loo_pit.nc``) and rewrites its PNGs; the conventions they share (method
names, chance lines, intervals inside [0, 1], resolution) are in
:mod:`limprob.inference.figure_style`.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

ANALYSES = (
    "accuracy_vs_distortion",
    "data_efficiency",
    "tasks",
    "noisy_chips",
    "energy_projections",
    "model_comparison",
    "calibration",
)
"""The analyses with figures, each a module beside this file with ``main(["--replot"])``."""


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "analyses",
        nargs="*",
        metavar="ANALYSIS",
        help=f"some of: {', '.join(ANALYSES)} (default all)",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.analyses) - set(ANALYSES))
    if unknown:
        parser.error(f"no analysis {', '.join(unknown)}; choose from {', '.join(ANALYSES)}")
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    for name in args.analyses or ANALYSES:
        code = importlib.import_module(name).main(["--replot"])
        if code:
            return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
