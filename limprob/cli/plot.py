"""``limprob plot``: a PNG of a training trace (progress against chip queries, rank plot).

limprob plot runs/run.nc --out runs/run.png
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``plot`` to the CLI's subparsers."""
    plot = commands.add_parser(
        "plot",
        help="PNG of a training trace: progress per chip query, rank plot",
        description="Write a PNG of a chip-in-the-loop training trace: (a) the training "
        "log-likelihood of each draw against cumulative chip queries, one line per "
        "chain; (b) the test accuracy of the thinned draws that carry test "
        "predictions, with the predictive average, its Wilson interval and the "
        "chance level; (c) ArviZ's rank plot of the training log-likelihood "
        "(two or more chains).",
        epilog="Example:\n  limprob plot runs/run.nc --out runs/run.png",
    )
    plot.add_argument("trace", help="a trace written by limprob train")
    plot.add_argument("--out", required=True, metavar="FILE.png", help="PNG to write")
    plot.set_defaults(run=run_plot)


def run_plot(args: argparse.Namespace) -> None:
    """``limprob plot``: draw a training trace's three-panel picture into ``--out``."""
    from pathlib import Path

    from limprob.inference.plots import check_plottable, save_training_plot
    from limprob.io import check_output_path, load_trace, refuse_overwriting_inputs

    refuse_overwriting_inputs({"--out": args.out}, {"the trace": args.trace})
    out = check_output_path(args.out)
    tree = load_trace(args.trace, needs=set())
    check_plottable(tree, args.trace)
    save_training_plot(tree, out, Path(args.trace).name)
    print(f"wrote {out}")
