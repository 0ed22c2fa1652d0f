"""Chip-in-the-loop model in an affine subspace of the weights: ``z`` free, the weights
deterministic.

    z      ~ Normal(m, sigma_w^2 (P^T P)^{-1})      dim  direction           (K)
    W      = W_c + P z,  split and reshaped into
    W_in   = Deterministic                         dims (feature, hidden)
    W_out  = Deterministic                         dims (hidden, class)
    y_i    ~ Categorical(softmax(kappa c_i / T))   dim  obs,  c_i = chip(W_in, W_out, x_i)

``m = -(P^T P)^{-1} P^T W_c``: the weights' prior ``N(0, sigma_w^2 I)`` restricted to the
subspace (:class:`limprob.inference.subspace.Subspace`), so the posterior of ``z`` is the
chip-in-the-loop posterior (:mod:`limprob.models.chip_in_the_loop`) restricted to the subspace.
``W_in`` and ``W_out`` keep their names and dims, so a trace of this model reads as one of the
full model.
"""

from __future__ import annotations

from typing import Any

import pymc as pm
import xarray as xr
from pytensor.tensor.variable import TensorVariable

from limprob.chip.protocol import Chip
from limprob.models.chip_in_the_loop import observe_labels
from limprob.models.defaults import DEFAULT_KAPPA, DEFAULT_SIGMA_W

SUBSPACE_DATA = (
    "subspace_centre",
    "subspace_basis",
    "subspace_prior_mean",
    "subspace_prior_precision",
)
"""The ``pm.Data`` that hold ``W_c``, ``P`` and z's prior mean and precision."""


def _subspace_values(subspace: Any, sigma_w: float) -> dict:
    return dict(zip(SUBSPACE_DATA, (subspace.centre, subspace.basis, *subspace.prior(sigma_w))))


def subspace_weights(
    subspace: Any, sigma_w: float = DEFAULT_SIGMA_W
) -> tuple[TensorVariable, TensorVariable]:
    """In the current model: the free variable ``z`` (dim ``direction``) with the restricted
    prior, and the deterministics ``W_in``, ``W_out`` (dims as in the full model) of
    ``subspace`` (a :class:`~limprob.inference.subspace.Subspace`), held as ``pm.Data``
    (:data:`SUBSPACE_DATA`) so :func:`set_subspace` can move the model to another subspace of
    the same dimension without compiling it again; returns the two weights."""
    data = {
        name: pm.Data(name, value) for name, value in _subspace_values(subspace, sigma_w).items()
    }
    z = pm.MvNormal(
        "z", mu=data["subspace_prior_mean"], tau=data["subspace_prior_precision"], dims="direction"
    )
    weights = data["subspace_centre"] + data["subspace_basis"] @ z
    (n_in, hidden), (_, n_out) = subspace.shapes
    w_in = pm.Deterministic(
        "W_in", weights[: n_in * hidden].reshape((n_in, hidden)), dims=("feature", "hidden")
    )
    w_out = pm.Deterministic(
        "W_out", weights[n_in * hidden :].reshape((hidden, n_out)), dims=("hidden", "class")
    )
    return w_in, w_out


def set_subspace(model: pm.Model, subspace: Any, sigma_w: float = DEFAULT_SIGMA_W) -> None:
    """Put ``model``'s weights in ``subspace`` (same dimension and network as before)."""
    pm.set_data(_subspace_values(subspace, sigma_w), model=model)


def build_subspace_model(
    chip: Chip,
    train: xr.Dataset,
    subspace: Any,
    sigma_w: float = DEFAULT_SIGMA_W,
    kappa: float = DEFAULT_KAPPA,
) -> pm.Model:
    """The chip-in-the-loop model of a training table ``features (obs, feature)``,
    ``labels (obs)`` on ``chip``, with its weights in ``subspace``."""
    coords = {
        "feature": train["feature"].values,
        "hidden": range(chip.network.n_hidden),
        "class": train["class"].values,
        "obs": train["obs"].values,
        "direction": range(subspace.dimension),
    }
    with pm.Model(coords=coords) as model:
        x = pm.Data("x", train["features"].values, dims=("obs", "feature"))
        w_in, w_out = subspace_weights(subspace, sigma_w)
        gain = pm.Data("kappa", float(kappa))

        observe_labels(chip, w_in, w_out, gain, x, train["labels"].values)
    return model
