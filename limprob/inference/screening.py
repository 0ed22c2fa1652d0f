"""Screens for delayed acceptance: the chip likelihood computed on a software model of the chip.

A screen is ``screen(q) -> log p_soft(y | W)`` (nats): the same categorical likelihood as the
model (``softmax(kappa c / T)``), with the spike counts ``c`` of a software chip instead of the
real one, for the weights ``q = (W_in, W_out)`` raveled in the sampler's order. It costs no
chip query. Two software chips:

- ``ideal``: the nominal network, no distortion;
- a digital twin's trace (``limprob twin``): the chip of a sampled twin's posterior-mean
  distortion parameters (the mismatch draws at their posterior means, zero where the twin has
  none), or of a surrogate-gradient twin's fit (:mod:`limprob.inference.surrogate_twin`).

Delayed acceptance stays exact whatever the screen; a screen far from the chip only wastes
proposals (:class:`~limprob.inference.step_methods.acceptance.DelayedAcceptance`).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import numpy as np
import xarray as xr

from limprob.chip.distortion import GLOBALS, MISMATCH, Distortion
from limprob.chip.simulated import ParametricChip
from limprob.errors import LimprobError
from limprob.io import load_trace
from limprob.likelihood.chip_likelihood import categorical_log_likelihood
from limprob.snn import Network
from limprob.trace import NETWORK_PREFIX


def screen_chip(spec: str, network: Network, n_inputs: int, n_outputs: int) -> ParametricChip:
    """The software chip named by ``spec``: ``"ideal"`` or the path of a twin trace fitted for
    a network of the same size (:func:`twin_distortions`; a surrogate-gradient twin's best
    fit)."""
    if spec == "ideal":
        return ParametricChip(Distortion(), n_inputs, n_outputs, network)
    tree = load_twin_trace(spec, network, n_inputs, n_outputs)
    distortion = twin_distortions(tree, best_only=True)[0]
    return ParametricChip(distortion, n_inputs, n_outputs, network)


def load_twin_trace(spec: str, network: Network, n_inputs: int, n_outputs: int) -> xr.DataTree:
    """The twin trace at ``spec``, checked: written by ``limprob twin`` (a sampled twin's
    ``posterior``, or a surrogate-gradient twin's ``distortion``) for ``network``'s hidden
    size and steps, and, where it holds per-synapse gains, for ``n_inputs`` inputs and
    ``n_outputs`` outputs; :class:`LimprobError` otherwise."""
    from limprob.inference.surrogate_twin import MODEL as SURROGATE_TWIN

    tree = load_trace(Path(spec), needs=set())
    model = tree.attrs.get("model")
    group = "distortion" if model == SURROGATE_TWIN else "posterior"
    if model not in ("chip_twin", "chip_population", SURROGATE_TWIN) or group not in tree.children:
        raise LimprobError(
            f"{spec}: not a digital-twin trace (model {model!r}); --screen and --init "
            "twin:TRACE take 'ideal' or a trace written by limprob twin"
        )
    hidden = int(tree.attrs.get(NETWORK_PREFIX + "n_hidden", -1))
    steps = int(tree.attrs.get(NETWORK_PREFIX + "n_steps", -1))
    if (hidden, steps) != (network.n_hidden, network.n_steps):
        raise LimprobError(
            f"{spec}: the twin was fitted for {hidden} hidden neurons and "
            f"{steps} steps, the network has {network.n_hidden} and "
            f"{network.n_steps}"
        )
    described = cast(xr.DataTree, tree[group]).to_dataset()
    for dim, size, what in (("feature", n_inputs, "inputs"), ("class", n_outputs, "outputs")):
        if dim in described.sizes and described.sizes[dim] != size:
            raise LimprobError(
                f"{spec}: the twin was fitted for {described.sizes[dim]} {what}, the chip "
                f"has {size}"
            )
    return tree


def twin_distortions(tree: xr.DataTree, *, best_only: bool = False) -> list[Distortion]:
    """The distortions a checked twin trace (:func:`load_twin_trace`) describes: a sampled
    twin's posterior mean (one), or each restart's fit of a surrogate-gradient twin (its best
    fit alone with ``best_only``; :func:`~limprob.inference.surrogate_twin.restart_distortions`)."""
    from limprob.inference.surrogate_twin import MODEL as SURROGATE_TWIN
    from limprob.inference.surrogate_twin import fitted_distortion, restart_distortions

    if tree.attrs.get("model") != SURROGATE_TWIN:
        return [posterior_mean_distortion(cast(xr.DataTree, tree["posterior"]).to_dataset())]
    if best_only:
        return [fitted_distortion(cast(xr.DataTree, tree["distortion"]).to_dataset())]
    return restart_distortions(tree)


def posterior_mean_distortion(posterior: xr.Dataset) -> Distortion:
    """The distortion at the posterior mean of each parameter a twin sampled."""
    means = {
        name: posterior[name].mean(("chain", "draw")).values
        for name in (*GLOBALS, *MISMATCH)
        if name in posterior
    }
    values: dict[str, Any] = {
        name: (float(value) if value.ndim == 0 else value) for name, value in means.items()
    }
    return Distortion(**values)


def make_screen(
    chip: ParametricChip,
    train: xr.Dataset,
    kappa: float,
    shapes: tuple[tuple[int, ...], tuple[int, ...]],
) -> Callable[[np.ndarray], float]:
    """``screen(q)``: the summed log-likelihood of the training labels on ``chip`` for the
    weights raveled from ``q`` in the order and ``shapes`` (W_in, W_out) of the sampler."""
    x = train["features"].values
    labels = train["labels"].values.astype(np.int64)
    (in_shape, out_shape) = shapes
    split = int(np.prod(in_shape))

    def screen(q: np.ndarray) -> float:
        w_in = q[:split].reshape(in_shape)
        w_out = q[split:].reshape(out_shape)
        counts = chip.run(w_in, w_out, x)
        return float(categorical_log_likelihood(counts, labels, kappa, chip.network.n_steps).sum())

    return screen
