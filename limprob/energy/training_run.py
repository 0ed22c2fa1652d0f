"""The energy a chip-in-the-loop training run cost, under the bounds of
:mod:`limprob.energy.limits`.

A trace knows its chip queries. Every query writes all ``N`` weights into the chip, at ``b``
bits each, and runs one forward pass over the ``n_train`` training samples. limprob counts:

    weight writes  OPS   = queries x N          (parameter updates, as in the energy model)
    forward FLOPs  C_fwd = queries x flops_per_run(n_train, network)

OPS is counted here, not derived from FLOPs, so the energy model's ratio ``ops_per_flop``
(OPS = r C for a scenario given by its FLOPs) does not enter.

and evaluates, with the device-parameter posterior of :mod:`limprob.models.lim_energy`:
Landauer ``OPS b kT ln 2``, LIM ``OPS kT (b ln 2 + c_p tau_r/tau_u) + N kT ln(tau_ret/(tau_0
eps))``, static-barrier ``OPS b kT ln(tau_ret/(tau_0 eps))`` plus the speed penalty, and the
accelerator projection ``C_fwd e_flop`` for running the same forward passes digitally.

Ideal-model backprop writes the chip once, at deployment (its training FLOPs run on a digital
machine and are not counted here); in-the-loop backprop writes it on every chip query, like MH.
"""

from __future__ import annotations

import numpy as np
import xarray as xr

from limprob.energy import limits
from limprob.errors import LimprobError
from limprob.energy.report import device_draws
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


def run_scenario(tree: xr.DataTree, bits: int = limits.DEFAULT_BITS) -> xr.Dataset:
    """The training run as one energy scenario (dim ``scenario``), from the trace's counts."""
    attrs = tree.attrs
    n_weights = _n_weights(tree)
    queries = int(attrs["training_chip_queries"])
    method = str(attrs.get("method", "mh"))
    writes = n_weights * (1 if method == "backprop" and queries == 0 else queries)
    n_inputs = tree["predictions_constant_data"].sizes["feature"]
    n_outputs = tree["point_estimates"].sizes["class"]
    forward_flops = max(queries, 1) * flops_per_run(
        int(attrs["n_train"]), n_inputs, int(attrs["network_n_hidden"]), n_outputs,
        int(attrs["network_n_steps"]),
    )
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
