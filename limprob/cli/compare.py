"""``limprob compare``: LOO (Pareto k shown) and SMC-evidence comparison of saved traces.

Usage: ``limprob compare A.nc B.nc [--names a b] [--var-name y] [--json] [--plot cmp.png]``
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``compare`` to the CLI's subparsers."""
    parser = commands.add_parser(
        "compare",
        help="compare traces by LOO (Pareto k shown) and SMC evidence",
        description="Compare models fitted to the same observations: PSIS-LOO (robust to "
        "constant importance-ratio tails) with each model's Pareto k, and for SMC "
        "traces the log marginal likelihood and Bayes factor.",
        epilog="Example:\n  limprob compare runs/a.nc runs/b.nc --names a b --plot cmp.png",
    )
    parser.add_argument("traces", nargs="+", help="two or more limprob traces (NetCDF)")
    parser.add_argument(
        "--names", nargs="+", default=None, help="a name per trace (default: the file names)"
    )
    parser.add_argument(
        "--var-name",
        default=None,
        help="observed variable to compare on (default: the shared one, y if several)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--plot",
        default=None,
        metavar="PATH.png",
        help="also write a PNG of each model's ELPD difference to the best, "
        "with its standard error",
    )
    parser.set_defaults(run=run_compare)


def run_compare(args: argparse.Namespace) -> None:
    """``limprob compare``: print (or write as JSON) the LOO / SMC-evidence comparison of the
    traces, and draw it with ``--plot``."""
    import pandas as pd

    from limprob.inference.compare import PARETO_K_BAD, compare_traces, table_to_json
    from limprob.inference.plots import save_elpd_comparison
    from limprob.io import check_output_path, refuse_overwriting_inputs

    refuse_overwriting_inputs(
        {"--plot": args.plot}, {f"trace {i + 1}": path for i, path in enumerate(args.traces)}
    )
    if args.plot:
        check_output_path(args.plot)
    table = compare_traces(args.traces, args.names, args.var_name)
    if args.plot:
        save_elpd_comparison(table, args.plot)
    if args.json:
        print(table_to_json(table))
        return
    print(f"LOO on {table.attrs['var_name']!r} (PSIS; Pareto k > {PARETO_K_BAD} is unreliable)")
    with pd.option_context("display.max_columns", None, "display.width", 160):
        print(table.drop(columns=["warning"], errors="ignore").to_string(float_format="%.3g"))
    for name, text in table.attrs.get("warnings", {}).items():
        print(f"{name}: {text}")
    if args.plot:
        print(f"wrote {args.plot}")
