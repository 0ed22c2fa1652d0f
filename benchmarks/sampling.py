"""Metropolis-Hastings through pm.sample on a chip: speed, overhead, accuracy per chip query.

1. Proposals per second of limprob's blocked step end to end through ``pm.sample`` at the
   reference size (30-16-2, T = 32, 455 training samples, strength 1), beside the time of the
   bare chip query each proposal makes; PyMC's share of a proposal is
   ``1 - t_query / t_proposal``.
2. Test accuracy against chip queries at strength 1 for the blocked step, ``pm.Metropolis``
   and ``pm.DEMetropolisZ`` on the same chip, data and seed, at the same query budgets.

    .venv/bin/python benchmarks/sampling.py [--budgets 2000 5000 10000] [--chip-seed 0]
"""

import argparse
import logging
import time

import numpy as np
import pymc as pm

from limprob.chip import SimulatedChip
from limprob.data import load_table, split
from limprob.inference.sampling import prior_draws
from limprob.inference.training import TrainConfig, make_step, train_on_chip
from limprob.models.chip_in_the_loop import build_model

logging.getLogger("pymc").setLevel(logging.ERROR)


def timed_proposals(chip, train, proposals=6000, seed=0):
    """Seconds per proposal of blocked MH through pm.sample, from the first to the last draw
    (so numba compilation, which happens at the first evaluation, is not counted)."""
    model = build_model(chip, train)
    stamps = []
    with model:
        step = make_step(model, chip, "blocked")
        pm.sample(draws=proposals // 2, tune=proposals // 2, chains=1, step=step,
                  initvals=prior_draws(model, 1, seed), random_seed=seed, progressbar=False,
                  compute_convergence_checks=False,
                  callback=lambda trace, draw: stamps.append(time.perf_counter()))
    return (stamps[-1] - stamps[0]) / (len(stamps) - 1)


def query_seconds(chip, train, repeats=3000, seed=0):
    """Seconds per bare chip query (chip.run) with prior-drawn weights."""
    rng = np.random.default_rng(seed)
    w_in, w_out = rng.normal(size=(chip.n_inputs, 16)), rng.normal(size=(16, chip.n_outputs))
    x = train["features"].values
    chip.run(w_in, w_out, x)
    started = time.perf_counter()
    for _ in range(repeats):
        chip.run(w_in, w_out, x)
    return (time.perf_counter() - started) / repeats


def budget_config(sampler, budget, chip_seed):
    """Settings that spend about ``budget`` chip queries with one chain."""
    if sampler == "blocked":  # one query per proposal
        return dict(tune=budget // 2, draws=budget // 2)
    if sampler == "demetropolisz":  # two queries per proposal
        return dict(tune=budget // 4, draws=budget // 4)
    return dict(tune=0, draws=max(1, budget // 1024))  # metropolis: 1,024 per draw at H = 16


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--budgets", type=int, nargs="+", default=[2000, 5000, 10000])
    parser.add_argument("--chip-seed", type=int, default=0)
    args = parser.parse_args()
    table = load_table()
    data = split(table, seed=0)

    def new_chip():
        return SimulatedChip(30, 2, strength=1.0, seed=args.chip_seed)

    chip = new_chip()
    timed_proposals(chip, data.train, 200)  # warm the caches
    proposal, query = [], []
    for _ in range(3):  # interleaved, so machine load affects both alike
        proposal.append(timed_proposals(chip, data.train))
        query.append(query_seconds(chip, data.train))
    proposal, query = float(np.median(proposal)), float(np.median(query))
    print("Blocked MH through pm.sample, 30-16-2, T = 32, 455 training samples, strength 1 "
          "(median of 3 interleaved rounds)")
    print(f"  proposals per second:        {1 / proposal:8.0f}  ({proposal * 1e6:.0f} us each)")
    print(f"  bare chip query:             {query * 1e6:8.0f} us")
    print(f"  PyMC + step overhead share:  {1 - query / proposal:8.1%} of a proposal "
          f"({(proposal - query) * 1e6:.0f} us)")

    print("\nTest accuracy on the chip against chip queries (1 chain, seed 0, strength 1)")
    print(f"  {'sampler':14s} {'budget':>7s} {'queries':>8s} {'W*':>6s} {'predictive':>10s} "
          f"{'seconds':>8s}")
    for sampler in ("blocked", "demetropolisz", "metropolis"):
        for budget in args.budgets:
            config = TrainConfig(strength=1.0, chains=1, sampler=sampler, predictive_draws=50,
                                 **budget_config(sampler, budget, args.chip_seed))
            started = time.perf_counter()
            tree = train_on_chip(new_chip(), data, config, progressbar=False)
            print(f"  {sampler:14s} {budget:7d} {tree.attrs['training_chip_queries']:8d} "
                  f"{tree.attrs['test_accuracy_posterior_mean']:6.3f} "
                  f"{tree.attrs['test_accuracy_predictive']:10.3f} "
                  f"{time.perf_counter() - started:8.1f}")


if __name__ == "__main__":
    main()
