"""Test accuracy of exported networks after quantising their weights to a platform's resolution.

Each trace's network goes through NIR as a deployment would (``limprob export``'s library
calls, then :func:`limprob.chip.from_nir`); each weight matrix is then quantised symmetrically
over ``[-max|w|, max|w|]`` (per layer: one scale per matrix, as a platform's per-layer weight
scale would be set), to integer codes ``-(2^(b-1) - 1) .. 2^(b-1) - 1``:

    s = max|w| / (2^(b-1) - 1),   w_q = s round(w / s)

and the network runs on the ideal chip (strength 0) on the test split the trace was scored
on. BrainScaleS-2's 6-bit synapses with a sign (-63 .. 63) are the 7-bit row of this
convention. Leak and threshold stay exact (limprob's nominal values): only the weights are
quantised. Prints one markdown table per trace (rows: resolution; columns: the point
estimates W*, best draw, last draw).

    .venv/bin/python benchmarks/nir_quantisation.py runs/default.nc [runs/ideal.nc ...]
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

from limprob.chip import SimulatedChip, from_nir, write_nir
from limprob.data import load_dataset, split
from limprob.inference.evaluation import POINT_ESTIMATES, accuracy, evaluate_weights
from limprob.inference.export import exported_network
from limprob.trace import load_training_trace

RESOLUTIONS = (
    (2, "2 bit (codes -1..1)"),
    (3, "3 bit (-3..3)"),
    (4, "4 bit (-7..7)"),
    (5, "5 bit (-15..15)"),
    (6, "6 bit (-31..31)"),
    (7, "7 bit (-63..63): BrainScaleS-2, 6 bit + sign"),
    (8, "8 bit (-127..127): Xylo, Loihi"),
    (None, "float64 (as trained)"),
)


def quantise(w: np.ndarray, bits: int | None) -> np.ndarray:
    """``w`` on the symmetric grid of ``2 (2^(bits-1) - 1) + 1`` levels over ±max|w|."""
    if bits is None:
        return w
    top = 2 ** (bits - 1) - 1
    scale = np.abs(w).max() / top
    return scale * np.clip(np.round(w / scale), -top, top)


def exported(trace: str, which: str, folder: Path):
    """The network of ``trace``'s point estimate ``which``, written to NIR and read back."""
    tree = load_training_trace(trace)
    path = folder / f"{which}.nir"
    write_nir(exported_network(tree, trace, which)[0], path)
    return from_nir(path), tree


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("traces", nargs="+", help="training traces (limprob train)")
    args = parser.parse_args()
    for trace in args.traces:
        with tempfile.TemporaryDirectory() as folder:
            networks = {which: exported(trace, which, Path(folder)) for which in POINT_ESTIMATES}
        first, tree = networks["mean"]
        source = str(first.metadata["data_source"])
        test = split(load_dataset(source), seed=int(first.metadata["data_seed"])).test
        labels = test["labels"].values
        chip = SimulatedChip(first.n_inputs, first.n_outputs, first.network, strength=0.0)
        print(
            f"\n{trace}: {first.n_inputs}-{first.network.n_hidden}-{first.n_outputs}, "
            f"T = {first.network.n_steps}, trained on a chip of strength "
            f"{first.metadata['chip_strength']}; test accuracy on the ideal chip, "
            f"{labels.size} {source} test samples"
        )
        print("\n| weights | W* (mean) | best draw | last draw |\n|---|---|---|---|")
        for bits, label in RESOLUTIONS:
            row = []
            for which in POINT_ESTIMATES:
                loaded = networks[which][0]
                probabilities = evaluate_weights(
                    chip,
                    quantise(loaded.w_in, bits),
                    quantise(loaded.w_out, bits),
                    test,
                    float(loaded.metadata["kappa"]),
                )
                row.append(accuracy(probabilities, labels))
            print(f"| {label} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
        print(
            f"\n(on the chip it was trained on, from the trace: W* "
            f"{tree.attrs['test_accuracy_posterior_mean']:.3f}, best draw "
            f"{tree.attrs['test_accuracy_best_draw']:.3f}, last draw "
            f"{tree.attrs['test_accuracy_last_draw']:.3f})"
        )


if __name__ == "__main__":
    main()
