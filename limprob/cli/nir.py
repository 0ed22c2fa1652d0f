"""``limprob export``: a trained network as a NIR graph, for deployment on other hardware.

    limprob export runs/run.nc --nir runs/net.nir [--weights mean|best|last]
    limprob evaluate --network runs/net.nir [--dataset wisconsin]   its accuracy, ideal chip
    limprob evaluate --network other.nir --steps 25 --reset zero     a graph from another tool

The graph and its metadata are described in :mod:`limprob.chip.nir`; docs/nir.md says how to
take it to BrainScaleS-2, Xylo, Loihi, SpiNNaker2 or Speck.
"""

from __future__ import annotations

import json
from pathlib import Path

from limprob.cli.options import load_chosen_table
from limprob.errors import LimprobError

WEIGHTS = {"mean": "W*, the posterior mean of the best chain", "best": "the best visited draw",
           "last": "the last draw of the best chain"}


def register(commands):
    """Add ``export`` to the CLI's subparsers."""
    export = commands.add_parser(
        "export", help="write a trained network as a NIR graph",
        description="Write the network of a chip-in-the-loop training trace as a NIR graph "
                    "(Input -> Linear -> LIF -> Linear -> LIF -> Output, snnTorch's "
                    "discretisation; the reset the network was trained with and T in the "
                    "metadata; a network trained with --reset zero means the same to every "
                    "consumer that follows NIR's LIF definition, docs/nir.md).",
        epilog="Example:\n  limprob export runs/run.nc --nir runs/net.nir --weights best")
    export.add_argument("trace", help="a trace written by limprob train")
    export.add_argument("--nir", required=True, metavar="NET.nir", help="NIR file to write")
    export.add_argument("--weights", choices=tuple(WEIGHTS), default="mean",
                        help="which weights: " + "; ".join(f"{k}: {v}" for k, v in
                                                           WEIGHTS.items())
                             + " (default %(default)s)")
    export.set_defaults(run=run_export)


def trace_weights(tree, which: str):
    """``W_in``, ``W_out`` of point estimate ``which`` of a chip-in-the-loop trace."""
    from limprob.inference.evaluation import point_estimate_weights

    return point_estimate_weights(tree["posterior"].to_dataset(),
                                  tree["log_likelihood"].to_dataset(), which)


def export_metadata(tree, path: str | Path, which: str) -> dict:
    """What the graph says of its origin: the trace's readout gain, chip and data."""
    attrs = tree.attrs
    return {"kappa": float(attrs["kappa"]), "weights": which,
            "weights_description": WEIGHTS[which], "source_trace": Path(path).name,
            "trained_on_chip": str(attrs.get("chip", "")),
            # a simulated chip's mismatch; a user's chip (train --chip) need not describe it
            **({"chip_strength": float(attrs["chip_strength"])} if "chip_strength" in attrs
               else {}),
            **({"chip_seed": int(attrs["chip_seed"])} if "chip_seed" in attrs else {}),
            "data_source": str(attrs.get("data_source", "")), "data_seed": int(attrs["seed"]),
            "limprob_version": str(attrs.get("version_limprob", ""))}


EXPORT_ATTRIBUTES = ("network_n_hidden", "network_n_steps", "network_beta", "network_theta",
                     "kappa", "chip_strength", "chip_seed", "seed")
"""The numeric attributes of a trace that its exported graph is made of."""


def load_training_trace(path):
    """A chip-in-the-loop training trace, or :class:`LimprobError` naming what ``path`` is."""
    from limprob.io import check_trace, load_trace

    tree = load_trace(path, needs=set())
    model = tree.attrs.get("model", tree.attrs.get("method", "unknown"))
    if model != "chip_in_the_loop":
        raise LimprobError(f"{path}: a {model} trace, not a chip-in-the-loop training trace "
                           f"(limprob train)")
    missing = {"posterior", "log_likelihood"} - set(tree.children)
    if missing:
        raise LimprobError(f"{path}: limprob trace lacks the group(s) "
                           f"{', '.join(sorted(missing))}")
    return check_trace(tree, path, EXPORT_ATTRIBUTES)


def run_export(args):
    """``limprob export``: write a training trace's point estimate as a NIR graph."""
    from limprob.chip.nir import to_nir, write_nir
    from limprob.io import check_output_path, refuse_overwriting_inputs
    from limprob.snn import Network

    refuse_overwriting_inputs({"--nir": args.nir}, {"the trace": args.trace})
    out = check_output_path(args.nir)
    tree = load_training_trace(args.trace)
    attrs = tree.attrs
    network = Network.from_attrs(attrs)
    w_in, w_out = trace_weights(tree, args.weights)
    write_nir(to_nir(w_in, w_out, network, export_metadata(tree, args.trace, args.weights)),
              out)
    print(f"{w_in.shape[0]}-{network.n_hidden}-{w_out.shape[1]} LIF network "
          f"(T = {network.n_steps}, beta = {network.beta}, threshold = {network.theta}, "
          f"reset {network.reset}, {WEIGHTS[args.weights]}); wrote {out}")


def evaluate_network(args):
    """``limprob evaluate --network NET.nir [--steps T] [--reset R]``: the network's test
    accuracy on the ideal chip; T and R for a graph whose metadata does not give them."""
    from limprob.chip.nir import from_nir
    from limprob.chip.simulated import SimulatedChip
    from limprob.data import split
    from limprob.inference.evaluation import accuracy, evaluate_weights, project_evaluation
    from limprob.models.defaults import DEFAULT_KAPPA
    from limprob.validation import seed

    loaded = from_nir(args.network, args.steps, args.reset)
    table = load_chosen_table(args)
    data_seed = seed("seed", args.seed if args.seed is not None
                     else loaded.metadata.get("data_seed", 0))
    test = split(table, seed=data_seed).test
    if test.sizes["feature"] != loaded.n_inputs or table.sizes["class"] != loaded.n_outputs:
        raise LimprobError(f"{args.network}: a {loaded.n_inputs}-input, {loaded.n_outputs}-output "
                           f"network cannot classify a table of {test.sizes['feature']} features "
                           f"and {table.sizes['class']} classes")
    chip = SimulatedChip(loaded.n_inputs, loaded.n_outputs, loaded.network, 0.0)
    project_evaluation(chip, loaded.w_in, loaded.w_out, test, args.max_memory)
    kappa = float(loaded.metadata.get("kappa", DEFAULT_KAPPA))
    probabilities = evaluate_weights(chip, loaded.w_in, loaded.w_out, test, kappa)
    report = {"test_accuracy_ideal_chip": accuracy(probabilities, test["labels"].values),
              "n_test": int(test.sizes["obs"]), "data_seed": data_seed,
              "data_source": str(table.attrs.get("source", "data")),
              "network": f"{loaded.n_inputs}-{loaded.network.n_hidden}-{loaded.n_outputs}",
              "time_steps": loaded.network.n_steps, "reset": loaded.network.reset}
    if args.json:
        print(json.dumps(report))
        return
    print(f"{report['network']} LIF network from {args.network}, T = {report['time_steps']}, "
          f"reset {report['reset']}: "
          f"test accuracy on the ideal chip {report['test_accuracy_ideal_chip']:.4f} "
          f"({report['n_test']} test samples of {report['data_source']}, split seed "
          f"{data_seed})")
