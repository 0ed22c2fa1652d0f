"""``limprob train``, ``evaluate`` and ``summary``: train on a simulated chip, read a trace.

    limprob train    --strength 1 --out runs/run.nc     train on a simulated chip, save a trace
    limprob train    --chip mylab.driver:make_chip ...  train on your chip
    limprob evaluate runs/run.nc [--json]               test accuracy and chip queries
    limprob summary  runs/run.nc [--var-names W_out]    ArviZ summary of the posterior

Defaults come from :class:`limprob.inference.training.TrainConfig`.
"""

from __future__ import annotations

import json
import signal
import textwrap
from contextlib import ExitStack
from pathlib import Path
from typing import TYPE_CHECKING

from limprob import interruption
from limprob.cli.options import (
    NETWORK_OPTIONS,
    SAMPLER_OPTIONS,
    add_chip_noise_options,
    add_later,
    add_max_memory,
    add_network_choice,
    add_options,
    add_reset_option,
    add_table_options,
    config_fields,
    flags,
    given_options,
    load_chosen_table,
    network_choice,
    option_dest,
    repeats,
)
from limprob.errors import LimprobError

if TYPE_CHECKING:
    import argparse

    import xarray as xr

    from limprob.chip.protocol import Chip
    from limprob.chip.remote import RemoteChip
    from limprob.inference.checkpoint import Checkpoint
    from limprob.inference.training import TrainConfig


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``train``, ``evaluate`` and ``summary`` to the CLI's subparsers."""
    _add_train(commands)
    _add_evaluate(commands)
    _add_summary(commands)


TRAIN_OPTIONS = (
    ("strength", "chip.strength", "chip distortion strength alpha >= 0"),
    ("chip-seed", "chip.seed", "seed of the chip's hidden mismatch"),
    *NETWORK_OPTIONS[1:],  # --hidden (with --kappa) defaults to the data set's
    *((flag, f"mcmc.{field}", help_text) for flag, field, help_text in SAMPLER_OPTIONS[:3]),
    ("cores", "mcmc.cores", "chains run in parallel"),
    ("seed", "mcmc.seed", "seed of the data split and the sampler"),
    (
        "train-fraction",
        "evaluation.train_fraction",
        "fraction of the training split to use, in (0, 1]",
    ),
    (
        "predictive-draws",
        "evaluation.predictive_draws",
        "thinned posterior draws whose test-set predictions are measured on the chip",
    ),
)
"""The options of ``limprob train`` typed and defaulted by a field of
:class:`~limprob.inference.training.TrainConfig`, ``part.field``."""


INTERRUPTION_AND_COST = (
    "Before any work the run is refused (one line, exit 2) if its trace would need more memory "
    "than is available (or than --max-memory BYTES) or if another run is writing the same --out "
    "(it holds .OUT.lock beside it); sampling projected past a minute is announced on stderr. "
    "SIGINT (Ctrl-C) or SIGTERM stops sampling at the end of the current draw: --on-interrupt "
    "keep writes the draws completed (chains cut to a common length) with the attributes "
    "interrupted = 1, draws_completed, chains_completed and signal; discard writes nothing. "
    "Either way one line on stderr says which, the exit code is 130 (SIGINT) or 143 (SIGTERM), "
    "and no temporary file is left; a second signal stops at once."
)

CHECKPOINTS = (
    "--checkpoint DIR (a new or empty folder) writes each chain's new draws and its sampler "
    "state (tuning, cached evaluation, random generators, the chip's query count) to DIR every "
    "--checkpoint-every steps, at the end of each chain and at SIGINT or SIGTERM, so a run "
    "killed by anything, SIGKILL included, loses at most the steps since the last write. "
    "'limprob train --resume DIR' finishes it with the run's own settings, data and --out "
    "(other options than --no-progress, --on-interrupt and --max-memory are refused), and its "
    "trace equals the uninterrupted run's bit for bit in every group; its attributes say "
    "resumed = 1 and how many draws came from the checkpoint (resumed_draws). See "
    "docs/checkpoints.md."
)

REMOTE_CHIP = (
    "--chip-address HOST:PORT trains on the chip 'limprob chip serve' serves there, with the "
    "token read from --chip-token-file FILE; the simulated chip's options (--strength, "
    "--chip-seed, --noise, --weight-bits, --reset) are then refused, and the network's size "
    "comes from "
    "the served chip. A chip that stays unreachable for --chip-unavailable-after seconds ends "
    "the run with one line and exit code 2; with --checkpoint, 'limprob train --resume DIR "
    "--chip-token-file FILE' finishes it once the server is back. See docs/remote-chip.md."
)

SIMULATED_CHIP_FLAGS = ("--strength", "--chip-seed", "--noise", "--weight-bits")
"""Options of the simulated chip, refused with ``--chip`` (a user's chip is built for the
network and reset of the options) and, with ``--reset``, with ``--chip-address`` (the served
chip has its own)."""

RESUME_ALLOWS = {
    "resume",
    "no_progress",
    "on_interrupt",
    "max_memory",
    "chip_token_file",
    "chip_unavailable_after",
}
"""Options ``--resume`` may be given with: the rest of the run is in its checkpoint."""


def _add_train(commands: argparse._SubParsersAction) -> None:
    train = commands.add_parser(
        "train",
        help="train an SNN on a simulated chip by MCMC",
        description="Train a spiking network on a simulated chip by MCMC, one chip query per "
        "evaluation, and write the trace (an ArviZ DataTree: posterior, "
        "log_likelihood, sample_stats, posterior_predictive, predictions, "
        "point_estimates) with the test accuracy measured on the chip.",
        epilog="Examples:\n  limprob train --strength 1 --draws 1000 --out runs/run.nc\n"
        "  limprob train --noise 0.1 --weight-bits 6 --repeats auto --out runs/noisy.nc"
        "\n  limprob train --checkpoint runs/ck --out runs/run.nc   # after a crash:\n"
        "  limprob train --resume runs/ck"
        "\n\n"
        + textwrap.fill(INTERRUPTION_AND_COST, 78)
        + "\n\n"
        + textwrap.fill(CHECKPOINTS, 78)
        + "\n\n"
        + textwrap.fill(REMOTE_CHIP, 78),
    )
    train.set_defaults(run=_train)
    add_later(train, _train_options)


def _train_options(train: argparse.ArgumentParser) -> None:
    from limprob.inference.evaluation import POINT_ESTIMATES
    from limprob.inference.training import BLOCKS, SAMPLERS, TrainConfig

    defaults = TrainConfig()
    add_options(train, defaults, TRAIN_OPTIONS)
    add_network_choice(train)
    train.add_argument(
        "--sampler",
        choices=SAMPLERS,
        default=defaults.mcmc.sampler,
        help="step method (default %(default)s)",
    )
    train.add_argument(
        "--blocks",
        choices=BLOCKS,
        default=defaults.mcmc.blocks,
        help="one step for all weights, or one per layer (default %(default)s)",
    )
    train.add_argument(
        "--screen",
        default=defaults.mcmc.screen,
        metavar="none|ideal|TWIN.nc",
        help="delayed acceptance through a software model of the chip: the ideal "
        "network or a twin trace (samplers blocked, pcn; default "
        "%(default)s)",
    )
    train.add_argument(
        "--point-estimate",
        choices=POINT_ESTIMATES,
        default=defaults.evaluation.point_estimate,
        help="point estimate reported beside the predictive average: the mean "
        "of the best chain (W*), the best draw or the last draw "
        "(default %(default)s)",
    )
    add_reset_option(
        train,
        defaults.network.reset,
        "what a spike does to the potential: subtract the threshold, or reset it "
        "to zero (the reset NIR's LIF defines, which NIR consumers such as "
        "snnTorch run on import; docs/nir.md) (default %(default)s)",
    )
    train.add_argument(
        "--init",
        default=None,
        metavar="prior|ideal|twin|twin:TRACE|FILE",
        help="where the chains start: prior draws; ideal-model backprop (no "
        "chip query); backprop through a twin fitted here to 64 probe "
        "queries (twin) or through a twin trace's distortion, beside the "
        "ideal model's; a trace's "
        "point estimate or a NIR graph. Except for prior, the candidates "
        "and 4 prior draws are measured on the chip, one query each, and "
        "chain c starts at the c-th best (default: the data set's, "
        "limprob.models.defaults.DATASET_INITS: twin for digits, yinyang "
        "and wine; prior for wisconsin, --data and with --reset zero)",
    )
    train.add_argument(
        "--init-seeds",
        type=int,
        nargs="+",
        default=None,
        metavar="SEED",
        help="one backprop seed per chain for --init ideal, twin or twin: (default: derived "
        "from --seed)",
    )
    add_chip_noise_options(train, defaults.chip)
    train.add_argument(
        "--chip",
        default=None,
        metavar="MODULE:FACTORY|NAME",
        help="train on your chip instead of the simulated one: a factory "
        "called as factory(n_inputs=, n_outputs=, network=), given as "
        "module:factory or as a name an installed driver registers in the "
        "entry-point group limprob.chips (docs/chips.md); not with "
        + ", ".join(SIMULATED_CHIP_FLAGS),
    )
    train.add_argument(
        "--subspace",
        default=defaults.mcmc.subspace,
        metavar="none|pca:K|readout|random:K",
        help="after a full-space adaptation phase (part of tuning), sample in "
        "an affine subspace of its path with adaptive Metropolis: its top-K "
        "principal directions, the readout weights, or K random directions; "
        "the posterior is then restricted to that subspace "
        "(docs/chip-in-the-loop.md; default %(default)s)",
    )
    train.add_argument(
        "--repeats",
        type=repeats,
        default=defaults.mcmc.repeats,
        metavar="R|auto",
        help="chip queries per likelihood estimate on a noisy chip, averaged in "
        "probability space; 'auto': a pilot at the end of tuning picks R "
        "(default %(default)s)",
    )
    train.add_argument(
        "--re-estimate-current",
        action="store_true",
        help="APPROXIMATE: estimate the current point again on every step "
        "(Monte Carlo within Metropolis) instead of keeping its estimate "
        "(pseudo-marginal, exact); for comparison",
    )
    add_table_options(train)
    train.add_argument(
        "--out", default=None, help="trace to write (NetCDF); required unless --resume"
    )
    train.add_argument("--no-progress", action="store_true", help="hide progress bars")
    add_max_memory(train, "the trace")
    train.add_argument(
        "--on-interrupt",
        choices=("keep", "discard"),
        default="keep",
        help="on SIGINT (Ctrl-C) or SIGTERM, write the draws completed so far, "
        "with attributes interrupted = 1, draws_completed and "
        "chains_completed (keep), or nothing (discard); either way one "
        "line on stderr and exit code 130 (SIGINT) or 143 (SIGTERM); "
        "default %(default)s",
    )
    from limprob.inference.checkpoint import DEFAULT_EVERY

    train.add_argument(
        "--checkpoint",
        default=None,
        metavar="DIR",
        help="write the draws and the sampler's state to DIR (a new or empty "
        "folder) while sampling, so a killed run can be finished by "
        "--resume DIR; the chains are sampled one after another (--cores 1)",
    )
    train.add_argument(
        "--checkpoint-every",
        type=int,
        default=DEFAULT_EVERY,
        metavar="STEPS",
        help="steps of a chain between two checkpoint writes, tuning included "
        "(default %(default)s)",
    )
    train.add_argument(
        "--resume",
        default=None,
        metavar="DIR",
        help="finish the run checkpointed in DIR with its own settings, data "
        "and --out; the trace equals the uninterrupted run's, bit for bit",
    )
    _remote_chip_options(train)


def _remote_chip_options(train: argparse.ArgumentParser) -> None:
    """``--chip-address``, ``--chip-token-file``, ``--chip-unavailable-after``: a served chip."""
    from limprob.chip.remote import UNAVAILABLE_AFTER

    train.add_argument(
        "--chip-address",
        default=None,
        metavar="HOST:PORT",
        help="train on the chip served there (limprob chip serve) instead of a simulated one",
    )
    train.add_argument(
        "--chip-token-file",
        default=None,
        metavar="FILE",
        help="file holding the served chip's token (with --chip-address, and "
        "with --resume of a run on a served chip)",
    )
    train.add_argument(
        "--chip-unavailable-after",
        type=float,
        default=UNAVAILABLE_AFTER,
        metavar="S",
        help="seconds without an answer from the served chip "
        "after which the run stops (default %(default)s)",
    )


def _init(args: argparse.Namespace) -> str:
    """``--init``, else the data set's default start (a user's ``--data`` table, or a network
    that resets to zero: prior)."""
    from limprob.models.defaults import dataset_init

    if args.init is not None:
        return str(args.init)
    return dataset_init(None if args.data else (args.dataset or "wisconsin"), args.reset)


def _train(args: argparse.Namespace) -> None:
    from limprob.inference.checkpoint import Checkpoint
    from limprob.inference.training import TrainConfig, check_checkpointable
    from limprob.io import check_output_path, exclusive, refuse_overwriting_inputs

    if args.resume is not None:
        _resume(args)
        return
    if args.out is None:
        raise LimprobError("limprob train: the argument --out is required (unless --resume)")
    screen = args.screen if args.screen not in ("none", "ideal") else None
    refuse_overwriting_inputs(
        {"--out": args.out, "--checkpoint": args.checkpoint},
        {"--data": args.data, "--screen": screen},
    )
    if "checkpoint_every" in given_options(args) and args.checkpoint is None:
        raise LimprobError("limprob train: --checkpoint-every goes with --checkpoint DIR")
    out = check_output_path(args.out)
    given = given_options(args)
    if args.chip is not None:
        if args.chip_address is not None:
            raise LimprobError("limprob train: --chip and --chip-address name two chips; give one")
        simulated = [flag for flag in SIMULATED_CHIP_FLAGS if _field(flag) in given]
        if simulated:
            raise LimprobError(
                f"limprob train: {', '.join(simulated)} set(s) the simulated "
                f"chip; --chip {args.chip} trains on your chip instead"
            )
    with ExitStack() as locks:  # a second run on the same --out or checkpoint is refused
        chip = _given_chip(args, locks)
        config = TrainConfig.from_settings(_settings(args, chip))
        checkpoint = None
        if args.checkpoint is not None:
            checkpoint = Checkpoint.new(args.checkpoint, every=args.checkpoint_every, out=out)
            check_checkpointable(config)
        locks.enter_context(exclusive(out))
        if checkpoint is not None:
            locks.enter_context(exclusive(checkpoint.path))
        _train_into(out, config, args, load_chosen_table(args), checkpoint, chip)


def _settings(args: argparse.Namespace, chip: RemoteChip | None) -> dict[str, dict]:
    """The parts of the training configuration the options give
    (:meth:`~limprob.inference.training.TrainConfig.from_settings`); with a served ``chip``,
    its network (unless ``--hidden`` or ``--time-steps`` say otherwise, to be refused against
    it), noise, weight resolution and address."""
    from limprob.inference.training import chip_settings

    choice = network_choice(args)
    settings: dict[str, dict] = {
        "network": {"n_hidden": choice["n_hidden"], "reset": args.reset},
        "chip": {"noise": args.noise, "weight_bits": args.weight_bits, "spec": args.chip or ""},
        "mcmc": {
            "sampler": args.sampler,
            "blocks": args.blocks,
            "screen": args.screen,
            "repeats": args.repeats,
            "re_estimate_current": args.re_estimate_current,
            "init": _init(args),
            "init_seeds": args.init_seeds,
            "subspace": args.subspace,
        },
        "model": {"kappa": choice["kappa"]},
        "evaluation": {"point_estimate": args.point_estimate},
    }
    for name, value in config_fields(args, TRAIN_OPTIONS).items():
        part, field = name.split(".")
        settings[part][field] = value
    if chip is not None:
        given = given_options(args)
        network = {
            field: settings["network"][field]
            for field, dest in (("n_hidden", "network_n_hidden"), ("n_steps", "network_n_steps"))
            if dest in given
        }
        for part, values in chip_settings(chip).items():
            settings[part] |= values
        settings["network"] |= network
        settings["chip"]["address"] = chip.address
    return settings


def _given_chip(args: argparse.Namespace, stack: ExitStack) -> RemoteChip | None:
    """The chip ``--chip-address`` names, connected (closed with ``stack``), or None for the
    simulated chip of the options or the user's chip of ``--chip`` (built by
    :func:`~limprob.inference.training.train` from the configuration's ``chip_spec``)."""
    from limprob.chip.remote import connect

    given = given_options(args)
    if args.chip_address is None:
        if "chip_token_file" in given or "chip_unavailable_after" in given:
            raise LimprobError(
                "limprob train: --chip-token-file and --chip-unavailable-after "
                "go with --chip-address HOST:PORT"
            )
        return None
    simulated = [flag for flag in (*SIMULATED_CHIP_FLAGS, "--reset") if _field(flag) in given]
    if simulated:
        raise LimprobError(
            f"limprob train: {', '.join(simulated)} describe the simulated "
            f"chip; the chip at --chip-address {args.chip_address} is the "
            "server's (set them on limprob chip serve)"
        )
    if args.chip_token_file is None:
        raise LimprobError("limprob train: --chip-address needs --chip-token-file FILE")
    return stack.enter_context(
        connect(
            args.chip_address, args.chip_token_file, unavailable_after=args.chip_unavailable_after
        )
    )


def _resume(args: argparse.Namespace) -> None:
    """``--resume DIR``: finish the checkpointed run with its own settings, data and --out."""
    from limprob.inference.checkpoint import TABLE, Checkpoint
    from limprob.inference.training import checkpointed_config
    from limprob.io import check_output_path, exclusive, refuse_overwriting_inputs

    extra = sorted(given_options(args) - RESUME_ALLOWS)
    if extra:
        raise LimprobError(
            f"limprob train: --resume takes the run's settings from its "
            f"checkpoint; drop {', '.join(_flag(name) for name in extra)}"
        )
    folder = Path(args.resume)
    if not args.resume.strip() or not folder.is_dir():
        Checkpoint.open(args.resume)  # says what is wrong
    with ExitStack() as locks:  # the checkpoint first: it names the --out to lock
        locks.enter_context(exclusive(folder))
        checkpoint = Checkpoint.open(folder)
        config = checkpointed_config(checkpoint)
        if checkpoint.out is None:
            raise LimprobError(f"{folder}: the checkpoint names no trace to write")
        refuse_overwriting_inputs(
            {"the checkpoint's trace": checkpoint.out},
            {"its data table": folder / TABLE, "--resume": folder},
        )
        out = check_output_path(checkpoint.out)
        locks.enter_context(exclusive(out))
        chip = None
        if config.chip.address:
            from limprob.chip.remote import connect

            if args.chip_token_file is None:
                raise LimprobError(
                    f"{folder}: the run trains on the chip at "
                    f"{config.chip.address}: give --chip-token-file FILE"
                )
            chip = locks.enter_context(
                connect(
                    config.chip.address,
                    args.chip_token_file,
                    unavailable_after=args.chip_unavailable_after,
                )
            )
        elif args.chip_token_file is not None:
            raise LimprobError(
                f"{folder}: the run trains on a simulated chip; drop --chip-token-file"
            )
        _train_into(out, config, args, checkpoint.table(), checkpoint, chip)


def _field(flag: str) -> str:
    """The destination of the command-line flag ``flag``."""
    fields = {f"--{option}": option_dest(field) for option, field, _ in TRAIN_OPTIONS}
    return fields.get(flag, flag.removeprefix("--").replace("-", "_"))


def _flag(name: str) -> str:
    """The command-line flag of the option whose destination is ``name``."""
    flags = {option_dest(field): flag for flag, field, _ in TRAIN_OPTIONS}
    return "--" + flags.get(name, name.replace("_", "-"))


def _train_into(
    out: str | Path,
    config: TrainConfig,
    args: argparse.Namespace,
    table: xr.Dataset,
    checkpoint: Checkpoint | None = None,
    chip: Chip | None = None,
) -> None:
    from limprob.inference.training import train
    from limprob.io import save_trace

    resume = (
        f"; limprob train --resume {checkpoint.path} goes on from the checkpoint"
        if checkpoint is not None
        else ""
    )
    tree = train(
        config,
        table,
        progressbar=not args.no_progress,
        max_memory=args.max_memory,
        checkpoint=checkpoint,
        chip=chip,
    )
    with interruption.deferred():  # a first signal lets the write finish
        stopped = tree.attrs["interrupted"] or interruption.received()
        if stopped and args.on_interrupt == "discard":
            raise interruption.Interrupted(
                interruption.received() or signal.SIGINT,
                f"--on-interrupt discard: {out} not written{resume}",
            )
        save_trace(tree, out)
        if checkpoint is not None and not tree.attrs["interrupted"]:
            checkpoint.mark_complete()
    if tree.attrs["interrupted"] or interruption.received():
        if checkpoint is not None and checkpoint.complete:
            resume = ""  # the run is finished: nothing to resume
        raise interruption.Interrupted(
            interruption.received() or signal.SIGINT, kept(tree, out) + resume
        )
    if tree.attrs.get("resumed"):
        assert checkpoint is not None  # only a checkpointed run resumes
        print(
            f"resumed {checkpoint.path}: {tree.attrs['resumed_draws']} draws after tuning "
            f"({tree.attrs['resumed_steps']} steps) came from the checkpoint"
        )
    from limprob.inference.evaluation import ACCURACY_NAMES, trace_evaluation

    report = trace_evaluation(tree)
    point = config.evaluation.point_estimate
    print(
        f"test accuracy on the chip: predictive {report['test_accuracy_predictive']:.3f}, "
        f"{POINT_NAMES[point]} {report[f'test_accuracy_{ACCURACY_NAMES[point]}']:.3f}; "
        f"{report['chip_queries']} training chip queries; wrote {out}"
    )
    print(
        f"function space: log-likelihood bulk ESS {report['ess_bulk_log_likelihood']:.1f}, "
        f"R-hat {report['rhat_log_likelihood']:.3f}; test probabilities min bulk ESS "
        f"{report['ess_bulk_predictive_min']:.1f}"
    )
    print(tree.attrs["convergence_verdict"])
    if tree.attrs.get("init", "prior") != "prior":
        print(
            f"starts chosen on the chip ({tree.attrs['start_selection_chip_queries']} "
            f"queries): {tree.attrs['start_per_chain']} (per chain)"
        )
    if "start_twin_explained_fraction" in tree.attrs:
        print(
            f"twin fitted to {tree.attrs['start_twin_probe_chip_queries']} probe queries: "
            f"{tree.attrs['start_twin_explained_fraction']:.1%} of their variance explained"
        )
    noise = float(tree.attrs["chip_noise"])  # a given chip's declared noise (train --chip)
    if noise > 0:
        import numpy as np

        print(
            f"noisy chip (noise {noise:g}): likelihood "
            f"{tree.attrs['likelihood_estimate']}; queries per estimate after tuning "
            f"{', '.join(str(r) for r in np.atleast_1d(tree.attrs['repeats_per_chain']))} "
            f"(per chain)"
        )


def kept(tree: xr.DataTree, out: str | Path) -> str:
    """What an interrupted ``train`` wrote, in one line."""
    attrs = tree.attrs
    if not attrs["interrupted"]:
        return f"sampling had finished; wrote the complete trace to {out}"
    return (
        f"kept {attrs['chains_completed']} chain(s) x {attrs['draws_completed']} draws "
        f"(of {attrs['chains']} x {attrs['draws']} asked for) in {out}, "
        f"with the attribute interrupted = 1"
    )


POINT_NAMES = {"mean": "W*", "best": "best draw", "last": "last draw"}


def _add_evaluate(commands: argparse._SubParsersAction) -> None:
    evaluate = commands.add_parser(
        "evaluate",
        help="test accuracy and chip queries of a trace, or of a NIR network",
        description="Report a trace's test accuracy (predictive average and point estimates, "
        "measured on the chip when it was trained), its function-space "
        "convergence diagnostics and its chip queries; or, with --network, the test "
        "accuracy of a NIR network on the ideal chip.",
        epilog="Examples:\n  limprob evaluate runs/run.nc --json\n"
        "  limprob evaluate --network runs/net.nir --dataset wisconsin",
    )
    evaluate.set_defaults(run=_evaluate)
    add_later(evaluate, _evaluate_options)


def _evaluate_options(evaluate: argparse.ArgumentParser) -> None:
    evaluate.add_argument("trace", nargs="?", default=None, help="a trace written by limprob train")
    evaluate.add_argument(
        "--network",
        default=None,
        metavar="NET.nir",
        help="instead of a trace: a NIR graph (limprob export), run on the "
        "ideal chip on the test split of the data set",
    )
    add_table_options(evaluate)
    evaluate.add_argument(
        "--seed",
        type=int,
        default=None,
        help="with --network: seed of the data split (default: the graph's data_seed, else 0)",
    )
    evaluate.add_argument(
        *flags("time-steps"),
        dest="steps",
        type=int,
        default=None,
        metavar="T",
        help="with --network: time steps T of the network, for a graph whose "
        "metadata does not give them (one from another tool); must "
        "agree with the graph's own",
    )
    add_reset_option(
        evaluate,
        None,
        "with --network: the neurons' reset, for a graph whose metadata does "
        "not give it; must agree with the graph's own",
    )
    evaluate.add_argument("--json", action="store_true", help="print one JSON object")
    add_max_memory(evaluate, "the evaluation (or reading the trace)")


def _evaluate(args: argparse.Namespace) -> None:
    from limprob.cli.nir import evaluate_network
    from limprob.inference.evaluation import trace_evaluation
    from limprob.io import EVALUATE_ATTRIBUTES, load_trace

    if (args.trace is None) == (args.network is None):
        raise LimprobError("evaluate: give a trace or --network NET.nir, not both or neither")
    if args.network is not None:
        evaluate_network(args)
        return
    if args.dataset or args.data or args.reset or args.seed is not None or args.steps is not None:
        raise LimprobError(
            "evaluate: --dataset, --data, --seed, --time-steps and --reset go with "
            "--network; a trace holds its own test set and network"
        )
    report = trace_evaluation(
        load_trace(args.trace, attributes=EVALUATE_ATTRIBUTES, max_memory=args.max_memory)
    )
    if args.json:
        print(json.dumps(report))
        return
    chip = (
        f"strength {report['chip_strength']}, seed {report['chip_seed']}"
        if report["chip_strength"] is not None
        else report["chip"]
    )
    print(f"chip: {chip}; method {report['method']} {report['sampler']}".rstrip())
    if report["test_accuracy_predictive"] is not None:
        print(f"test accuracy, posterior predictive:     {report['test_accuracy_predictive']:.4f}")
    for key, name in (
        ("test_accuracy_posterior_mean", "posterior-mean weights W*"),
        ("test_accuracy_best_draw", "best visited draw"),
        ("test_accuracy_last_draw", "last draw"),
    ):
        if key in report:
            print(f"test accuracy, {name + ':':27s}{report[key]:.4f}")
    if "rhat_log_likelihood" in report:
        print(
            f"function space: log-likelihood bulk ESS {report['ess_bulk_log_likelihood']:.1f},"
            f" R-hat {report['rhat_log_likelihood']:.3f}; test probabilities min bulk ESS "
            f"{report['ess_bulk_predictive_min']:.1f}"
        )
    print(
        f"chip queries: {report['chip_queries']} training, "
        f"{report['evaluation_chip_queries']} evaluation"
    )


def _add_summary(commands: argparse._SubParsersAction) -> None:
    summary = commands.add_parser(
        "summary",
        help="ArviZ summary of a trace's posterior",
        description="Print ArviZ's summary (mean, sd, interval, ESS, R-hat) of a trace's "
        "posterior variables.",
        epilog="Example:\n  limprob summary runs/run.nc --var-names W_out",
    )
    summary.add_argument("trace", help="a trace written by limprob train")
    summary.add_argument(
        "--var-names", nargs="+", default=None, help="variables to summarise (default: all)"
    )
    summary.set_defaults(run=_summary)


def _summary(args: argparse.Namespace) -> None:
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
