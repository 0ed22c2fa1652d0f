"""The energy a chip-in-the-loop training run cost, under the bounds of
:mod:`limprob.energy_limits`.

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

**Backprop's own training compute.** Every backprop method also runs the software model on a
digital machine, a forward and a backward pass over every fitted sample of every epoch, plus,
where validation is not a chip query, a forward pass over the validation part:

    F    = flops_per_run(1, n_in, H, K, T) = 2 n_in H + T (5 H + 2 H K + 5 K)   FLOP/sample
    C_bp = epochs x [(1 + g) F n_fit + v F n_validation]                      FLOP

with g = 2 (:data:`BACKWARD_FLOPS_PER_FORWARD`: a backward pass costs about two forward
passes, the 4 of the 6 N FLOPs per token of Kaplan et al. 2020), v = 1 for ideal-model and
noise-aware backprop and v = 0 for in-the-loop backprop (its validation runs on the chip and
is in C_fwd). MH's C_bp is 0: its host only draws proposals and sums log-likelihoods, O(N +
n_train K) operations per query, not counted; but an MH run whose chains started from
backprop (``--init ideal`` or ``twin:``) carries those backprops' C_bp
(``start_digital_training_flops``). The oracle and the twin's backprop are counted as the
ideal model's (their distortion adds O(N) FLOPs per pass, not counted). C_bp is priced at the
accelerator's energy per FLOP, ``E_bp = C_bp e_flop`` (J), and each bound's total is the chip's
share plus E_bp, evaluated draw by draw (the same e_flop in both terms of the accelerator total).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import xarray as xr

from limprob import energy_limits as limits
from limprob.energy.report import device_draws
from limprob.errors import LimprobError
from limprob.inference.backprop import (
    DistortionModelBackprop,
    IdealModelBackprop,
    InTheLoopBackprop,
    NoiseAwareBackprop,
    OracleBackprop,
)
from limprob.models import energy_draws
from limprob.snn import flops_per_run

WEIGHT_GROUPS = ("posterior", "weights")
BACKWARD_FLOPS_PER_FORWARD = 2.0
"""g: FLOPs of a backward pass over those of its forward pass (Kaplan et al. 2020: 4 of 6)."""
DIGITAL_VALIDATION = {
    IdealModelBackprop.name: 1,
    NoiseAwareBackprop.name: 1,
    InTheLoopBackprop.name: 0,
    DistortionModelBackprop.name: 1,
    OracleBackprop.name: 1,
}
"""v per backprop method: 1 where validation runs the software model, 0 where it queries the
chip. A method not named here (MH) trains no software model itself: its C_bp is that of the
backprops that made its chains' candidate starts (``start_digital_training_flops``,
:mod:`limprob.inference.starts`), 0 from a prior draw."""


def _n_weights(tree: xr.DataTree) -> int:
    for group in WEIGHT_GROUPS:
        if group in tree.children:
            weights = tree[group].to_dataset()
            sample = [d for d in ("chain", "draw") if d in weights.dims]
            return int(
                sum(weights[name].isel({d: 0 for d in sample}).size for name in ("W_in", "W_out"))
            )
    raise LimprobError("trace holds no weights (no posterior or weights group)")


def _network_size(tree: xr.DataTree) -> tuple[int, int, int, int]:
    """(inputs, hidden, outputs, time steps) of the trace's network."""
    return (
        tree["predictions_constant_data"].sizes["feature"],
        int(tree.attrs["network_n_hidden"]),
        tree["point_estimates"].sizes["class"],
        int(tree.attrs["network_n_steps"]),
    )


def digital_training_flops(tree: xr.DataTree) -> float:
    """C_bp (FLOPs) the run spent training a software model on a digital machine (see the
    module docstring); for MH, that of its starts (0 from prior draws)."""
    attrs = tree.attrs
    validation = DIGITAL_VALIDATION.get(str(attrs.get("method", "mh")))
    if validation is None:
        return float(attrs.get("start_digital_training_flops", 0.0))
    per_sample = flops_per_run(1, *_network_size(tree))
    per_epoch = (1 + BACKWARD_FLOPS_PER_FORWARD) * per_sample * int(
        attrs["n_fit"]
    ) + validation * per_sample * int(attrs["n_validation"])
    return float(int(attrs["epochs_run"]) * per_epoch)


def run_scenario(tree: xr.DataTree, bits: int = limits.DEFAULT_BITS) -> xr.Dataset:
    """The training run as one energy scenario (dim ``scenario``), from the trace's counts."""
    attrs = tree.attrs
    n_weights = _n_weights(tree)
    queries = int(attrs["training_chip_queries"])
    method = str(attrs.get("method", "mh"))
    writes = n_weights * max(queries, 1)
    passes = int(attrs["epochs_run"]) if method == "in_the_loop_backprop" else max(queries, 1)
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


def training_energy(
    tree: xr.DataTree, bits: int = limits.DEFAULT_BITS, seed: int = 0, prob: float = 0.94
) -> xr.Dataset:
    """Posterior median and ``prob`` interval (dim ``statistic``) of the run's energy, in
    joules: the chip's share under every bound (the names of :data:`limits.BOUND_NAMES`),
    ``digital_training_joules`` (E_bp = C_bp e_flop) and ``total_<bound>`` (the chip's share
    plus E_bp), with the counts they were computed from as attributes."""
    scenario = run_scenario(tree, limits.validate_positive("bits", bits))
    digital_flops = digital_training_flops(tree)
    draws = energy_draws.energies_on_draws(scenario, device_draws(seed), seed)
    chip = draws[list(limits.BOUND_NAMES)].isel(scenario=0, drop=True)
    digital = digital_flops * draws["accelerator_j_per_flop"]
    energies = chip.assign(
        {
            "digital_training_joules": digital,
            **{f"total_{name}": chip[name] + digital for name in limits.BOUND_NAMES},
        }
    )
    summary = energy_draws.summarise(energies, prob=prob)
    summary.attrs = {
        "weight_writes": float(scenario["ops"][0]),
        "forward_flops": float(scenario["flops"][0]),
        "digital_training_flops": digital_flops,
        "backward_flops_per_forward": BACKWARD_FLOPS_PER_FORWARD,
        "bits": int(bits),
        "interval_prob": prob,
        "device_posterior_seed": seed,
    }
    return summary


def with_training_energy(tree: xr.DataTree, **kwargs: Any) -> xr.DataTree:
    """A copy of ``tree`` (same attributes, same groups) with a ``training_energy`` group."""
    tree = tree.copy()
    tree["training_energy"] = training_energy(tree, **kwargs)
    return tree
