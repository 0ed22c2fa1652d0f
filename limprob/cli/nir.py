"""``limprob export``: a trained network as a NIR graph, for deployment on other hardware.

    limprob export runs/run.nc --nir runs/net.nir [--weights mean|best|last]
    limprob evaluate --network runs/net.nir [--dataset wisconsin]   its accuracy, ideal chip
    limprob evaluate --network other.nir --time-steps 25 --reset zero   a graph from another tool

The graph and its metadata are described in :mod:`limprob.chip.nir`, the export in
:mod:`limprob.inference.export`; docs/nir.md says how to take it to BrainScaleS-2, Xylo, Loihi,
SpiNNaker2 or Speck.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from limprob.cli.options import add_later, load_chosen_table
from limprob.errors import LimprobError

if TYPE_CHECKING:
    import argparse


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``export`` to the CLI's subparsers."""
    export = commands.add_parser(
        "export",
        help="write a trained network as a NIR graph",
        description="Write the network of a chip-in-the-loop training trace as a NIR graph "
        "(Input -> Linear -> LIF -> Linear -> LIF -> Output, snnTorch's "
        "discretisation; the reset the network was trained with and T in the "
        "metadata; a network trained with --reset zero means the same to every "
        "consumer that follows NIR's LIF definition, docs/nir.md).",
        epilog="Example:\n  limprob export runs/run.nc --nir runs/net.nir --weights best",
    )
    export.add_argument("trace", help="a trace written by limprob train")
    export.add_argument("--nir", required=True, metavar="NET.nir", help="NIR file to write")
    add_later(export, add_weights_option)
    export.set_defaults(run=run_export)


def add_weights_option(export: argparse.ArgumentParser) -> None:
    """``--weights``: which point estimate of the trace to export."""
    from limprob.inference.evaluation import POINT_ESTIMATE_DESCRIPTIONS

    export.add_argument(
        "--weights",
        choices=tuple(POINT_ESTIMATE_DESCRIPTIONS),
        default="mean",
        help="which weights: "
        + "; ".join(f"{k}: {v}" for k, v in POINT_ESTIMATE_DESCRIPTIONS.items())
        + " (default %(default)s)",
    )


def run_export(args: argparse.Namespace) -> None:
    """``limprob export``: write a training trace's point estimate as a NIR graph."""
    from limprob.chip.nir import write_nir
    from limprob.inference.evaluation import POINT_ESTIMATE_DESCRIPTIONS
    from limprob.inference.export import exported_network
    from limprob.io import check_output_path, refuse_overwriting_inputs
    from limprob.trace import load_training_trace

    refuse_overwriting_inputs({"--nir": args.nir}, {"the trace": args.trace})
    out = check_output_path(args.nir)
    tree = load_training_trace(args.trace)
    graph, network, w_in, w_out = exported_network(tree, args.trace, args.weights)
    write_nir(graph, out)
    print(
        f"{w_in.shape[0]}-{network.n_hidden}-{w_out.shape[1]} LIF network "
        f"(T = {network.n_steps}, beta = {network.beta}, threshold = {network.theta}, "
        f"reset {network.reset}, {POINT_ESTIMATE_DESCRIPTIONS[args.weights]}); wrote {out}"
    )


def evaluate_network(args: argparse.Namespace) -> None:
    """``limprob evaluate --network NET.nir [--time-steps T] [--reset R]``: the network's test
    accuracy on the ideal chip; T and R for a graph whose metadata does not give them."""
    from limprob.chip.nir import from_nir
    from limprob.chip.simulated import SimulatedChip
    from limprob.data import split
    from limprob.inference.evaluation import accuracy, evaluate_weights, project_evaluation
    from limprob.models.defaults import DEFAULT_KAPPA
    from limprob.validation import seed

    loaded = from_nir(args.network, args.steps, args.reset)
    table = load_chosen_table(args)
    data_seed = seed(
        "seed", args.seed if args.seed is not None else loaded.metadata.get("data_seed", 0)
    )
    test = split(table, seed=data_seed).test
    if test.sizes["feature"] != loaded.n_inputs or table.sizes["class"] != loaded.n_outputs:
        raise LimprobError(
            f"{args.network}: a {loaded.n_inputs}-input, {loaded.n_outputs}-output "
            f"network cannot classify a table of {test.sizes['feature']} features "
            f"and {table.sizes['class']} classes"
        )
    chip = SimulatedChip(loaded.n_inputs, loaded.n_outputs, loaded.network, 0.0)
    project_evaluation(chip, loaded.w_in, loaded.w_out, test, args.max_memory)
    kappa = float(loaded.metadata.get("kappa", DEFAULT_KAPPA))
    probabilities = evaluate_weights(chip, loaded.w_in, loaded.w_out, test, kappa)
    report = {
        "test_accuracy_ideal_chip": accuracy(probabilities, test["labels"].values),
        "n_test": int(test.sizes["obs"]),
        "data_seed": data_seed,
        "data_source": str(table.attrs.get("source", "data")),
        "network": f"{loaded.n_inputs}-{loaded.network.n_hidden}-{loaded.n_outputs}",
        "time_steps": loaded.network.n_steps,
        "reset": loaded.network.reset,
    }
    if args.json:
        print(json.dumps(report))
        return
    print(
        f"{report['network']} LIF network from {args.network}, T = {report['time_steps']}, "
        f"reset {report['reset']}: "
        f"test accuracy on the ideal chip {report['test_accuracy_ideal_chip']:.4f} "
        f"({report['n_test']} test samples of {report['data_source']}, split seed "
        f"{data_seed})"
    )
