"""``limprob study``: a grid of training runs on simulated chips, on Dask, cached per cell.

    limprob study --quick --out runs/study.nc [--scheduler ADDR]

Defaults come from :class:`limprob.study.Grid` and :class:`limprob.study.StudySettings`
(``--quick``: ``QUICK_GRID`` and ``QUICK_SETTINGS``); a flag given overrides either.
"""

from __future__ import annotations

from dataclasses import replace
from operator import attrgetter
from typing import TYPE_CHECKING

from limprob import interruption
from limprob.cli.options import (
    NETWORK_OPTIONS,
    SAMPLER_OPTIONS,
    add_later,
    config_fields,
    flags,
    option_dest,
    repeats,
    replace_fields,
)

if TYPE_CHECKING:
    import argparse

GRID_OPTIONS = (
    ("datasets", "datasets", str, "built-in data sets"),
    ("strengths", "strengths", float, "chip strengths"),
    ("noises", "noises", float, "chip membrane-noise levels (units of the threshold)"),
    ("weight-bits", "weight_bits", int, "chip weight resolutions in bits (0: continuous)"),
    ("seeds", "seeds", int, "chip seeds, also data-split seeds"),
    ("train-fractions", "train_fractions", float, "fractions of the training split"),
)
MH_OPTIONS = (
    *((flag, f"mcmc.{field}", help_text) for flag, field, help_text in SAMPLER_OPTIONS[:3]),
    ("predictive-draws", "evaluation.predictive_draws", "MH draws for the predictive accuracy"),
    *NETWORK_OPTIONS,
)
"""Options that set the MH template (a field of a part of its
:class:`~limprob.inference.training.TrainConfig`; its network is every method's)."""
BACKPROP_OPTIONS = (("epochs", "epochs", "maximum backprop epochs"),)


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``study`` to the CLI's subparsers."""
    study = commands.add_parser(
        "study",
        help="a grid of training runs on simulated chips, on Dask",
        description="Run method x dataset x strength x noise x weight bits x seed x "
        "training fraction on Dask; cells are cached in OUT.cells, so a re-run "
        "resumes. Without --hidden (and --quick) each data set trains its own "
        "default network and readout gain (docs/datasets.md); --hidden fixes one "
        "network, with the readout gain 8, for all.",
        epilog="Example:\n  limprob study --quick --out runs/study.nc",
    )
    study.set_defaults(run=run_study_command)
    add_later(study, _study_options)


def _study_options(study: argparse.ArgumentParser) -> None:
    from limprob.study import METHODS, QUICK_SETTINGS, Grid, StudySettings

    grid, settings = Grid(), StudySettings()
    study.add_argument("--out", required=True, help="study to write (NetCDF)")
    study.add_argument(
        "--quick",
        action="store_true",
        help="a small grid and short runs (about a minute on 2 cores)",
    )
    study.add_argument(
        "--methods",
        nargs="+",
        choices=METHODS,
        default=None,
        help=f"methods (default {' '.join(grid.methods)})",
    )
    for flag, name, kind, help_text in GRID_OPTIONS:
        values = " ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in getattr(grid, name))
        study.add_argument(
            f"--{flag}",
            dest=name,
            nargs="+",
            type=kind,
            default=None,
            help=f"{help_text} (default {values})",
        )
    for template, options in (("mh", MH_OPTIONS), ("backprop", BACKPROP_OPTIONS)):
        default, quick = getattr(settings, template), getattr(QUICK_SETTINGS, template)
        for flag, name, help_text in options:
            study.add_argument(
                *flags(flag),
                dest=option_dest(name),
                type=int,
                default=None,
                help=f"{help_text} (default {attrgetter(name)(default)}, "
                f"--quick {attrgetter(name)(quick)})",
            )
    study.add_argument(
        "--repeats",
        type=repeats,
        default=None,
        metavar="R|auto",
        help="MH on noisy chips: chip queries per likelihood estimate "
        f"(default {settings.repeats})",
    )
    study.add_argument(
        "--re-estimate-current",
        action="store_true",
        help="MH on noisy chips: APPROXIMATE Monte Carlo within Metropolis "
        "instead of pseudo-marginal MH",
    )
    study.add_argument(
        "--workers", type=int, default=None, help="local Dask workers (default: one per core)"
    )
    study.add_argument(
        "--scheduler",
        default=None,
        help="address of an existing Dask scheduler, e.g. tcp://HOST:8786",
    )
    study.add_argument("--no-progress", action="store_true", help="hide the progress bar")


def run_study_command(args: argparse.Namespace) -> None:
    """``limprob study``: run the grid on Dask, write the study and print its summary table."""
    from limprob.study import (
        QUICK_GRID,
        QUICK_SETTINGS,
        Grid,
        StudySettings,
        cache_dir,
        run_study,
        summary_table,
    )

    grid = QUICK_GRID if args.quick else Grid()
    settings = QUICK_SETTINGS if args.quick else StudySettings()
    grid_options = (("methods", "methods", str, ""), *GRID_OPTIONS)
    grid = replace(grid, **{k: tuple(v) for k, v in config_fields(args, grid_options).items()})
    settings = replace(
        settings,
        mh=replace_fields(settings.mh, config_fields(args, MH_OPTIONS)),
        **config_fields(args, (("repeats", "repeats", ""),)),
        re_estimate_current=args.re_estimate_current,
        # each data set its own network, unless --hidden fixes one for all
        dataset_networks=not args.quick and args.network_n_hidden is None,
        backprop=replace(settings.backprop, **config_fields(args, BACKPROP_OPTIONS)),
    )
    try:
        study = run_study(
            grid,
            settings,
            args.out,
            scheduler=args.scheduler,
            workers=args.workers,
            progressbar=not args.no_progress,
        )
    except interruption.Interrupted as stopped:
        stopped.outcome = (
            f"{args.out} not written; the cells finished are kept in "
            f"{cache_dir(args.out)} and a re-run resumes from them"
        )
        raise
    print(
        f"{study.attrs['cells_computed']} cells computed, {study.attrs['cells_cached']} "
        f"from {cache_dir(args.out)}; wrote {args.out}"
    )
    print(summary_table(study))
