"""The ``limprob`` command line: it only composes library calls.

    limprob train    --strength 1 --out runs/run.nc     train on a simulated chip, save a trace
    limprob evaluate runs/run.nc [--json]               test accuracy and chip queries
    limprob summary  runs/run.nc [--var-names W_out]    ArviZ summary of the posterior
    limprob energy   --params 1e15 --tokens 3e11         energy bounds of training, J
    limprob energy   runs/run.nc                          energy of that training run
    limprob study    --quick --out runs/study.nc          method x strength x seed grid on Dask
    limprob compare  A.nc B.nc [--json] [--plot F.png]     LOO (and SMC evidence) comparison
    limprob probe    --strength 1 --out probes.nc         record a chip's probe measurements
    limprob twin     probes.nc [--population] --out t.nc  fit a digital twin to the probes

Bad input (a :class:`~limprob.errors.LimprobError` or a malformed argument) prints one line
``limprob: error: ...`` and exits with code 2, leaving no output file.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys

from limprob.errors import LimprobError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2."""

    def error(self, message):
        raise LimprobError(f"{self.prog}: {message}")


def _add_train(commands):
    from limprob.inference import SAMPLERS, TrainConfig

    defaults = TrainConfig()
    train = commands.add_parser("train", help="train an SNN on a simulated chip by MCMC")
    train.add_argument("--strength", type=float, default=defaults.strength,
                       help="chip distortion strength alpha >= 0 (default %(default)s)")
    train.add_argument("--chip-seed", type=int, default=defaults.chip_seed,
                       help="seed of the chip's hidden mismatch (default %(default)s)")
    train.add_argument("--hidden", type=int, default=defaults.hidden,
                       help="hidden LIF neurons (default %(default)s)")
    train.add_argument("--steps", type=int, default=defaults.time_steps,
                       help="time steps T of the network (default %(default)s)")
    train.add_argument("--draws", type=int, default=defaults.draws,
                       help="draws per chain kept after tuning (default %(default)s)")
    train.add_argument("--tune", type=int, default=defaults.tune,
                       help="tuning steps per chain (default %(default)s)")
    train.add_argument("--chains", type=int, default=defaults.chains,
                       help="chains (default %(default)s)")
    train.add_argument("--cores", type=int, default=defaults.cores,
                       help="chains run in parallel (default %(default)s)")
    train.add_argument("--seed", type=int, default=defaults.seed,
                       help="seed of the data split and the sampler (default %(default)s)")
    train.add_argument("--train-fraction", type=float, default=defaults.train_fraction,
                       help="fraction of the training split to use, in (0, 1] "
                            "(default %(default)s)")
    train.add_argument("--sampler", choices=SAMPLERS, default=defaults.sampler,
                       help="step method (default %(default)s)")
    train.add_argument("--data", default=None,
                       help="CSV or NetCDF table (default: the Wisconsin set in scikit-learn)")
    train.add_argument("--out", required=True, help="trace to write (NetCDF)")
    train.add_argument("--no-progress", action="store_true", help="hide progress bars")
    train.set_defaults(run=_train)


def _train(args):
    from limprob.inference import TrainConfig, train
    from limprob.io import check_output_path, save_trace

    out = check_output_path(args.out)
    config = TrainConfig(
        strength=args.strength, chip_seed=args.chip_seed, hidden=args.hidden,
        time_steps=args.steps, draws=args.draws, tune=args.tune, chains=args.chains,
        cores=args.cores, seed=args.seed, train_fraction=args.train_fraction,
        sampler=args.sampler,
    )
    tree = train(config, args.data, progressbar=not args.no_progress)
    save_trace(tree, out)
    report = _evaluation(tree)
    print(f"test accuracy on the chip: W* {report['test_accuracy_posterior_mean']:.3f}, "
          f"predictive {report['test_accuracy_predictive']:.3f}; "
          f"{report['chip_queries']} training chip queries; wrote {out}")


def _evaluation(tree) -> dict:
    """Test accuracy from the stored predictions (measured on the chip at training time)."""
    from limprob.inference import accuracy, test_accuracies

    labels = tree["predictions_constant_data"]["y"].values
    method = str(tree.attrs.get("method", "mh"))
    if method == "mh":
        accuracies = test_accuracies(tree["predictions"].to_dataset(), labels)
    else:  # one trained weight set: W* is those weights, and there is no predictive average
        accuracies = {"test_accuracy_posterior_mean":
                      accuracy(tree["predictions"]["probability"].values, labels),
                      "test_accuracy_predictive": None}
    return {
        **accuracies,
        "chip_queries": int(tree.attrs["training_chip_queries"]),
        "evaluation_chip_queries": int(tree.attrs["evaluation_chip_queries"]),
        "chip_strength": float(tree.attrs["chip_strength"]),
        "chip_seed": int(tree.attrs["chip_seed"]),
        "method": method,
        "sampler": str(tree.attrs.get("sampler", "")),
    }


def _add_evaluate(commands):
    evaluate = commands.add_parser("evaluate", help="test accuracy and chip queries of a trace")
    evaluate.add_argument("trace", help="a trace written by limprob train")
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    evaluate.set_defaults(run=_evaluate)


def _evaluate(args):
    from limprob.io import load_trace

    report = _evaluation(load_trace(args.trace))
    if args.json:
        print(json.dumps(report))
        return
    print(f"chip: strength {report['chip_strength']}, seed {report['chip_seed']}; "
          f"method {report['method']} {report['sampler']}".rstrip())
    print(f"test accuracy, posterior-mean weights W*: {report['test_accuracy_posterior_mean']:.4f}")
    if report["test_accuracy_predictive"] is not None:
        print(f"test accuracy, posterior predictive:     "
              f"{report['test_accuracy_predictive']:.4f}")
    print(f"chip queries: {report['chip_queries']} training, "
          f"{report['evaluation_chip_queries']} evaluation")


def _add_summary(commands):
    summary = commands.add_parser("summary", help="ArviZ summary of a trace's posterior")
    summary.add_argument("trace", help="a trace written by limprob train")
    summary.add_argument("--var-names", nargs="+", default=None,
                         help="variables to summarise (default: all)")
    summary.set_defaults(run=_summary)


def _summary(args):
    import arviz as az
    import pandas as pd

    from limprob.io import load_trace

    tree = load_trace(args.trace)
    missing = set(args.var_names or []) - set(tree["posterior"].data_vars)
    if missing:
        raise LimprobError(f"{args.trace}: no posterior variable {', '.join(sorted(missing))}")
    table = az.summary(tree, var_names=args.var_names)
    with pd.option_context("display.max_rows", None, "display.width", 120):
        print(table)


def _add_energy(commands):
    from limprob import energy as bounds

    parser = commands.add_parser(
        "energy", help="energy bounds of training (or of a training run's trace), in joules")
    parser.add_argument("trace", nargs="?", default=None,
                        help="a limprob trace: report the energy of that training run")
    parser.add_argument("--params", type=float, help="trainable parameters N")
    parser.add_argument("--tokens", type=float, help="training tokens or samples D (C = 6 N D)")
    parser.add_argument("--flops", type=float, help="training FLOPs C (instead of --tokens)")
    parser.add_argument("--bits", type=float, default=bounds.DEFAULT_BITS,
                        help="bits of precision per parameter (default %(default)s)")
    parser.add_argument("--time-ratio", type=float, default=bounds.DEFAULT_TIME_RATIO,
                        help="relaxation time over time per update, tau_r/tau_u "
                             "(default %(default)s)")
    parser.add_argument("--seed", type=int, default=0,
                        help="seed of the device-parameter posterior (default %(default)s)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.add_argument("--out", default=None,
                        help="with a trace: write a copy with a training_energy group here")
    parser.set_defaults(run=_energy)


def _energy(args):
    from limprob.energy import energy_report

    logging.getLogger("pymc").setLevel(logging.WARNING)  # the device posterior's NUTS chatter
    if args.trace is not None:
        return _training_run_energy(args)
    if args.params is None or (args.tokens is None and args.flops is None):
        raise LimprobError("energy: give --params and --tokens (or --flops), or a trace file")
    report = energy_report(args.params, args.tokens, args.bits, flops=args.flops,
                           time_ratio=args.time_ratio, seed=args.seed)
    if args.json:
        print(json.dumps(report))
        return
    print(f"Energy to train N = {args.params:.3g} parameters at b = {args.bits:g} bits "
          f"(posterior median [94 % interval] over device parameters):")
    _print_bounds(report)


def _print_bounds(report: dict) -> None:
    from limprob.energy import BOUND_NAMES

    for name in BOUND_NAMES:
        value = report[name]
        print(f"  {name.removesuffix('_joules'):12s} {value['median']:10.3e} J  "
              f"[{value['low']:.3e}, {value['high']:.3e}]")


def _training_run_energy(args):
    from limprob.energy import BOUND_NAMES
    from limprob.io import check_output_path, load_trace, save_trace
    from limprob.training_energy import training_energy

    out = check_output_path(args.out) if args.out else None
    tree = load_trace(args.trace)
    summary = training_energy(tree, bits=args.bits, seed=args.seed)
    report = {name: {key: float(summary[name].sel(statistic=key))
                     for key in ("median", "low", "high")} for name in BOUND_NAMES}
    if out is not None:
        tree["training_energy"] = summary
        save_trace(tree, out)
    if args.json:
        print(json.dumps({**report, "weight_writes": summary.attrs["weight_writes"],
                          "forward_flops": summary.attrs["forward_flops"]}))
        return
    print(f"{args.trace}: {tree.attrs.get('method', 'mh')} training, "
          f"{summary.attrs['weight_writes']:.3g} weight writes at {args.bits:g} bits, "
          f"{summary.attrs['forward_flops']:.3g} forward FLOPs")
    _print_bounds(report)


def build_parser() -> argparse.ArgumentParser:
    from limprob.compare import add_compare_parser
    from limprob.study import add_study_parser
    from limprob.twin_cli import add_twin_parsers

    parser = _Parser(prog="limprob", description="Train spiking-network chips in the loop by "
                     "MCMC, compare models, and bound the energy of learning.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_train(commands)
    _add_evaluate(commands)
    _add_summary(commands)
    _add_energy(commands)
    add_study_parser(commands)
    add_compare_parser(commands)
    add_twin_parsers(commands)
    return parser


def main(argv=None) -> int:
    try:
        args = build_parser().parse_args(argv)
        args.run(args)
    except LimprobError as error:
        message = str(error)
        print(message if message.startswith("limprob") else f"limprob: error: {message}",
              file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
