"""Chip forward evaluations per second: limprob's numba kernel against plain numpy.

Benchmark network 30-32-2, T = 32, the full 569-sample Wisconsin batch, float64. Both
implementations run the same equations (limprob.snn) on the same inputs, interleaved in one
run, so machine load affects both alike. Prints evaluations per second, the ratio, and the
kernel's achieved FLOP rate (FLOPs per call from limprob.snn.flops_per_run). Then the price of
membrane noise: the same kernel with noise 0.1 (one counter-based normal per neuron, sample
and step, limprob.streams), interleaved with the noiseless kernel.

    .venv/bin/python benchmarks/simulator.py [--seconds 3]
"""

import argparse
import time

import numpy as np

from limprob.data import load_wisconsin
from limprob.snn import flops_per_run, lif_counts, lif_counts_numpy
from limprob.streams import stream_key

H, T = 32, 32


def rate(function, args, seconds):
    function(*args)  # compile / warm up
    calls, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        function(*args)
        calls += 1
    return calls / (time.perf_counter() - started)


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    seconds = parser.parse_args().seconds
    rounds = parser.parse_args().rounds
    features = load_wisconsin()["features"].values
    x = (features - features.min(0)) / (features.max(0) - features.min(0))
    rng = np.random.default_rng(0)
    args = (
        x,
        rng.normal(0, 1, (30, H)),
        rng.normal(0, 1, (H, 2)),
        np.full(H, 0.9),
        np.ones(H),
        np.full(2, 0.9),
        np.ones(2),
        T,
    )
    assert np.array_equal(lif_counts(*args), lif_counts_numpy(*args))
    fast, slow = [], []
    for _ in range(rounds):
        fast.append(rate(lif_counts, args, seconds))
        slow.append(rate(lif_counts_numpy, args, seconds))
    fast, slow = float(np.median(fast)), float(np.median(slow))
    flops = flops_per_run(x.shape[0], 30, H, 2, T)
    print(
        f"network 30-{H}-2, T = {T}, batch {x.shape[0]}, float64; median of {rounds} "
        f"interleaved rounds of {seconds:g} s"
    )
    print(f"numba kernel (limprob.snn.lif_counts): {fast:9.1f} evaluations/s")
    print(f"vectorised numpy (lif_counts_numpy):   {slow:9.1f} evaluations/s")
    print(f"ratio numba / numpy:                   {fast / slow:9.2f}x")
    print(f"kernel FLOP rate: {flops * fast / 1e9:.2f} GFLOP/s ({flops:,} FLOPs per evaluation)")

    noisy_args = (*args, False, 0.1, np.uint64(stream_key(0, 0)))
    quiet, noisy = [], []
    for _ in range(rounds):
        quiet.append(rate(lif_counts, args, seconds))
        noisy.append(rate(lif_counts, noisy_args, seconds))
    quiet, noisy = float(np.median(quiet)), float(np.median(noisy))
    normals = x.shape[0] * (H + 2) * T
    print(
        f"with membrane noise 0.1 (lif_counts): {noisy:9.1f} evaluations/s, "
        f"{quiet / noisy:.1f}x slower than without ({quiet:.1f}/s); "
        f"{normals:,} normals per evaluation"
    )


if __name__ == "__main__":
    main()
