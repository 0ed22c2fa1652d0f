"""Fixed-seed spike counts of every default (reset by subtraction) LIF path, to check that a
change to the kernels leaves them bit for bit as they were.

Writes the counts of ``SimulatedChip.run`` (ideal, distorted, noisy, 6-bit chips; three weight
sets each), ``simulate`` of a distortion and ``lif_counts``/``lif_counts_numpy`` on the
Wisconsin test split to an ``.npz``; with ``--compare OTHER.npz`` it says whether every array
is byte-identical to OTHER's. Run it in two checkouts (for example main and a branch) with the
same data:

    (cd /path/to/main && .venv/bin/python /path/to/benchmarks/lif_counts_digest.py /tmp/main.npz)
    .venv/bin/python benchmarks/lif_counts_digest.py /tmp/branch.npz --compare /tmp/main.npz

About a minute, mostly numba compilation.
"""

import argparse

import numpy as np

from limprob.chip.distortion import Distortion
from limprob.chip.simulated import SimulatedChip, simulate
from limprob.data import load_table, split
from limprob.snn import Network, lif_counts, lif_counts_numpy

CHIPS = {
    "ideal": dict(strength=0.0),
    "default": dict(strength=1.0),
    "noise": dict(strength=1.0, noise=0.1),
    "bits": dict(strength=1.0, weight_bits=6),
}


def counts() -> dict[str, np.ndarray]:
    """The counts of every path, by name (fixed seeds)."""
    x = split(load_table(), seed=0).test["features"].values
    rng = np.random.default_rng(5)
    out = {}
    for name, options in CHIPS.items():
        chip = SimulatedChip(30, 2, Network(), **options)
        for query in range(3):
            w_in, w_out = rng.normal(0, 1, (30, 16)), rng.normal(0, 1, (16, 2))
            out[f"{name}{query}"] = chip.run(w_in, w_out, x)
    w_in, w_out = rng.normal(0, 1, (4, 30, 16)), rng.normal(0, 1, (4, 16, 2))
    out["simulate"] = simulate(
        Distortion(inverse_w_sat=1.5, log_gain=0.2), Network(), w_in, w_out, x
    )
    neurons = (np.full(16, 0.9), np.full(16, 1.0), np.full(2, 0.9), np.full(2, 1.0), 32)
    out["numba"] = lif_counts(x, w_in[0], w_out[0], *neurons)
    out["numpy"] = lif_counts_numpy(x, w_in[0], w_out[0], *neurons)
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", help=".npz to write")
    parser.add_argument("--compare", default=None, help=".npz of another checkout")
    args = parser.parse_args()
    mine = counts()
    np.savez(args.out, **mine)
    print(
        f"{len(mine)} count arrays, {sum(float(v.sum()) for v in mine.values()):g} spikes; "
        f"wrote {args.out}"
    )
    if args.compare:
        other = np.load(args.compare)
        same = [k for k in mine if k in other and mine[k].tobytes() == other[k].tobytes()]
        print(f"byte-identical to {args.compare}: {len(same)} of {len(mine)} arrays")


if __name__ == "__main__":
    main()
