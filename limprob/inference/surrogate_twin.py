"""The per-chip twin as a point estimate, fitted to the probes by surrogate-gradient descent.

Blocked MH on the per-chip twin (:mod:`limprob.twin.fit`) has no gradient, and with every
neuron's and every synapse's mismatch free (131 distortion parameters on a 4-16-3 network)
its chains do not mix. What a start for MH on the chip needs is one good description of the
chip, not its posterior. This module fits one by least squares on the probe counts, through
the differentiable network of the backprop baselines
(:func:`limprob.inference.backprop.distorted_lif_graph`):

    minimise  L(phi) = mean_{p, j, k} (c(W_p, x_j; phi)_k - c_obs[p, j, k])^2     (spikes^2)

over ``phi``:

- ``log_gain_in`` (feature, hidden), ``log_gain_out`` (hidden, class): each synapse's log gain,
  ``gain = exp(log_gain)``;
- ``log_threshold`` (neuron, hidden then output): each neuron's ``log(theta_i / theta)``;
- ``log_inverse_w_sat``: the log of the saturation's ``1 / w_sat`` (per unit weight);
- ``log_leak``: the global log scale of the nominal leak, or with ``leak_per_neuron``
  (neuron, hidden then output) each neuron's ``log(beta_i / beta)``; the leaks are clipped
  to ``max(beta, 0.99)`` as on the chip.

``c(W_p, x_j; phi)`` are the output spike counts of probe ``p``'s weights on probe input ``x_j``
through the distortion ``phi`` (:func:`limprob.chip.distortion.distortion_arrays`, the chip's
own equations; the chip's weight converter when the probes record one). The forward pass is
the exact Heaviside spike, so the fitted model's counts are the simulator's; the backward pass
is the fast-sigmoid surrogate of slope ``slope`` (a flatter one than training's: the
parameters move every neuron's potential at once). Adam on mini-batches of probes, ``steps``
steps, from unit gains and thresholds and the nominal leak, once for each saturation in
``saturation_starts`` (``1 / w_sat`` of 1 and 4: a strongly saturating chip is not reached
from a weak start); every ``check_every`` steps the loss on all the probes is measured and the
best ``phi`` over all restarts is kept.

How good the fit is: ``explained_fraction = 1 - L / var(c_obs)``, the share of the probe
counts' variance the fitted chip reproduces, beside ``identity_probe_mse`` (the ideal chip's
loss). Below :data:`GOOD_FIT` a warning says so: a start trained through a poor fit is a
guess, and the chip's choice among the candidates (:mod:`limprob.inference.starts`) then
decides. It costs no chip query beyond the probes.

The trace (``model = "chip_twin_surrogate"``) has the groups ``distortion`` (the best ``phi``,
named as above), ``restarts`` (each restart's best, dim ``restart`` first; a start makes one
candidate of each and the chip chooses, :func:`restart_distortions`) and ``fit_history``
(``probe_mse (restart, check)``); :func:`fitted_distortion` reads it
back as a :class:`~limprob.chip.Distortion` (spreads 1, the log gains and thresholds as its
draws), which ``limprob train --init twin:TRACE`` trains through; ``--init twin`` probes the
chip and fits it within the run (:mod:`limprob.inference.starts`). It sits beside the backprop
it differentiates, upstream of the sampled twins of :mod:`limprob.twin`.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, cast

import numpy as np
import pytensor
import pytensor.tensor as pt
import xarray as xr

from limprob.chip.distortion import FAMILIES, Distortion, distortion_arrays
from limprob.chip.probes import probe_attrs
from limprob.errors import LimprobError
from limprob.inference.sampling import package_versions
from limprob.inference.trusted import without_input_checks
from limprob.snn import Network
from limprob.trace import network_attrs
from limprob.validation import positive_integer, positive_number, seed

MODEL = "chip_twin_surrogate"
"""The ``model`` attribute of a surrogate-gradient twin's trace."""
GOOD_FIT = 0.9
"""Explained share of the probe counts' variance below which the fit is reported as poor."""
PARAMETERS = ("log_gain_in", "log_gain_out", "log_threshold", "log_inverse_w_sat", "log_leak")
"""The fitted parameters ``phi``, in the order the compiled loss takes them."""


@dataclass(frozen=True)
class SurrogateTwinConfig:
    """The fit's settings (module docstring); checked on construction."""

    steps: int = 600
    """Adam steps."""
    learning_rate: float = 0.03
    """Adam's step size, in the units of the log parameters."""
    probes_per_step: int = 8
    """Probes per Adam step (all of them when there are fewer)."""
    slope: float = 2.0
    """Steepness of the fast-sigmoid surrogate."""
    check_every: int = 50
    """Steps between measurements of the loss on all the probes."""
    saturation_starts: tuple[float, ...] = (1.0, 4.0)
    """``1 / w_sat`` each restart of the fit starts from (per unit weight); the restart of
    lowest loss is kept. From 1 alone, a chip saturating at ``w_sat = 0.25`` (the design's
    strength 2) was fitted to 48 % of its probes' variance, from 4 to 91 %; on an ideal chip
    the start at 1 fits a little better."""
    seed: int = 0
    """Seeds the order of the probes."""
    leak_per_neuron: bool = False
    """Fit each neuron's leak instead of one global scale of the nominal leak (the chip's
    leak mismatch; ``analyses/README.md`` measures what it buys a start on Yin-Yang)."""

    def __post_init__(self) -> None:
        for name in ("steps", "probes_per_step", "check_every"):
            positive_integer(name.replace("_", " "), getattr(self, name))
        for name in ("learning_rate", "slope"):
            positive_number(name.replace("_", " "), getattr(self, name))
        starts = tuple(self.saturation_starts)
        if not starts:
            raise LimprobError("the fit needs at least one saturation start")
        for value in starts:
            positive_number("a saturation start", value)
        object.__setattr__(self, "saturation_starts", tuple(float(v) for v in starts))
        seed("seed", self.seed)
        if not isinstance(self.leak_per_neuron, bool):
            raise LimprobError(
                f"leak per neuron must be true or false, got {self.leak_per_neuron!r}"
            )


@dataclass(frozen=True)
class ProbeLoss:
    """The compiled loss of one probe: ``loss_and_gradient(*phi, x, w_in, w_out, counts,
    slope, w_max, delta, quantise) -> [L, dL/dphi...]`` and ``loss(...)`` (the same
    arguments), with the seconds they took to compile."""

    loss_and_gradient: Callable[..., list[np.ndarray]]
    loss: Callable[..., np.ndarray]
    compile_seconds: float


def _distortion_parameters(phi: list[Any], neurons: int) -> dict[str, Any]:
    """The mapping :func:`distortion_arrays` takes for ``phi`` (tensors or arrays): spreads 1
    with the log gains and thresholds as the draws, no global gain; a scalar ``log_leak`` is
    the global leak (no leak mismatch), a vector each neuron's log leak (spread 1)."""
    log_gain_in, log_gain_out, log_threshold, log_inverse_w_sat, log_leak = phi
    exp = pt.exp if isinstance(log_leak, pt.TensorVariable) else np.exp
    per_neuron = log_leak.ndim == 1
    return {
        "inverse_w_sat": exp(log_inverse_w_sat),
        "log_gain": 0.0,
        "log_leak": 0.0 if per_neuron else log_leak,
        "gain_spread": 1.0,
        "threshold_spread": 1.0,
        "leak_spread": 1.0 if per_neuron else 0.0,
        "gain_z_in": log_gain_in,
        "gain_z_out": log_gain_out,
        "threshold_z": log_threshold,
        "leak_z": log_leak if per_neuron else np.zeros(neurons),
    }


@functools.lru_cache(maxsize=4)
def compiled_probe_loss(
    network: Network, n_outputs: int, leak_per_neuron: bool = False
) -> ProbeLoss:
    """Compile :class:`ProbeLoss` once per process, network (its leak, threshold, size and
    steps are constants of the graph) and form of the leak (one, or one per neuron)."""
    from limprob.inference.backprop import distorted_lif_graph

    started = time.perf_counter()
    neurons = network.n_hidden + n_outputs
    with pytensor.config.change_flags(numba__fastmath=False):
        log_gain_in, log_gain_out = pt.dmatrices("log_gain_in", "log_gain_out")
        log_threshold = pt.dvector("log_threshold")
        log_inverse_w_sat = pt.dscalar("log_inverse_w_sat")
        log_leak = pt.dvector("log_leak") if leak_per_neuron else pt.dscalar("log_leak")
        phi = [log_gain_in, log_gain_out, log_threshold, log_inverse_w_sat, log_leak]
        x, w_in, w_out, observed = pt.dmatrices("x", "w_in", "w_out", "observed")
        slope, w_max, delta, quantise = pt.dscalars("slope", "w_max", "delta", "quantise")
        arrays = distortion_arrays(_distortion_parameters(phi, neurons), network, xp=pt)
        quiet_hidden = pt.zeros((network.n_steps, x.shape[0], network.n_hidden))
        quiet_output = pt.zeros((network.n_steps, x.shape[0], n_outputs))
        counts = distorted_lif_graph(
            x, w_in, w_out, list(arrays), slope, quiet_hidden, quiet_output, w_max, delta, quantise
        )
        loss = pt.mean((counts - observed) ** 2)
        inputs = [*phi, x, w_in, w_out, observed, slope, w_max, delta, quantise]
        gradient = cast(list[Any], pytensor.grad(loss, phi))
        loss_and_gradient = pytensor.function(inputs, [loss, *gradient])
        loss_only = pytensor.function(inputs, loss, on_unused_input="ignore")
    return ProbeLoss(
        without_input_checks(loss_and_gradient),
        without_input_checks(loss_only),
        time.perf_counter() - started,
    )


def _converter(probes: xr.Dataset) -> tuple[float, float, float]:
    """``(w_max, delta, quantise)`` of the probed chip's weight converter, as its probes record
    it (``chip_weight_bits``, ``chip_weight_range``); continuous weights when they do not."""
    from limprob.chip.simulated import WEIGHT_RANGE
    from limprob.inference.backprop import converter_inputs

    bits = int(probes.attrs.get("chip_weight_bits", 0) or 0)
    return converter_inputs(bits, float(probes.attrs.get("chip_weight_range", WEIGHT_RANGE)))


def initial_phi(
    n_inputs: int,
    n_hidden: int,
    n_outputs: int,
    inverse_w_sat: float,
    leak_per_neuron: bool = False,
) -> list[np.ndarray]:
    """``phi`` at the start of a restart: unit gains and thresholds, nominal leak (one, or
    one per neuron), and the saturation ``1 / w_sat = inverse_w_sat``."""
    return [
        np.zeros((n_inputs, n_hidden)),
        np.zeros((n_hidden, n_outputs)),
        np.zeros(n_hidden + n_outputs),
        np.array(np.log(inverse_w_sat)),
        np.zeros(n_hidden + n_outputs) if leak_per_neuron else np.array(0.0),
    ]


def fit_surrogate_twin(
    network: Network, probes: xr.Dataset, config: SurrogateTwinConfig = SurrogateTwinConfig()
) -> xr.DataTree:
    """Fit ``phi`` to ``probes`` (:mod:`limprob.chip.probes`) for ``network`` (module
    docstring) and return the trace."""
    from limprob.inference.backprop import Adam

    if not isinstance(config, SurrogateTwinConfig):
        raise LimprobError("config must be a SurrogateTwinConfig")
    if network.reset != "subtract":
        raise LimprobError(
            f"the surrogate-gradient twin's graph resets by subtraction; the network resets "
            f"to {network.reset}"
        )
    if probes.sizes["hidden"] != network.n_hidden:
        raise LimprobError(
            f"the probes have {probes.sizes['hidden']} hidden neurons, the network "
            f"{network.n_hidden}"
        )
    started = time.perf_counter()
    n_in, h, n_out = probes.sizes["input"], network.n_hidden, probes.sizes["output"]
    compiled = compiled_probe_loss(network, n_out, config.leak_per_neuron)
    x = np.ascontiguousarray(probes["x"].values, dtype=np.float64)
    w_in = np.ascontiguousarray(probes["W_in"].values, dtype=np.float64)
    w_out = np.ascontiguousarray(probes["W_out"].values, dtype=np.float64)
    observed = np.ascontiguousarray(probes["counts"].values, dtype=np.float64)
    n_probes = observed.shape[0]
    converter = _converter(probes)
    slope = float(config.slope)

    def probe_args(p: int) -> tuple:
        return (x, w_in[p], w_out[p], observed[p], slope, *converter)

    def full_loss(phi: list[np.ndarray]) -> float:
        return float(np.mean([compiled.loss(*phi, *probe_args(p)) for p in range(n_probes)]))

    ideal = initial_phi(n_in, h, n_out, 1.0, config.leak_per_neuron)
    ideal[3] = np.array(-np.inf)  # no saturation: the ideal chip's loss, for comparison
    identity_loss = full_loss(ideal)
    batch = min(config.probes_per_step, n_probes)
    histories, restart_phis, best_loss, best_phi, best_restart = [], [], np.inf, ideal, 0
    for restart, inverse_w_sat in enumerate(config.saturation_starts):
        adam = Adam(
            initial_phi(n_in, h, n_out, inverse_w_sat, config.leak_per_neuron),
            config.learning_rate,
        )
        rng = np.random.default_rng([config.seed, 17, restart])
        losses = [full_loss(adam.params)]
        restart_loss, restart_phi = np.inf, [p.copy() for p in adam.params]
        for step in range(1, config.steps + 1):
            gradient = [np.zeros_like(p) for p in adam.params]
            for p in rng.choice(n_probes, batch, replace=False):
                _, *grads = compiled.loss_and_gradient(*adam.params, *probe_args(int(p)))
                for total, g in zip(gradient, grads):
                    total += g / batch
            adam.step(gradient)
            if step % config.check_every == 0 or step == config.steps:
                losses.append(full_loss(adam.params))
                if losses[-1] < restart_loss:
                    restart_loss, restart_phi = losses[-1], [p.copy() for p in adam.params]
        histories.append(losses)
        restart_phis.append(restart_phi)
        if restart_loss < best_loss:
            best_loss, best_phi, best_restart = restart_loss, restart_phi, restart
    if not np.isfinite(best_loss):
        raise LimprobError("the surrogate-gradient twin's loss is not finite at any check")
    checks = [0, *range(config.check_every, config.steps, config.check_every), config.steps]
    variance = float(observed.var())
    explained = 1.0 - best_loss / variance if variance > 0 else float("nan")
    tree = _trace(probes, best_phi, restart_phis, np.array(checks), np.array(histories), config)
    tree.attrs.update(
        {
            "limprob_trace": 1,
            "model": MODEL,
            "method": "surrogate_gradient",
            "families": ",".join(FAMILIES),
            "n_families": len(FAMILIES),
            "distortion_parameters": "",
            **{k: v for k, v in asdict(config).items() if k != "saturation_starts"},
            "saturation_starts": np.asarray(config.saturation_starts),
            "leak_per_neuron": int(config.leak_per_neuron),
            "best_restart": best_restart,
            **network_attrs(network),
            **probe_attrs(probes),
            "probe_mse": best_loss,
            "identity_probe_mse": identity_loss,
            "probe_count_variance": variance,
            "explained_fraction": explained,
            "compile_seconds": compiled.compile_seconds,
            "wall_seconds": time.perf_counter() - started,
            **package_versions(),
        }
    )
    if not explained >= GOOD_FIT:
        warnings.warn(
            f"the surrogate-gradient twin reproduces {explained:.1%} of the probe counts' "
            f"variance (below {GOOD_FIT:.0%}): a start trained through it is a guess",
            RuntimeWarning,
            stacklevel=2,
        )
    return tree


def _phi_dataset(phi: list[np.ndarray], dims: tuple[str, ...] = ()) -> xr.Dataset:
    """``phi`` as named variables (:data:`PARAMETERS`), with the leading ``dims``."""
    names = dict(zip(PARAMETERS, phi))
    shapes = {
        "log_gain_in": ("feature", "hidden"),
        "log_gain_out": ("hidden", "class"),
        "log_threshold": ("neuron",),
        "log_inverse_w_sat": (),
        "log_leak": ("neuron",) if np.ndim(names["log_leak"]) > len(dims) else (),
    }
    data = xr.Dataset(
        {name: ((*dims, *shapes[name]), np.asarray(names[name])) for name in PARAMETERS}
    )
    data["log_threshold"].attrs["description"] = "log(theta_i / theta), hidden then output"
    data["log_inverse_w_sat"].attrs["units"] = "log of 1 / w_sat, per unit weight"
    return data


def _trace(
    probes: xr.Dataset,
    phi: list[np.ndarray],
    restart_phis: list[list[np.ndarray]],
    checks: np.ndarray,
    losses: np.ndarray,
    config: SurrogateTwinConfig,
) -> xr.DataTree:
    features, classes = probes["input"].values, probes["output"].values
    h = probes.sizes["hidden"]
    coords = {
        "feature": features,
        "hidden": np.arange(h),
        "class": classes,
        "neuron": np.arange(h + classes.size),
    }
    distortion = _phi_dataset(phi).assign_coords(coords)
    stacked = [np.stack([r[i] for r in restart_phis]) for i in range(len(PARAMETERS))]
    restarts = _phi_dataset(stacked, ("restart",)).assign_coords(
        {**coords, "restart": np.arange(len(restart_phis))}
    )
    history = xr.Dataset(
        {"probe_mse": (("restart", "check"), losses)},
        coords={
            "restart": np.arange(len(config.saturation_starts)),
            "check": checks,
            "saturation_start": ("restart", np.asarray(config.saturation_starts)),
        },
    )
    history["saturation_start"].attrs["units"] = "1 / w_sat, per unit weight"
    history["probe_mse"].attrs["units"] = "spikes^2"
    history["check"].attrs["description"] = "Adam steps taken"
    return xr.DataTree.from_dict(
        {"distortion": distortion, "restarts": restarts, "fit_history": history}
    )


def restart_distortions(tree: xr.DataTree) -> list[Distortion]:
    """Each restart's fit (the ``restarts`` group, in the order of ``saturation_starts``) as a
    :class:`~limprob.chip.Distortion`; a trace without that group gives its one fit."""
    if "restarts" not in tree.children:
        return [fitted_distortion(cast(xr.DataTree, tree["distortion"]).to_dataset())]
    restarts = cast(xr.DataTree, tree["restarts"]).to_dataset()
    return [fitted_distortion(restarts.isel(restart=r)) for r in range(restarts.sizes["restart"])]


def fitted_distortion(distortion: xr.Dataset) -> Distortion:
    """The :class:`~limprob.chip.Distortion` of a fit's ``distortion`` group (spreads 1, the
    fitted log gains and thresholds as its draws, and the leaks' when they are per neuron)."""
    missing = [name for name in PARAMETERS if name not in distortion]
    if missing:
        raise LimprobError(f"the twin's distortion group lacks {', '.join(missing)}")
    phi = [np.asarray(distortion[name].values, dtype=np.float64) for name in PARAMETERS]
    if not all(np.isfinite(p).all() for p in phi):
        raise LimprobError("the twin's distortion holds a value that is not finite")
    if phi[4].ndim > 1 or (phi[4].ndim == 1 and phi[4].size != phi[2].size):
        raise LimprobError(
            f"the twin's log_leak has shape {phi[4].shape}: one value, or one per neuron "
            f"({phi[2].size})"
        )
    p = _distortion_parameters(phi, phi[2].size)
    return Distortion(
        inverse_w_sat=float(p["inverse_w_sat"]),
        log_leak=float(p["log_leak"]),
        gain_spread=1.0,
        threshold_spread=1.0,
        leak_spread=float(p["leak_spread"]),
        gain_z_in=phi[0],
        gain_z_out=phi[1],
        threshold_z=phi[2],
        leak_z=phi[4] if phi[4].ndim == 1 else None,
    )
