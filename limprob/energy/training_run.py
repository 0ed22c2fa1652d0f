"""The energy a chip-in-the-loop training run cost, under the bounds of
:mod:`limprob.energy.limits`.

A trace knows its chip queries. Every query writes all ``N`` weights into the chip, at ``b``
bits each, and runs the network on a set of samples: MH runs all ``n_train`` training samples
per query; in-the-loop backprop runs one mini-batch (or the validation part), so over a run
its queries cover ``n_fit + n_validation = n_train`` samples per epoch. limprob counts:

    weight writes  OPS   = max(queries, 1) x N              (parameter updates)
    forward FLOPs  C_fwd = queries x flops_per_run(n_train)             MH
                   C_fwd = epochs x flops_per_run(n_train)              in-the-loop backprop
                   C_fwd = flops_per_run(n_train)           a run with no training queries

and evaluates, with the device-parameter posterior of :mod:`limprob.models.lim_energy`:
Landauer ``OPS b kT ln 2``, LIM ``OPS kT (b ln 2 + c_p tau_r/tau_u) + N kT ln(tau_ret/(tau_0
eps))``, static-barrier ``OPS b kT ln(tau_ret/(tau_0 eps))`` plus the speed penalty, and the
accelerator projection ``C_fwd e_flop`` for running the same forward passes digitally.

A run that never queried the chip while training (ideal-model and noise-aware backprop) writes
it once, at deployment; in-the-loop backprop writes it on every chip query, like MH. OPS is
counted here, not derived from FLOPs, so the energy model's ratio ``ops_per_flop`` (OPS = r C
for a scenario given by its FLOPs) does not enter.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from limprob.energy import limits
from limprob.energy.report import device_draws
from limprob.errors import LimprobError
from limprob.models import energy_draws
from limprob.snn import flops_per_run

WEIGHT_GROUPS = ("posterior", "weights")


def _n_weights(tree: xr.DataTree) -> int:
    for group in WEIGHT_GROUPS:
        if group in tree.children:
            weights = tree[group].to_dataset()
            sample = [d for d in ("chain", "draw") if d in weights.dims]
            return int(sum(weights[name].isel({d: 0 for d in sample}).size
                           for name in ("W_in", "W_out")))
    raise LimprobError("trace holds no weights (no posterior or weights group)")


def _network_size(tree: xr.DataTree) -> tuple[int, int, int, int]:
    """(inputs, hidden, outputs, time steps) of the trace's network."""
    return (tree["predictions_constant_data"].sizes["feature"],
            int(tree.attrs["network_n_hidden"]), tree["point_estimates"].sizes["class"],
            int(tree.attrs["network_n_steps"]))


def run_scenario(tree: xr.DataTree, bits: int = limits.DEFAULT_BITS) -> xr.Dataset:
    """The training run as one energy scenario (dim ``scenario``), from the trace's counts."""
    attrs = tree.attrs
    n_weights = _n_weights(tree)
    queries = int(attrs["training_chip_queries"])
    method = str(attrs.get("method", "mh"))
    writes = n_weights * max(queries, 1)
    passes = (int(attrs["epochs_run"]) if method == "in_the_loop_backprop"
              else max(queries, 1))
    forward_flops = passes * flops_per_run(int(attrs["n_train"]), *_network_size(tree))
    return xr.Dataset(
        {
            "n_params": ("scenario", [float(n_weights)]),
            "tokens": ("scenario", [np.nan]),
            "flops": ("scenario", [float(forward_flops)]),
            "ops": ("scenario", [float(writes)]),
            "bits": ("scenario", [float(bits)]),
            "time_ratio": ("scenario", [limits.DEFAULT_TIME_RATIO]),
        },
        coords={"scenario": [method]},
    )


def training_energy(tree: xr.DataTree, bits: int = limits.DEFAULT_BITS, seed: int = 0,
                    prob: float = 0.94) -> xr.Dataset:
    """Posterior median and ``prob`` interval (dim ``statistic``) of every bound for the run,
    in joules, with the weight writes and forward FLOPs it was computed from."""
    scenario = run_scenario(tree, limits.validate_positive("bits", bits))
    draws = energy_draws.energies_on_draws(scenario, device_draws(seed), seed)
    summary = energy_draws.summarise(draws[list(limits.BOUND_NAMES)], prob=prob)
    summary = summary.isel(scenario=0, drop=True)
    summary.attrs = {"weight_writes": float(scenario["ops"][0]),
                     "forward_flops": float(scenario["flops"][0]), "bits": int(bits),
                     "interval_prob": prob, "device_posterior_seed": seed}
    return summary


def with_training_energy(tree: xr.DataTree, **kwargs) -> xr.DataTree:
    """A copy of ``tree`` (same attributes, same groups) with a ``training_energy`` group."""
    tree = tree.copy()
    tree["training_energy"] = training_energy(tree, **kwargs)
    return tree
