"""``limprob energy``: energy bounds of training, or of a training run's trace, in joules.

    limprob energy --params 1e15 --tokens 3e11 [--bits 32] [--ops-per-flop 1] [--json]
    limprob energy runs/run.nc [--out copy.nc]

Defaults come from :mod:`limprob.energy_limits`.
"""

from __future__ import annotations

import json
import logging
from typing import TYPE_CHECKING

from limprob.cli.options import add_later
from limprob.errors import LimprobError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Sequence


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``energy`` to the CLI's subparsers."""
    _add_energy(commands)


def _add_energy(commands: argparse._SubParsersAction) -> None:
    parser = commands.add_parser(
        "energy",
        help="energy bounds of training (or of a training run's trace), in joules",
        description="Bound the energy of training N parameters on D tokens (Landauer, "
        "learning-in-memory, static-barrier memory, an accelerator), as posterior "
        "medians and 94 % intervals over the device parameters; or, given a "
        "trace, the energy that training run cost. The device posterior is "
        "cached on disk ($LIMPROB_CACHE_DIR, default ~/.cache/limprob).",
        epilog="Examples:\n  limprob energy --params 1e15 --tokens 3e11\n"
        "  limprob energy runs/run.nc --json",
    )
    parser.set_defaults(run=_energy)
    add_later(parser, _energy_options)


def _energy_options(parser: argparse.ArgumentParser) -> None:
    from limprob import energy_limits as limits

    parser.add_argument(
        "trace",
        nargs="?",
        default=None,
        help="a limprob trace: report the energy of that training run",
    )
    parser.add_argument("--params", type=float, help="trainable parameters N")
    parser.add_argument("--tokens", type=float, help="training tokens or samples D (C = 6 N D)")
    parser.add_argument("--flops", type=float, help="training FLOPs C (instead of --tokens)")
    parser.add_argument(
        "--bits",
        type=float,
        default=limits.DEFAULT_BITS,
        help="bits of precision per parameter (default %(default)s)",
    )
    parser.add_argument(
        "--time-ratio",
        type=float,
        default=None,
        help="relaxation time over time per update, tau_r/tau_u (default "
        f"{limits.DEFAULT_TIME_RATIO:g}; not with a trace)",
    )
    parser.add_argument(
        "--ops-per-flop",
        type=float,
        default=None,
        help="model-update operations per training FLOP, OPS = r x C "
        f"(default {limits.DEFAULT_OPS_PER_FLOP:g}; not with a trace, "
        "whose updates are its counted weight writes)",
    )
    parser.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the device-parameter posterior (default %(default)s)",
    )
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument(
        "--out", default=None, help="with a trace: write a copy with a training_energy group here"
    )


def _energy(args: argparse.Namespace) -> None:
    from limprob import energy_limits as limits
    from limprob.energy.report import energy_report
    from limprob.energy_limits import DEFAULT_OPS_PER_FLOP, validate_positive
    from limprob.validation import seed

    seed("seed", args.seed)
    # the device posterior's NUTS chatter; PyMC resets its top logger's level on import
    logging.getLogger("pymc.sampling").setLevel(logging.WARNING)
    if args.trace is not None:
        if args.ops_per_flop is not None:
            raise LimprobError(
                "energy: --ops-per-flop applies to --params with --tokens or "
                "--flops; a trace's updates are counted (its chip weight "
                "writes), not derived from FLOPs"
            )
        given = [
            flag
            for flag, value in (
                ("--params", args.params),
                ("--tokens", args.tokens),
                ("--flops", args.flops),
                ("--time-ratio", args.time_ratio),
            )
            if value is not None
        ]
        if given:
            raise LimprobError(
                f"energy: {', '.join(given)} describe a model to bound, not a "
                "trace, whose run is counted as it ran (give one or the other)"
            )
        return _training_run_energy(args)
    time_ratio = (
        limits.DEFAULT_TIME_RATIO
        if args.time_ratio is None
        else validate_positive("--time-ratio", args.time_ratio)
    )
    ops_per_flop = (
        DEFAULT_OPS_PER_FLOP
        if args.ops_per_flop is None
        else validate_positive("--ops-per-flop", args.ops_per_flop)
    )
    if args.tokens is not None and args.flops is not None:
        raise LimprobError("energy: give --tokens (C = 6 N D) or --flops C, not both")
    if args.params is None or (args.tokens is None and args.flops is None):
        raise LimprobError("energy: give --params and --tokens (or --flops), or a trace file")
    report = energy_report(
        args.params,
        args.tokens,
        args.bits,
        flops=args.flops,
        time_ratio=time_ratio,
        ops_per_flop=ops_per_flop,
        seed=args.seed,
    )
    if args.json:
        print(json.dumps({**report, "ops_per_flop": ops_per_flop}))
        return
    print(
        f"Energy to train N = {args.params:.3g} parameters at b = {args.bits:g} bits, "
        f"OPS = {ops_per_flop:g} x C (posterior median [94 % interval] over device "
        f"parameters):"
    )
    _print_bounds(report)


def _print_bounds(report: dict, names: Sequence[str] | None = None) -> None:
    from limprob.energy_limits import BOUND_NAMES

    names = names or BOUND_NAMES
    width = max(12, *(len(name.removesuffix("_joules")) for name in names))
    for name in names:
        value = report[name]
        print(
            f"  {name.removesuffix('_joules'):{width}s} {value['median']:10.3e} J  "
            f"[{value['low']:.3e}, {value['high']:.3e}]"
        )


def _training_run_energy(args: argparse.Namespace) -> None:
    from limprob.energy.training_run import training_energy
    from limprob.io import (
        TRACE_ATTRIBUTES,
        check_output_path,
        load_trace,
        refuse_overwriting_inputs,
        save_trace,
    )

    refuse_overwriting_inputs({"--out": args.out}, {"the trace": args.trace})
    out = check_output_path(args.out) if args.out else None
    # the run's counts and its network's size; not its test set
    tree = load_trace(args.trace, needs={"point_estimates"}, attributes=TRACE_ATTRIBUTES)
    summary = training_energy(tree, bits=args.bits, seed=args.seed)
    report = {
        str(name): {
            key: float(summary[name].sel(statistic=key)) for key in ("median", "low", "high")
        }
        for name in summary.data_vars
    }
    counts = {
        key: summary.attrs[key]
        for key in ("weight_writes", "forward_flops", "digital_training_flops")
    }
    if out is not None:
        tree["training_energy"] = summary
        save_trace(tree, out)
    if args.json:
        print(json.dumps({**report, **counts}))
        return
    print(
        f"{args.trace}: {tree.attrs.get('method', 'mh')} training, "
        f"{counts['weight_writes']:.3g} weight writes at {args.bits:g} bits, "
        f"{counts['forward_flops']:.3g} forward FLOPs on the chip"
    )
    _print_bounds(report)
    if counts["digital_training_flops"] > 0:
        print(
            f"and {counts['digital_training_flops']:.3g} FLOPs of training on a digital "
            f"machine, at the accelerator's energy per FLOP:"
        )
        _print_bounds(report, ["digital_training_joules"])
        print("total, the chip's share plus the digital training:")
        _print_bounds(report, [name for name in report if name.startswith("total_")])
