"""``make demo``: train on a strongly distorted simulated chip and show what that bought.

Trains the reference network (30-16-2, T = 32) by MCMC with the default sampler (preconditioned
Crank-Nicolson) on a chip of distortion strength 1, prints the test accuracy measured on that
chip (predictive average and W*), the accuracy W* gets on the ideal (undistorted) chip and the
run's convergence verdict; then trains the same network by
surrogate-gradient backprop, on the ideal model and in the loop, and measures both on the same
chip (the comparison of Safa et al., NICE 2024, arXiv:2402.06284, in limprob's setting);
writes runs/demo.nc.
"""

from __future__ import annotations

import time
from pathlib import Path

from limprob.chip.settings import ChipSettings
from limprob.data import load_table, split
from limprob.inference.backprop import BackpropConfig, train_backprop
from limprob.inference.evaluation import accuracy, evaluate_weights, posterior_mean_weights
from limprob.inference.training import MCMCSettings, TrainConfig, simulated_chip, train_on_chip
from limprob.io import save_trace

SAMPLER_NAMES = {
    "pcn": "preconditioned Crank-Nicolson",
    "slice": "elliptical slice",
    "demcz": "DE-MCz",
    "blocked": "blocked random-walk Metropolis",
}
DEMO_CONFIG = TrainConfig(
    chip=ChipSettings(strength=1.0, seed=0),
    mcmc=MCMCSettings(draws=2000, tune=3000, chains=2, seed=0),
)
OUT = Path("runs/demo.nc")


def main() -> None:
    """Run the demo (module docstring): train, print the accuracies and the verdict, compare
    with backprop, write ``runs/demo.nc``."""
    config = DEMO_CONFIG
    table = load_table()
    data = split(table, seed=config.mcmc.seed)
    chip = simulated_chip(config, table)
    print(
        f"Training a {chip.n_inputs}-{config.network.n_hidden}-{chip.n_outputs} SNN by MCMC "
        f"({SAMPLER_NAMES[config.mcmc.sampler]}, {config.mcmc.blocks} blocks) on {chip!r}: "
        f"{config.mcmc.chains} chains x ({config.mcmc.tune} tuning + {config.mcmc.draws}) "
        f"steps, one chip query per evaluation."
    )
    started = time.perf_counter()
    tree = train_on_chip(chip, data, config)
    seconds = time.perf_counter() - started

    posterior = tree["posterior"].to_dataset()
    w_in, w_out = posterior_mean_weights(posterior, tree["log_likelihood"].to_dataset())
    labels = data.test["labels"].values
    ideal = evaluate_weights(chip.ideal(), w_in, w_out, data.test, config.model.kappa)
    print(f"\nTrained in {seconds:.1f} s with {tree.attrs['training_chip_queries']} chip queries.")
    print(f"Test accuracy ({data.test.sizes['obs']} samples)      on this chip   on the ideal chip")
    print(f"  posterior predictive average       {tree.attrs['test_accuracy_predictive']:10.3f}")
    print(
        f"  posterior-mean weights W*          "
        f"{tree.attrs['test_accuracy_posterior_mean']:10.3f}   {accuracy(ideal, labels):10.3f}"
    )
    print("The gap between the columns is the training adapting to this chip's hidden distortion.")
    print(f"Convergence in function space: {tree.attrs['convergence_verdict']}")

    print(
        "\nThe baseline: surrogate-gradient backprop through the same network "
        "(compiles once, then a few seconds)."
    )
    for method, name in (
        ("backprop", "backprop on the ideal model"),
        ("in_the_loop_backprop", "in-the-loop backprop"),
    ):
        run = train_backprop(chip, data, BackpropConfig(seed=config.mcmc.seed), method).attrs
        print(
            f"  {name:34s} {run['test_accuracy']:10.3f}   "
            f"({run['training_chip_queries']} training chip queries)"
        )

    OUT.parent.mkdir(exist_ok=True)
    save_trace(tree, OUT)
    print(
        f"\nWrote {OUT}. Open it with ArviZ:\n"
        f"    import arviz as az\n"
        f"    tree = az.from_netcdf('{OUT}')\n"
        f"    az.summary(tree, var_names=['W_out'])\n"
        f"    from limprob.inference.loo import robust_loo; robust_loo(tree)\n"
        f"or: limprob evaluate {OUT}; limprob summary {OUT} --var-names W_out\n"
        f"Other tasks: limprob train --dataset yinyang|digits|wine (three to ten classes; "
        f"docs/datasets.md)."
    )


if __name__ == "__main__":
    main()
