"""What snnTorch makes of limprob's NIR export: test predictions changed by ``import_from_nir``.

Each trace's point estimates (W*, best draw, last draw) are exported as ``limprob export``
does (:func:`limprob.chip.to_nir`), written and read back with ``nir``, and imported with
snnTorch 1.0's ``snntorch.import_nir.import_from_nir``. snnTorch reads every NIR LIF as
``Leaky(beta = 1 - dt/tau, reset_mechanism="zero", reset_delay=False)``, dt = 1e-4, in
float32. The imported network runs T steps on the trace's test split (the min-max scaled
features as a constant current at every step, as the graph's metadata says); its output spike
counts are compared with limprob's counts of the same graph (:func:`limprob.chip.from_nir` on
the ideal chip). Two snnTorch runs: as imported (float32) and cast to float64
(every layer, the Linear layers' spike inputs included), which separates the reset from float32
rounding.

Prints one markdown row per trace and point estimate: the reset the network was trained with,
test predictions (argmax of the counts, first class on ties, as limprob's softmax readout)
that differ, samples whose counts differ, and the largest count difference.

The other direction, for the traces trained with reset zero: the best draw's weights go into
an snnTorch network of ``Leaky(reset_mechanism="zero")`` neurons, snnTorch's
``export_to_nir`` writes it (no limprob metadata), and ``from_nir(path, time_steps, "zero")``
(``limprob evaluate --network --time-steps T --reset zero``) reads it; the counts of snnTorch's own
network are compared with limprob's counts of the graph.

Needs torch and snnTorch, which limprob does not depend on:

    .venv/bin/pip install torch==2.13.0 snntorch==1.0.0 nirtorch
    .venv/bin/limprob train --out runs/default.nc                  # reset by subtraction
    .venv/bin/limprob train --reset zero --out runs/zero.nc        # NIR's reset to zero
    .venv/bin/python benchmarks/nir_snntorch.py runs/default.nc runs/zero.nc

A few seconds per trace after the imports.
"""

import argparse
import contextlib
import io
import tempfile
from pathlib import Path

import nir
import numpy as np
import snntorch
import snntorch.utils
import torch
from snntorch.export_nir import export_to_nir
from snntorch.import_nir import import_from_nir

from limprob.chip import SimulatedChip, from_nir, write_nir
from limprob.data import load_dataset, split
from limprob.inference.evaluation import POINT_ESTIMATES
from limprob.inference.export import exported_network, trace_weights
from limprob.snn import Network
from limprob.trace import load_training_trace, network_from_attrs


def snntorch_counts(graph, x: np.ndarray, n_steps: int, dtype) -> np.ndarray:
    """Output spike counts (obs, output) of ``graph`` imported by snnTorch, run ``n_steps``
    steps on the constant input ``x`` in ``dtype``."""
    with contextlib.redirect_stdout(io.StringIO()):  # snnTorch prints what it replaces
        module = import_from_nir(graph)
    module = module.to(dtype)
    for layer in module.modules():  # snnTorch's spikes are float32 whatever the layer's dtype
        if isinstance(layer, torch.nn.Linear):
            layer.register_forward_pre_hook(
                lambda layer, inputs: tuple(a.to(layer.weight.dtype) for a in inputs)
            )
    current = torch.as_tensor(x, dtype=dtype)
    counts = torch.zeros(
        (x.shape[0], graph.nodes["output"].output_type["output"][0]), dtype=torch.float64
    )
    with torch.no_grad():
        for _ in range(n_steps):
            spikes, _ = module(current)
            counts += spikes.to(torch.float64)
    return counts.numpy()


def snntorch_network(w_in, w_out, network: Network):
    """The network as snnTorch modules (float32): Linear (no bias) and ``Leaky`` layers with
    per-neuron constants (what snnTorch's exporter needs to give per-neuron NIR nodes)."""

    def leaky(size, **options):
        return snntorch.Leaky(
            beta=torch.full((size,), network.beta),
            threshold=torch.full((size,), network.theta),
            init_hidden=True,
            reset_mechanism=network.reset,
            **options,
        )

    layers = []
    for w in (w_in, w_out):
        linear = torch.nn.Linear(*w.shape, bias=False)
        linear.weight.data = torch.as_tensor(w.T, dtype=torch.float32)
        layers += [linear, leaky(w.shape[1], **({"output": True} if w is w_out else {}))]
    return torch.nn.Sequential(*layers)


def snntorch_export_round_trip(trace: str, folder: Path):
    """snnTorch's own network of the trace's best draw against limprob's reading of its
    export (no metadata; T and the reset given)."""
    tree = load_training_trace(trace)
    network = network_from_attrs(tree.attrs)
    test = split(load_dataset("wisconsin"), seed=int(tree.attrs["seed"])).test
    x = test["features"].values
    module = snntorch_network(*trace_weights(tree, "best"), network)
    current = torch.as_tensor(x, dtype=torch.float32)
    own = np.zeros((x.shape[0], 2))
    with torch.no_grad():
        for _ in range(network.n_steps):
            spikes, _ = module(current)
            own += spikes.numpy()
        snntorch.utils.reset(module)
        with contextlib.redirect_stdout(io.StringIO()):
            graph = export_to_nir(module, torch.zeros(x.shape[1]))
    path = folder / "from_snntorch.nir"
    nir.write(path, graph)
    loaded = from_nir(path, network.n_steps, network.reset)
    counts = SimulatedChip(loaded.n_inputs, loaded.n_outputs, loaded.network, 0.0).run(
        loaded.w_in, loaded.w_out, x
    )
    changed = int((counts.argmax(axis=1) != own.argmax(axis=1)).sum())
    print(
        f"{Path(trace).name}: snnTorch's own network (reset {network.reset}, float32) against "
        f"limprob's reading of its export_to_nir graph: {changed} / {len(x)} predictions "
        f"differ, {int(np.any(counts != own, axis=1).sum())} samples with other counts, "
        f"largest count difference {np.abs(counts - own).max():g}"
    )


def compare(trace: str, folder: Path):
    tree = load_training_trace(trace)
    test = split(load_dataset("wisconsin"), seed=int(tree.attrs["seed"])).test
    x = test["features"].values
    for which in POINT_ESTIMATES:
        path = folder / f"{Path(trace).stem}-{which}.nir"
        graph, network, _, _ = exported_network(tree, trace, which)
        write_nir(graph, path)
        loaded = from_nir(path)
        limprob = SimulatedChip(loaded.n_inputs, loaded.n_outputs, loaded.network, 0.0).run(
            loaded.w_in, loaded.w_out, x
        )
        row = [Path(trace).name, network.reset, which]
        for dtype in (torch.float32, torch.float64):
            other = snntorch_counts(nir.read(path), x, network.n_steps, dtype)
            changed = int((other.argmax(axis=1) != limprob.argmax(axis=1)).sum())
            differing = int(np.any(other != limprob, axis=1).sum())
            row += [f"{changed} / {len(x)}", str(differing), f"{np.abs(other - limprob).max():g}"]
        print("| " + " | ".join(row) + " |")


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("traces", nargs="+", help="traces written by limprob train")
    args = parser.parse_args()
    print(
        "| trace | reset | weights | predictions changed (float32) | samples with other "
        "counts | max count difference | predictions changed (float64) | samples with "
        "other counts | max count difference |"
    )
    print("|---|---|---|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as folder:
        for trace in args.traces:
            compare(trace, Path(folder))
        print()
        for trace in args.traces:
            if load_training_trace(trace).attrs.get("network_reset") == "zero":
                snntorch_export_round_trip(trace, Path(folder))


if __name__ == "__main__":
    main()
