"""The digital twin: the chip's distortion theta and the SNN weights as random variables.

Both data sets enter the likelihood through the same simulator, the PyTensor Op
:class:`limprob.ops.DistortedCounts` (a black box, no gradient), with theta as its inputs:

    theta                                  priors below, one block per distortion family
    W_in  ~ Normal(0, sigma_w)             dims (input, hidden)
    W_out ~ Normal(0, sigma_w)             dims (hidden, output)
    count_sigma ~ HalfNormal(4)            counts
    probe_counts[p, j, k] ~ Normal(sim_theta(W_p, x_j)[k], count_sigma)
                                           dims (probe, probe_obs, output)
    y_i ~ Categorical(softmax(kappa sim_theta(W, x_i) / T))     dim obs

The probe weights ``W_p`` are known (we chose them), so the probes speak to theta alone; the
labels speak to the weights and, through the simulator, to theta. The count likelihood is a
Normal with a learned scale (limprob's choice): spike counts of a deterministic chip have no
sampling noise, and what the twin cannot represent (e.g. per-synapse mismatch when that family
is off) shows up as residuals of some size; a Normal with its own scale absorbs them without
the zero-probability cliffs a Binomial or Poisson has at the ends of 0..T.

Priors on theta (limprob's choices; the identity distortion is inside each):

- ``inverse_w_sat ~ HalfNormal(3)``: 1 / w_sat; 0 is no saturation, 2 is the design's unit-strength
  chip (w_sat = 0.5), 4 its strength 2;
- ``log_gain ~ Normal(0, 0.5)``: a global synaptic gain within a factor e^{+-1} at 95 %;
- ``log_leak ~ Normal(0, 0.05)``: global scale of the nominal leak (leaks clipped to
  [0, 0.99] like the chip's); there is no global threshold scale, which is exactly redundant
  with the gain (see :mod:`limprob.distortion`);
- ``threshold_spread ~ HalfNormal(0.5)``, ``threshold_z ~ Normal(0, 1)`` (dim neuron): per-neuron
  log-normal threshold mismatch (non-centred);
- ``gain_spread ~ HalfNormal(0.5)``, ``gain_z_in``/``gain_z_out ~ Normal(0, 1)``: per-synapse
  log-normal gain mismatch (non-centred).

A family that is off is held at its identity value, so ``families=()`` is the ideal-chip
model. With ``train=None`` the model has no weights and no labels: the probe-only
characterisation of the chip (used for calibration and for SMC evidence).
"""

from __future__ import annotations

import numpy as np
import pymc as pm
import pytensor.tensor as pt
import xarray as xr

from limprob.chip import LEAK_MAX
from limprob.distortion import check_families
from limprob.ops import DistortedCounts
from limprob.snn import Network

DEFAULT_SIGMA_W = 1.0
DEFAULT_KAPPA = 8.0
COUNT_SIGMA_PRIOR = 4.0
"""Scale of the HalfNormal prior of the count noise, in spikes."""
PRIOR_SCALES = {"inverse_w_sat": 3.0, "log_gain": 0.5, "log_leak": 0.05,
                "threshold_spread": 0.5, "gain_spread": 0.5}


def theta_variables(families, n_inputs: int, n_hidden: int, n_outputs: int) -> dict:
    """Declare theta inside the current model; return the tensors (identity where off)."""
    families = check_families(families)
    zero = pt.constant(0.0)
    theta = {"inverse_w_sat": zero, "log_gain": zero, "log_leak": zero}
    if "saturation" in families:
        theta["inverse_w_sat"] = pm.HalfNormal("inverse_w_sat", PRIOR_SCALES["inverse_w_sat"])
    if "gain" in families:
        theta["log_gain"] = pm.Normal("log_gain", 0.0, PRIOR_SCALES["log_gain"])
    if "leak" in families:
        theta["log_leak"] = pm.Normal("log_leak", 0.0, PRIOR_SCALES["log_leak"])
    log_threshold = pt.zeros(n_hidden + n_outputs)
    if "threshold_mismatch" in families:
        spread = pm.HalfNormal("threshold_spread", PRIOR_SCALES["threshold_spread"])
        z = pm.Normal("threshold_z", 0.0, 1.0, dims="neuron")
        log_threshold = log_threshold + spread * z
    log_gain_in = pt.zeros((n_inputs, n_hidden)) + theta["log_gain"]
    log_gain_out = pt.zeros((n_hidden, n_outputs)) + theta["log_gain"]
    if "gain_mismatch" in families:
        spread = pm.HalfNormal("gain_spread", PRIOR_SCALES["gain_spread"])
        log_gain_in = log_gain_in + spread * pm.Normal("gain_z_in", 0.0, 1.0,
                                                       dims=("input", "hidden"))
        log_gain_out = log_gain_out + spread * pm.Normal("gain_z_out", 0.0, 1.0,
                                                         dims=("hidden", "output"))
    theta["log_threshold_neuron"] = log_threshold
    theta["gain_in"], theta["gain_out"] = pt.exp(log_gain_in), pt.exp(log_gain_out)
    return theta


def simulated_counts(theta: dict, network: Network, w_in, w_out, x):
    """The Op applied to weight sets (batch, ...) and inputs (obs, input) under ``theta``."""
    h = network.n_hidden
    thresholds = network.theta * pt.exp(theta["log_threshold_neuron"])
    leak = pt.clip(network.beta * pt.exp(theta["log_leak"]), 0.0, LEAK_MAX)
    n_out = thresholds.shape[0] - h
    return DistortedCounts(network.n_steps)(
        w_in, w_out, x, theta["gain_in"], theta["gain_out"], theta["inverse_w_sat"],
        pt.zeros(h) + leak, thresholds[:h], pt.zeros(n_out) + leak, thresholds[h:])


def build_twin_model(network: Network, probes: xr.Dataset, train: xr.Dataset | None = None,
                     families=(), sigma_w: float = DEFAULT_SIGMA_W,
                     kappa: float = DEFAULT_KAPPA) -> pm.Model:
    """The twin for probe measurements ``probes`` (see :mod:`limprob.probes`) and, unless
    None, a training table ``train`` (``features (obs, feature)``, ``labels (obs)``)."""
    n_in, n_out = probes.sizes["input"], probes.sizes["output"]
    h = network.n_hidden
    coords = {"input": probes["input"].values, "hidden": range(h),
              "output": probes["output"].values, "probe": probes["probe"].values,
              "probe_obs": probes["obs"].values, "neuron": range(h + n_out)}
    if train is not None:
        coords |= {"obs": train["obs"].values, "feature": train["feature"].values}
    with pm.Model(coords=coords) as model:
        theta = theta_variables(families, n_in, h, n_out)
        probe_x = pm.Data("probe_x", probes["x"].values, dims=("probe_obs", "input"))
        probe_w_in = pm.Data("probe_W_in", probes["W_in"].values,
                             dims=("probe", "input", "hidden"))
        probe_w_out = pm.Data("probe_W_out", probes["W_out"].values,
                              dims=("probe", "hidden", "output"))
        count_sigma = pm.HalfNormal("count_sigma", COUNT_SIGMA_PRIOR)
        predicted = simulated_counts(theta, network, probe_w_in, probe_w_out, probe_x)
        pm.Normal("probe_counts", predicted, count_sigma, observed=probes["counts"].values,
                  dims=("probe", "probe_obs", "output"))
        if train is not None:
            x = pm.Data("x", train["features"].values, dims=("obs", "feature"))
            w_in = pm.Normal("W_in", 0.0, sigma_w, dims=("input", "hidden"))
            w_out = pm.Normal("W_out", 0.0, sigma_w, dims=("hidden", "output"))
            counts = simulated_counts(theta, network, w_in[None], w_out[None], x)[0]
            pm.Categorical("y", logit_p=kappa * counts / network.n_steps,
                           observed=train["labels"].values, dims="obs")
    model.twin_families = check_families(families)
    return model


def theta_names(model: pm.Model) -> list[str]:
    """The scalar theta variables of a twin model (the families that are on)."""
    names = ["inverse_w_sat", "log_gain", "log_leak", "threshold_spread", "gain_spread"]
    return [n for n in names if n in model.named_vars]


def identity_point(model: pm.Model) -> dict[str, np.ndarray]:
    """Initial values of theta at the identity distortion (HalfNormals just above 0)."""
    out = {}
    for name in theta_names(model):
        out[name] = np.array(1e-3 if name in ("inverse_w_sat", "threshold_spread",
                                               "gain_spread") else 0.0)
    return out
