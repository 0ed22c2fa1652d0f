# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#     text_representation:
#       extension: .py
#       format_name: percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # A first run: train on a distorted chip
#
# This tutorial trains a small spiking neural network (SNN) on a simulated chip whose
# hidden distortion the software model does not know, reads whether the sampler converged,
# looks at the posterior in ArviZ, compares the result with surrogate-gradient backprop and
# exports the trained network as a NIR graph.
#
# The settings are small, so the whole tutorial runs in a minute or two on a laptop; the
# test suite runs it as it stands (`tests/test_tutorial.py`). Every number it prints comes
# from the run. For results worth reporting, use the settings of `make demo` (16 hidden
# neurons, 3,000 tuning steps and 2,000 draws per chain).
#
# Run it as a notebook (`jupytext --to ipynb docs/tutorials/first-run.py`, then open the
# notebook) or cell by cell in an editor that reads `# %%` cells.

# %%
from pathlib import Path

import arviz as az
import xarray as xr

from limprob.chip import ChipSettings, SimulatedChip, from_nir, to_nir, write_nir
from limprob.data import load_dataset, split
from limprob.inference import (
    EvaluationSettings,
    MCMCSettings,
    TrainConfig,
    accuracy,
    evaluate_weights,
    train_on_chip,
)
from limprob.inference.backprop import BackpropConfig, IdealModelBackprop, InTheLoopBackprop
from limprob.inference.diagnostics import function_space_diagnostics, function_space_draws
from limprob.inference.evaluation import point_estimate_weights
from limprob.inference.plots import plot_training
from limprob.io import load_trace, save_trace
from limprob.snn import Network

RUNS = Path("runs")  # the trace, the figures and the NIR graph go here
RUNS.mkdir(exist_ok=True)

# %% [markdown]
# ## The data and the chip
#
# The Wisconsin breast-cancer table ships inside scikit-learn: 569 samples, 30 features, two
# classes. `split` scales the features with the training part's range and holds out a test
# set; every array has named dims.

# %%
data = split(load_dataset("wisconsin"), seed=0)
data.train

# %% [markdown]
# The chip runs a 30-8-2 network of leaky integrate-and-fire neurons for T = 32 time steps
# and returns the output spike counts. Its distortion (strength 1: strong) is hidden: the
# only way to learn about it is to query the chip, and the chip counts its queries.

# %%
network = Network(n_hidden=8, n_steps=32)
chip = SimulatedChip(n_inputs=30, n_outputs=2, network=network, strength=1.0, seed=0)
chip

# %% [markdown]
# ## Train by Metropolis-Hastings on the chip
#
# The weights are PyMC random variables; each likelihood evaluation writes them into the
# chip and reads the spike counts. The default sampler is preconditioned Crank-Nicolson
# (`sampler="pcn"`), one chip query per proposal. A `TrainConfig` is made of the run's
# parts, each checked when it is made: the `network`, the `chip` it trains on, the sampler
# settings `mcmc`, the `model`'s prior and readout gain, and the `evaluation`.

# %%
config = TrainConfig(
    network=network,
    chip=ChipSettings(strength=1.0, seed=0),
    mcmc=MCMCSettings(draws=400, tune=400, chains=2, seed=0),
    evaluation=EvaluationSettings(predictive_draws=20),
)
tree = train_on_chip(chip, data, config, progressbar=False)
print(f"{tree.attrs['training_chip_queries']} chip queries for training, {chip.queries} in all")
print(
    f"test accuracy on this chip: predictive average "
    f"{tree.attrs['test_accuracy_predictive']:.3f}, W* "
    f"{tree.attrs['test_accuracy_posterior_mean']:.3f}"
)

# %% [markdown]
# `tree` is an ArviZ `DataTree`: `posterior` holds the weights, `log_likelihood` the
# pointwise log-likelihood recorded while sampling, `predictions` the test-set class
# probabilities measured on the chip. [Trace layout](../trace.md) lists every group.

# %%
tree

# %% [markdown]
# ## Did the chains converge? Diagnostics in function space
#
# The hidden neurons of a network can be relabelled without changing what it computes, so
# R-hat and ESS of single weights say little. limprob diagnoses the *function* instead: the
# summed training log-likelihood of each draw and the test-set predictions. The run records
# these diagnostics and a verdict in words in its attributes.

# %%
print(tree.attrs["convergence_verdict"])
{
    name: tree.attrs[name]
    for name in (
        "converged",
        "ess_bulk_log_likelihood",
        "rhat_log_likelihood",
        "ess_bulk_predictive_min",
        "rhat_predictive_max",
    )
}

# %% [markdown]
# The same numbers come from `function_space_diagnostics`, which works on any trace. With
# these few draws the verdict usually says the chains have not converged: that is the
# honest answer for a short run, and the reason to run longer.

# %%
diagnostics = function_space_diagnostics(tree)
diagnostics

# %% [markdown]
# ## The posterior in ArviZ
#
# ArviZ runs on the trace as it comes. `az.summary` gives the mean, the interval and the
# diagnostics of each weight, labelled by the named dims (`hidden`, `class`):

# %%
az.summary(tree, var_names=["W_out"])

# %% [markdown]
# The weights are only half the story (their hidden neurons can swap places); the function
# is the other half. `function_space_draws` gives the summed training log-likelihood of
# every draw, and ArviZ's rank plot of it shows whether the chains sample the same
# distribution (ranks spread evenly over the chains) or sit in different places:

# %%
draws = xr.DataTree.from_dict({"posterior": function_space_draws(tree)})
rank = az.plot_rank(draws, backend="matplotlib")
rank.savefig(RUNS / "tutorial_rank.png")

# %% [markdown]
# `limprob plot` draws the run in three panels: the log-likelihood against the chip queries
# spent, the test accuracy of the thinned draws, and that rank plot.

# %%
figure = plot_training(tree, "tutorial")
figure.savefig(RUNS / "tutorial_training.png", dpi=80)

# %% [markdown]
# ## Compare with backprop
#
# The baseline trains the same network by surrogate-gradient backprop through time, either
# on the ideal software model, which does not know the chip's distortion, or with the chip
# in the loop (forward passes on the chip, gradients through the ideal model); then it
# measures the trained weights on the chip. Each method is one object; it compiles a
# PyTensor graph once, then trains in seconds.


# %%
def backprop(method, chip, data):
    """Test accuracy on ``chip`` and training chip queries of ``method``'s weights."""
    run = method(BackpropConfig(seed=0)).train(chip, data)
    return run.attrs["test_accuracy"], run.attrs["training_chip_queries"]


results = {
    "MH, predictive average": (
        tree.attrs["test_accuracy_predictive"],
        tree.attrs["training_chip_queries"],
    ),
    "backprop on the ideal model": backprop(IdealModelBackprop, chip, data),
    "in-the-loop backprop": backprop(InTheLoopBackprop, chip, data),
}
for name, (test_accuracy, queries) in results.items():
    print(
        f"{name:28s} test accuracy on this chip {test_accuracy:.3f}, "
        f"{queries} training chip queries"
    )

# %% [markdown]
# Which method wins depends on the chip, the distortion and the budget of chip queries, and
# this run is far too short to settle it: MH had a few hundred steps per chain, and its
# verdict above says whether they were enough. `make demo` runs the comparison with longer
# chains, and `limprob study` repeats it over chips, distortion strengths and training
# fractions (`analyses/README.md` in the repository reports the results).
#
# ## Export to NIR
#
# A platform runs one weight set, not a posterior. W*, the posterior mean of the better
# chain, goes into a NIR graph with the network's constants and its input encoding in the
# metadata ([Deployment through NIR](../nir.md)).

# %%
w_in, w_out = point_estimate_weights(
    tree["posterior"].to_dataset(), tree["log_likelihood"].to_dataset(), "mean"
)
graph = to_nir(w_in, w_out, network, metadata={"kappa": config.model.kappa})
path = write_nir(graph, RUNS / "tutorial.nir")
sorted(graph.nodes)

# %% [markdown]
# Reading the graph back gives the same network and weights, which score on the ideal
# (undistorted) chip exactly as W* does:

# %%
deployed = from_nir(path)
ideal_chip = chip.ideal()
from_graph = accuracy(
    evaluate_weights(ideal_chip, deployed.w_in, deployed.w_out, data.test, config.model.kappa),
    data.test["labels"].values,
)
from_trace = accuracy(
    evaluate_weights(ideal_chip, w_in, w_out, data.test, config.model.kappa),
    data.test["labels"].values,
)
print(f"W* on the ideal chip: {from_trace:.3f} from the trace, {from_graph:.3f} from the graph")
print(f"W* on the chip it was trained on: {tree.attrs['test_accuracy_posterior_mean']:.3f}")

# %% [markdown]
# Weights trained on one chip carry that chip's distortion: the two lines above show how
# much of W*'s accuracy survives the move to an undistorted chip. Any platform other than
# the training chip runs a different network; [Deployment through NIR](../nir.md) lists the
# checks to make on each.

# %% [markdown]
# ## Save the trace
#
# `save_trace` writes compressed NetCDF through a temporary file, so a crash never leaves a
# half-written trace; `load_trace` (or `az.from_netcdf`) reads it back, and the command line
# reads it too: `limprob evaluate runs/tutorial.nc`, `limprob plot runs/tutorial.nc --out
# runs/tutorial.png`.

# %%
saved = save_trace(tree, RUNS / "tutorial.nc")
print(
    f"wrote {saved}: {saved.stat().st_size / 1e6:.1f} MB, predictive average "
    f"{load_trace(saved).attrs['test_accuracy_predictive']:.3f} read back"
)
