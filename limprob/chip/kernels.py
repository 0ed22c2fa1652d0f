"""Numba kernels of the distorted network: what a simulated chip computes on a query.

Programmed weights pass through the distortion's synaptic gains and saturation, then the LIF
network of :func:`limprob.snn.lif_counts` runs with per-neuron leaks and thresholds (the
arrays of :class:`limprob.chip.distortion.DistortionArrays`, one argument ``distortion``):

    W_eff = W * gain                         elementwise
    W_eff <- w_sat tanh(W_eff / w_sat)       w_sat = 1 / inverse_w_sat; none when it is 0
    W_eff <- Q_B(W_eff)                      a B-bit converter over [-w_max, w_max], if B set

and the network may add membrane noise (:func:`limprob.snn.lif_counts`). Every kernel
takes ``reset_zero`` last (default False, reset by subtraction): the network's reset
(:attr:`limprob.snn.Network.reset_zero`). With unit
gains, ``inverse_w_sat = 0``, nominal leaks and thresholds, no converter and no noise this is
the ideal network exactly.
"""

from __future__ import annotations

from typing import NamedTuple

import numba
import numpy as np

from limprob.chip.distortion import (
    DistortionArrays,
    DistortionGlobals,
    Mismatch,
    equations,
    leak_ceiling,
)
from limprob.snn import lif_counts
from limprob.streams import stream_key

synaptic_gain, neuron_threshold, neuron_leak = (
    numba.njit(nogil=True, fastmath=False)(f) for f in equations(np)
)
"""The distortion's equations compiled by numba (for kernels that build arrays per chip)."""
compiled_leak_ceiling = numba.njit(nogil=True, fastmath=False)(leak_ceiling)


@numba.njit(cache=True, nogil=True, fastmath=False)
def saturate(w: np.ndarray, inverse_w_sat: float) -> np.ndarray:
    """``w_sat tanh(w / w_sat)`` with ``w_sat = 1 / inverse_w_sat``; ``w`` itself at 0."""
    if inverse_w_sat > 0.0:
        w_sat = 1.0 / inverse_w_sat
        return w_sat * np.tanh(w / w_sat)
    return w


@numba.njit(cache=True, nogil=True, fastmath=False)
def converter_step(w_max: float, bits: int) -> float:
    """The step ``delta = w_max / (2^(B-1) - 1)`` of a B-bit converter (:func:`quantise`);
    0 for one bit, whose two levels are ``+-w_max``."""
    if bits == 1:
        return 0.0
    return w_max / (2.0 ** (bits - 1) - 1.0)


@numba.njit(cache=True, nogil=True, fastmath=False)
def quantise(w: np.ndarray, w_max: float, bits: int) -> np.ndarray:
    """The weights ``w`` through a symmetric B-bit converter over ``[-w_max, w_max]``:

        Q_B(w) = delta round(clip(w, -w_max, w_max) / delta),  delta = w_max / (2^(B-1) - 1)

    for ``B >= 2`` (``2^B - 1`` levels, zero among them: 6 bits give the integers -31..31
    times ``delta``), and ``Q_1(w) = w_max sign(w)`` (with ``sign(0) = +1``): at most ``2^B``
    values in ``[-w_max, w_max]``. Rounding is half to even (numpy's ``round``).
    """
    out = np.empty_like(w)
    flat_in, flat_out = w.ravel(), out.ravel()
    if bits == 1:
        for i in range(flat_in.size):
            flat_out[i] = w_max if flat_in[i] >= 0.0 else -w_max
        return out
    delta = converter_step(w_max, bits)
    for i in range(flat_in.size):
        flat_out[i] = delta * np.round(min(max(flat_in[i], -w_max), w_max) / delta)
    return out


@numba.njit(cache=True, nogil=True, fastmath=False)
def chip_counts(
    x: np.ndarray,
    w_in: np.ndarray,
    w_out: np.ndarray,
    distortion: DistortionArrays,
    n_steps: int,
    w_max: float,
    weight_bits: int,
    noise_sd: float,
    noise_key: int | np.uint64,
    reset_zero: bool = False,
) -> np.ndarray:
    """Spike counts (obs, output) of the LIF network through a distortion (module docstring),
    a ``weight_bits``-bit converter over ``[-w_max, w_max]`` (none when ``weight_bits`` is 0)
    and membrane noise of standard deviation ``noise_sd`` from stream ``noise_key``;
    ``x`` (obs, input), ``w_in`` (input, hidden), ``w_out`` (hidden, output), ``distortion``
    the arrays of :class:`~limprob.chip.distortion.DistortionArrays`; ``reset_zero`` as in
    :func:`~limprob.snn.lif_counts`."""
    d = distortion
    w_in_eff = saturate(w_in * d.gain_in, d.inverse_w_sat)
    w_out_eff = saturate(w_out * d.gain_out, d.inverse_w_sat)
    if weight_bits > 0:
        w_in_eff = quantise(w_in_eff, w_max, weight_bits)
        w_out_eff = quantise(w_out_eff, w_max, weight_bits)
    return lif_counts(
        x,
        w_in_eff,
        w_out_eff,
        d.beta_hidden,
        d.theta_hidden,
        d.beta_output,
        d.theta_output,
        n_steps,
        reset_zero,
        noise_sd,
        noise_key,
    )


@numba.njit(cache=True, nogil=True, fastmath=False)
def batched_distorted_counts(
    w_in: np.ndarray,
    w_out: np.ndarray,
    x: np.ndarray,
    distortion: DistortionArrays,
    n_steps: int,
    reset_zero: bool = False,
) -> np.ndarray:
    """Spike counts (batch, obs, output) of a batch of weight sets through one distortion with
    continuous weights and no noise (:func:`chip_counts`): ``w_in`` (batch, input, hidden),
    ``w_out`` (batch, hidden, output), ``x`` (obs, input) shared by the batch."""
    n_batch = w_in.shape[0]
    out = np.empty((n_batch, x.shape[0], w_out.shape[2]))
    for b in range(n_batch):
        out[b] = chip_counts(
            x,
            np.ascontiguousarray(w_in[b]),
            np.ascontiguousarray(w_out[b]),
            distortion,
            n_steps,
            1.0,
            0,
            0.0,
            0,
            reset_zero,
        )
    return out


class ChipState(NamedTuple):
    """Everything a simulated chip's query reads: its distortion's arrays, the network's time
    steps and reset, the weight converter (``weight_bits`` 0: none), the membrane noise's
    standard deviation ``noise_sd`` (units of the potential), the noise seed and the query
    counter ``queries`` (int64, one element), which :func:`query_counts` advances. One compiled
    :func:`query_counts` serves every chip whose state has the same numba types."""

    distortion: DistortionArrays
    n_steps: int
    w_max: float
    weight_bits: int
    noise_sd: float
    seed: int
    reset_zero: bool
    queries: np.ndarray


@numba.njit(cache=True, nogil=True, fastmath=False)
def query_counts(
    state: ChipState, w_in: np.ndarray, w_out: np.ndarray, x: np.ndarray
) -> np.ndarray:
    """One query of the chip of ``state``: spike counts (obs, output) of ``x`` (obs, input)
    with weights ``w_in`` (input, hidden), ``w_out`` (hidden, output) (:func:`chip_counts`).
    Query ``k = state.queries[0]`` draws its noise from the stream
    ``stream_key(state.seed, k)`` and adds one to the counter."""
    key = stream_key(state.seed, state.queries[0])
    state.queries[0] += 1
    return chip_counts(
        x,
        w_in,
        w_out,
        state.distortion,
        state.n_steps,
        state.w_max,
        state.weight_bits,
        state.noise_sd,
        key,
        state.reset_zero,
    )


@numba.njit(nogil=True, fastmath=False)
def member_counts(
    w_in: np.ndarray,
    w_out: np.ndarray,
    x: np.ndarray,
    mismatch: Mismatch,
    globals_: DistortionGlobals,
    beta: float,
    theta: float,
    n_steps: int,
    w_max: float,
    weight_bits: int,
    noise: float,
    noise_seed: int,
    first_stream: int,
    reset_zero: bool = False,
) -> np.ndarray:
    """Spike counts (batch, obs, output) of one member chip of the population: the chip of
    the six globals and its mismatch draws (:class:`~limprob.chip.distortion.Mismatch`:
    ``gain_z_in`` (input, hidden), ``gain_z_out`` (hidden, output), ``threshold_z`` and
    ``leak_z`` (neuron,)), with a ``weight_bits``-bit converter over ``[-w_max, w_max]``
    (none when 0) and membrane noise of ``noise`` thresholds (``noise theta`` in the units
    of the potential), run on a batch of weight sets ``w_in`` (batch, input, hidden),
    ``w_out`` (batch, hidden, output) and inputs ``x`` (obs, input). Weight set ``b`` is one
    query, whose noise is the stream ``stream_key(noise_seed, first_stream + b)``
    (:mod:`limprob.streams`). The arrays are built by the distortion's equations, compiled;
    with no converter and no noise this is :func:`batched_distorted_counts` of those arrays
    exactly.
    """
    h, g = w_in.shape[2], globals_
    thresholds = neuron_threshold(theta, g.threshold_spread, mismatch.threshold_z)
    leaks = neuron_leak(
        beta, g.log_leak, g.leak_spread, mismatch.leak_z, compiled_leak_ceiling(beta)
    )
    distortion = DistortionArrays(
        synaptic_gain(g.log_gain, g.gain_spread, mismatch.gain_z_in),
        synaptic_gain(g.log_gain, g.gain_spread, mismatch.gain_z_out),
        g.inverse_w_sat,
        leaks[:h].copy(),
        thresholds[:h].copy(),
        leaks[h:].copy(),
        thresholds[h:].copy(),
    )
    out = np.empty((w_in.shape[0], x.shape[0], w_out.shape[2]))
    for b in range(w_in.shape[0]):
        key = stream_key(noise_seed, first_stream + b)
        out[b] = chip_counts(
            x,
            np.ascontiguousarray(w_in[b]),
            np.ascontiguousarray(w_out[b]),
            distortion,
            n_steps,
            w_max,
            weight_bits,
            noise * theta,
            key,
            reset_zero,
        )
    return out
