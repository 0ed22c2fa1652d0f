"""Chip-in-the-loop model: SNN weights as random variables, the chip as the likelihood.

    W_in  ~ Normal(0, sigma_w)                    dims (feature, hidden)
    W_out ~ Normal(0, sigma_w)                    dims (hidden, class)
    y_i   ~ Categorical(softmax(kappa c_i / T))   dim  obs,  c_i = chip(W_in, W_out, x_i)

Drawing ``y`` (prior or posterior predictive) queries the chip once per draw of the weights
and samples each label from its class probabilities. The readout gain ``kappa`` is fixed by
default; pass ``kappa=None`` to give it a
``HalfNormal(kappa_sigma)`` prior of its own. The likelihood is a ``pm.CustomDist`` whose logp
is :class:`limprob.likelihood.chip_likelihood.ChipLogLikelihood`, so ``y`` is an observed
variable with a pointwise log-likelihood, the training features are ``pm.Data``
(constant_data ``x``), and the model knows nothing of how it will be sampled. The observed
labels enter the graph as a shared input (``y_observed``), not as a constant, so the compiled
model does not depend on their values: PyTensor's cache serves every training split of one
size with one compilation.
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor
import xarray as xr
from pytensor.tensor import TensorLike
from pytensor.tensor.variable import TensorVariable

from limprob.chip.protocol import Chip
from limprob.likelihood.chip_likelihood import chip_log_likelihood, sample_labels
from limprob.models.defaults import DEFAULT_KAPPA, DEFAULT_SIGMA_W


def build_model(
    chip: Chip,
    train: xr.Dataset,
    sigma_w: float = DEFAULT_SIGMA_W,
    kappa: float | None = DEFAULT_KAPPA,
    kappa_sigma: float = 10.0,
) -> pm.Model:
    """The chip-in-the-loop model for a training table ``features (obs, feature)``,
    ``labels (obs)`` on ``chip``."""
    coords = {
        "feature": train["feature"].values,  # the input neurons
        "hidden": range(chip.network.n_hidden),
        "class": train["class"].values,  # the output neurons
        "obs": train["obs"].values,
    }
    with pm.Model(coords=coords) as model:
        x = pm.Data("x", train["features"].values, dims=("obs", "feature"))
        w_in = pm.Normal("W_in", 0.0, sigma_w, dims=("feature", "hidden"))
        w_out = pm.Normal("W_out", 0.0, sigma_w, dims=("hidden", "class"))
        gain = (
            pm.HalfNormal("kappa", kappa_sigma) if kappa is None else pm.Data("kappa", float(kappa))
        )

        observe_labels(chip, w_in, w_out, gain, x, train["labels"].values)
    return model


def observe_labels(
    chip: Chip,
    w_in: TensorLike,
    w_out: TensorLike,
    gain: TensorLike,
    x: TensorLike,
    labels: np.ndarray,
) -> None:
    """The likelihood node ``y ~ Categorical(softmax(gain c(W) / T))``, ``c`` the counts the
    chip answers, observed at ``labels (obs)``, in the model of the current context; its draws
    (posterior predictive) are labels sampled at the chip's probabilities."""

    def logp(
        value: TensorLike, w_in: TensorLike, w_out: TensorLike, gain: TensorLike, x: TensorLike
    ) -> TensorVariable:
        return chip_log_likelihood(chip, w_in, w_out, gain, x, value)

    def random(
        w_in: np.ndarray,
        w_out: np.ndarray,
        gain: np.ndarray,
        x: np.ndarray,
        rng: np.random.Generator,
        size: tuple[int, ...] | None = None,
    ) -> np.ndarray:
        return sample_labels(chip, w_in, w_out, gain, x, rng)

    # One label per row of x: x is batched over obs, the weights and gain are shared.
    pm.CustomDist(
        "y",
        w_in,
        w_out,
        gain,
        x,
        logp=logp,
        random=random,
        signature="(i,h),(h,o),(),(i)->()",
        observed=pytensor.shared(np.asarray(labels), name="y_observed"),
        dims="obs",
        dtype="int64",
    )
