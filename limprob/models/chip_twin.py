"""The digital twin: the chip's distortion parameters and the SNN weights as random variables.

Both data sets enter the likelihood through the same simulator, the PyTensor Op
:class:`limprob.likelihood.simulator.DistortedCounts` (a black box, no gradient), fed the
distortion's arrays built from the parameters by the chip's own equations
(:mod:`limprob.chip.distortion`):

    distortion parameters                  priors below, one block per distortion family
    W_in  ~ Normal(0, sigma_w)             dims (feature, hidden)
    W_out ~ Normal(0, sigma_w)             dims (hidden, class)
    count_sigma ~ HalfNormal(4)            counts
    probe_counts[p, j, k] ~ Normal(sim_d(W_p, x_j)[k], count_sigma)
                                           dims (probe, probe_obs, class)
    y_i ~ Categorical(softmax(kappa sim_d(W, x_i) / T))     dim obs

The probe weights ``W_p`` are known (we chose them), so the probes speak to the distortion
alone; the labels speak to the weights and, through the simulator, to the distortion. The count
likelihood is a Normal with a learned scale (limprob's choice): spike counts of a deterministic
chip have no sampling noise, and what the twin cannot represent (e.g. per-synapse mismatch when
that family is off) shows up as residuals of some size; a Normal with its own scale absorbs them
without the zero-probability cliffs a Binomial or Poisson has at the ends of 0..T.

Priors on the distortion parameters (limprob's choices; the identity distortion is inside each):

- ``inverse_w_sat ~ HalfNormal(3)``: 1 / w_sat; 0 is no saturation, 2 is the design's unit-strength
  chip (w_sat = 0.5), 4 its strength 2;
- ``log_gain ~ Normal(0, 0.5)``: a global synaptic gain within a factor e^{+-1} at 95 %;
- ``log_leak ~ Normal(0, 0.05)``: global scale of the nominal leak (leaks clipped to
  [0, 0.99] like the chip's); there is no global threshold scale, which is exactly redundant
  with the gain (see :mod:`limprob.chip.distortion`);
- ``threshold_spread ~ HalfNormal(0.5)``, ``threshold_z ~ Normal(0, 1)`` (dim neuron): per-neuron
  log-normal threshold mismatch (non-centred);
- ``gain_spread ~ HalfNormal(0.5)``, ``gain_z_in``/``gain_z_out ~ Normal(0, 1)``: per-synapse
  log-normal gain mismatch (non-centred).

A family that is off is held at its identity value, so ``families=()`` is the ideal-chip
model. With ``train=None`` the model has no weights and no labels: the probe-only
characterisation of the chip (used for calibration and for SMC evidence).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from limprob.chip.distortion import check_families
from limprob.likelihood.simulator import simulated_counts
from limprob.models.defaults import DEFAULT_KAPPA, DEFAULT_SIGMA_W
from limprob.snn import Network

COUNT_SIGMA_PRIOR = 4.0
"""Scale of the HalfNormal prior of the count noise, in spikes."""
PRIOR_SCALES = {
    "inverse_w_sat": 3.0,
    "log_gain": 0.5,
    "log_leak": 0.05,
    "threshold_spread": 0.5,
    "gain_spread": 0.5,
}
SCALAR_PARAMETERS = ("inverse_w_sat", "log_gain", "log_leak", "threshold_spread", "gain_spread")
"""The twin's scalar distortion parameters, in the order they are declared."""


def distortion_variables(
    families: Iterable[str], n_inputs: int, n_hidden: int, n_outputs: int
) -> dict:
    """Declare the distortion parameters of ``families`` inside the current model; return the
    parameters of :func:`limprob.chip.distortion.distortion_arrays` (tensors, or the identity
    value where a family is off; the twin has no leak mismatch)."""
    families = check_families(families)
    zero = pt.constant(0.0)
    neurons = n_hidden + n_outputs
    parameters = {
        "inverse_w_sat": zero,
        "log_gain": zero,
        "log_leak": zero,
        "threshold_spread": zero,
        "gain_spread": zero,
        "leak_spread": zero,
        "threshold_z": pt.zeros(neurons),
        "leak_z": pt.zeros(neurons),
        "gain_z_in": pt.zeros((n_inputs, n_hidden)),
        "gain_z_out": pt.zeros((n_hidden, n_outputs)),
    }
    if "saturation" in families:
        parameters["inverse_w_sat"] = pm.HalfNormal("inverse_w_sat", PRIOR_SCALES["inverse_w_sat"])
    if "gain" in families:
        parameters["log_gain"] = pm.Normal("log_gain", 0.0, PRIOR_SCALES["log_gain"])
    if "leak" in families:
        parameters["log_leak"] = pm.Normal("log_leak", 0.0, PRIOR_SCALES["log_leak"])
    if "threshold_mismatch" in families:
        parameters["threshold_spread"] = pm.HalfNormal(
            "threshold_spread", PRIOR_SCALES["threshold_spread"]
        )
        parameters["threshold_z"] = pm.Normal("threshold_z", 0.0, 1.0, dims="neuron")
    if "gain_mismatch" in families:
        parameters["gain_spread"] = pm.HalfNormal("gain_spread", PRIOR_SCALES["gain_spread"])
        parameters["gain_z_in"] = pm.Normal("gain_z_in", 0.0, 1.0, dims=("feature", "hidden"))
        parameters["gain_z_out"] = pm.Normal("gain_z_out", 0.0, 1.0, dims=("hidden", "class"))
    return parameters


def build_twin_model(
    network: Network,
    probes: xr.Dataset,
    train: xr.Dataset | None = None,
    families: Iterable[str] = (),
    sigma_w: float = DEFAULT_SIGMA_W,
    kappa: float = DEFAULT_KAPPA,
) -> pm.Model:
    """The twin for probe measurements ``probes`` (see :mod:`limprob.chip.probes`) and, unless
    None, a training table ``train`` (``features (obs, feature)``, ``labels (obs)``).

    The probes' ``input`` and ``output`` neurons are the network's features and classes: the
    model names them ``feature`` and ``class``, as every limprob trace does."""
    n_in, n_out = probes.sizes["input"], probes.sizes["output"]
    h = network.n_hidden
    coords = {
        "feature": probes["input"].values,
        "hidden": range(h),
        "class": probes["output"].values,
        "probe": probes["probe"].values,
        "probe_obs": probes["obs"].values,
        "neuron": range(h + n_out),
    }
    if train is not None:
        coords |= {"obs": train["obs"].values, "feature": train["feature"].values}
    with pm.Model(coords=coords) as model:
        distortion = distortion_variables(families, n_in, h, n_out)
        probe_x = pm.Data("probe_x", probes["x"].values, dims=("probe_obs", "feature"))
        probe_w_in = pm.Data(
            "probe_W_in", probes["W_in"].values, dims=("probe", "feature", "hidden")
        )
        probe_w_out = pm.Data(
            "probe_W_out", probes["W_out"].values, dims=("probe", "hidden", "class")
        )
        count_sigma = pm.HalfNormal("count_sigma", COUNT_SIGMA_PRIOR)
        predicted = simulated_counts(distortion, network, probe_w_in, probe_w_out, probe_x)
        pm.Normal(
            "probe_counts",
            predicted,
            count_sigma,
            observed=probes["counts"].values,
            dims=("probe", "probe_obs", "class"),
        )
        if train is not None:
            x = pm.Data("x", train["features"].values, dims=("obs", "feature"))
            w_in = pm.Normal("W_in", 0.0, sigma_w, dims=("feature", "hidden"))
            w_out = pm.Normal("W_out", 0.0, sigma_w, dims=("hidden", "class"))
            counts = simulated_counts(distortion, network, w_in[None], w_out[None], x)[0]
            pm.Categorical(
                "y",
                logit_p=kappa * counts / network.n_steps,
                observed=train["labels"].values,
                dims="obs",
            )
    model.twin_families = check_families(families)
    return model


def distortion_names(model: pm.Model) -> list[str]:
    """The scalar distortion parameters of a twin model (the families that are on)."""
    return [n for n in SCALAR_PARAMETERS if n in model.named_vars]


def identity_point(model: pm.Model) -> dict[str, np.ndarray]:
    """Initial values of the distortion parameters at the identity distortion (HalfNormals
    just above 0)."""
    out = {}
    for name in distortion_names(model):
        out[name] = np.array(
            1e-3 if name in ("inverse_w_sat", "threshold_spread", "gain_spread") else 0.0
        )
    return out
