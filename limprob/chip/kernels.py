"""Numba kernels of the distorted network: what a simulated chip computes on a query.

Programmed weights pass through the distortion's synaptic gains and saturation, then the LIF
network of :func:`limprob.snn.lif_counts` runs with per-neuron leaks and thresholds (the
arrays of :func:`limprob.chip.distortion.distortion_arrays`):

    W_eff = W * gain                         elementwise
    W_eff <- w_sat tanh(W_eff / w_sat)       w_sat = 1 / inverse_w_sat; none when it is 0

With unit gains, ``inverse_w_sat = 0`` and nominal leaks and thresholds this is the ideal
network exactly.
"""

from __future__ import annotations

import numba
import numpy as np

from limprob.chip.distortion import equations, leak_ceiling
from limprob.snn import lif_counts

synaptic_gain, neuron_threshold, neuron_leak = (numba.njit(nogil=True, fastmath=False)(f)
                                                for f in equations(np))
"""The distortion's equations compiled by numba (for kernels that build arrays per chip)."""
compiled_leak_ceiling = numba.njit(nogil=True, fastmath=False)(leak_ceiling)


@numba.njit(cache=True, nogil=True, fastmath=False)
def saturate(w, inverse_w_sat):
    """``w_sat tanh(w / w_sat)`` with ``w_sat = 1 / inverse_w_sat``; ``w`` itself at 0."""
    if inverse_w_sat > 0.0:
        w_sat = 1.0 / inverse_w_sat
        return w_sat * np.tanh(w / w_sat)
    return w


@numba.njit(cache=True, nogil=True, fastmath=False)
def distorted_counts(x, w_in, w_out, gain_in, gain_out, inverse_w_sat, beta_hidden,
                     theta_hidden, beta_output, theta_output, n_steps):
    """Spike counts (obs, output) of the LIF network through a distortion (module docstring);
    ``x`` (obs, input), ``w_in`` and ``gain_in`` (input, hidden), ``w_out`` and ``gain_out``
    (hidden, output), leaks and thresholds per neuron."""
    w_in_eff = saturate(w_in * gain_in, inverse_w_sat)
    w_out_eff = saturate(w_out * gain_out, inverse_w_sat)
    return lif_counts(x, w_in_eff, w_out_eff, beta_hidden, theta_hidden, beta_output,
                      theta_output, n_steps)


@numba.njit(cache=True, nogil=True, fastmath=False)
def batched_distorted_counts(w_in, w_out, x, gain_in, gain_out, inverse_w_sat, beta_hidden,
                             theta_hidden, beta_output, theta_output, n_steps):
    """Spike counts (batch, obs, output) of a batch of weight sets through one distortion:
    ``w_in`` (batch, input, hidden), ``w_out`` (batch, hidden, output), ``x`` (obs, input)
    shared by the batch."""
    n_batch = w_in.shape[0]
    out = np.empty((n_batch, x.shape[0], w_out.shape[2]))
    for b in range(n_batch):
        out[b] = distorted_counts(x, np.ascontiguousarray(w_in[b]),
                                  np.ascontiguousarray(w_out[b]), gain_in, gain_out,
                                  inverse_w_sat, beta_hidden, theta_hidden, beta_output,
                                  theta_output, n_steps)
    return out


@numba.njit(nogil=True, fastmath=False)
def mismatched_counts(w_in, w_out, x, gain_z_in, gain_z_out, threshold_z, leak_z,
                      inverse_w_sat, log_gain, log_leak, gain_spread, threshold_spread,
                      leak_spread, beta, theta, n_steps):
    """:func:`batched_distorted_counts` for one chip given by the six globals and its mismatch
    draws (``gain_z_in`` (input, hidden), ``gain_z_out`` (hidden, output), ``threshold_z`` and
    ``leak_z`` (neuron,)): the arrays are built by the distortion's equations, compiled."""
    h = w_in.shape[2]
    gain_in = synaptic_gain(log_gain, gain_spread, gain_z_in)
    gain_out = synaptic_gain(log_gain, gain_spread, gain_z_out)
    thresholds = neuron_threshold(theta, threshold_spread, threshold_z)
    leaks = neuron_leak(beta, log_leak, leak_spread, leak_z, compiled_leak_ceiling(beta))
    return batched_distorted_counts(w_in, w_out, x, gain_in, gain_out, inverse_w_sat,
                                    leaks[:h].copy(), thresholds[:h].copy(),
                                    leaks[h:].copy(), thresholds[h:].copy(), n_steps)
