"""Synthetic-likelihood evaluations per second of the chip population twin, on 1 and 2 threads.

One evaluation simulates every chip of the population (analysis settings: 64 chips, 30-8-2,
T = 32, 16 probes x 32 inputs) at the design note's strength-1 globals and takes the Gaussian
log-density of the observed summaries. The chips run in a numba ``prange`` loop; the two
thread counts are measured interleaved in one run, so machine load affects both alike. Prints
evaluations per second, milliseconds per evaluation and the speed-up.

    .venv/bin/python benchmarks/population.py [--seconds 3] [--rounds 3]
"""

import argparse

import numba
import numpy as np

from limprob.chip import SimulatedChip
from limprob.chip.distortion import DistortionGlobals, Mismatch
from limprob.chip.probes import record_probes_from_table
from limprob.data import load_table, split
from limprob.likelihood.synthetic import (
    gaussian_synthetic_log_likelihood,
    population_summaries,
    standard_draws,
)
from limprob.models.chip_population import DEFAULT_CHIPS, DEFAULT_GROUPS, observed_summaries
from limprob.snn import Network
from simulator import rate  # benchmarks/simulator.py: calls per second after a warm-up

TRUTH = (2.0, 0.0, 0.0, 0.7, 0.4, 0.1)  # inverse_w_sat, log_gain, log_leak, spreads


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=3.0, help="time per measurement")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds")
    args = parser.parse_args()
    net = Network(n_hidden=8)
    chip = SimulatedChip(30, 2, net, 1.0, 0)
    probes = record_probes_from_table(
        chip, split(load_table(), seed=0, train_fraction=0.5).train, 16, 32, seed=0
    )
    observed = observed_summaries(probes, DEFAULT_GROUPS)
    arrays = [
        np.ascontiguousarray(probes[name].values, dtype=np.float64)
        for name in ("W_in", "W_out", "x")
    ]
    draws = standard_draws(DEFAULT_CHIPS, 30, net.n_hidden, 2, seed=0)

    def evaluate():
        simulated = population_summaries(
            *arrays,
            Mismatch(**draws),
            DistortionGlobals(*TRUTH),
            net.beta,
            net.theta,
            net.n_steps,
            DEFAULT_GROUPS,
        )
        return gaussian_synthetic_log_likelihood(observed, simulated, 0.01)

    available = numba.get_num_threads()
    threads = [1, min(2, available)]
    rates = {t: [] for t in threads}
    for _ in range(args.rounds):
        for t in threads:
            numba.set_num_threads(t)
            rates[t].append(rate(evaluate, (), args.seconds))
    numba.set_num_threads(available)
    print(f"synthetic likelihood, {DEFAULT_CHIPS} chips x 16 probes x 32 inputs, 30-8-2, T = 32")
    for t in threads:
        best = max(rates[t])
        print(f"  {t} thread(s): {best:7.1f} evaluations/s  ({1e3 / best:.2f} ms each)")
    print(f"  speed-up with {threads[-1]} threads: {max(rates[threads[-1]]) / max(rates[1]):.2f}x")


if __name__ == "__main__":
    main()
