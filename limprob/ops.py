"""The black-box likelihood: a PyTensor Op that queries a chip.

For weights ``W_in``, ``W_out``, readout gain ``kappa`` and samples ``x_i`` with labels
``y_i``, the chip returns spike counts ``c_i`` (one per class) and

    log p(y_i | W) = log softmax(kappa c_i / T)[y_i]
                   = kappa c_{i, y_i} / T - log sum_k exp(kappa c_{i, k} / T)   (nats)

with ``T`` the chip's time steps. The Op returns that log-likelihood for every observation
(dim ``obs``), so ArviZ can compute LOO. It has no gradient: the chip is a black box.

Each evaluation is exactly one chip query. With PyTensor's numba backend (PyMC's default) the
Op compiles to a numba function that calls the chip's own numba kernel, so no evaluation falls
back to object mode; a chip without a numba kernel (a real chip's Python driver) is called
through numba's object mode, where the time goes to the hardware anyway.
"""

from __future__ import annotations

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import generate_fallback_impl, register_funcify_and_cache_key

from limprob.chip import Chip, distorted_counts


class BlackBoxGradientError(NotImplementedError):
    """Raised when a gradient of the chip likelihood is asked for."""


@numba.njit(cache=True, nogil=True)
def categorical_log_likelihood(counts, labels, kappa, n_steps):
    """``log softmax(kappa counts / T)[label]`` for each row of ``counts`` (obs, class)."""
    n_obs, n_class = counts.shape
    out = np.empty(n_obs)
    scale = kappa / n_steps
    for i in range(n_obs):
        top = counts[i, 0] * scale
        for k in range(1, n_class):
            top = max(top, counts[i, k] * scale)
        total = 0.0
        for k in range(n_class):
            total += np.exp(counts[i, k] * scale - top)
        out[i] = counts[i, labels[i]] * scale - top - np.log(total)
    return out


def class_probabilities(counts, kappa, n_steps):
    """``softmax(kappa counts / T)`` over the last axis (..., class)."""
    logits = kappa * np.asarray(counts, dtype=np.float64) / n_steps
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=-1, keepdims=True)


class ChipLogLikelihood(Op):
    """``chip_loglik(W_in, W_out, kappa, x, y) -> log p(y_i | W)`` per observation (obs,).

    One chip query per evaluation; no gradient.
    """

    __props__ = ("chip",)

    def __init__(self, chip: Chip):
        self.chip = chip

    def make_node(self, w_in, w_out, kappa, x, y):
        inputs = [
            pt.as_tensor_variable(w_in, dtype="float64", ndim=2),
            pt.as_tensor_variable(w_out, dtype="float64", ndim=2),
            pt.as_tensor_variable(kappa, dtype="float64", ndim=0),
            pt.as_tensor_variable(x, dtype="float64", ndim=2),
            pt.as_tensor_variable(y, dtype="int64", ndim=1),
        ]
        return Apply(self, inputs, [pt.dvector()])

    def perform(self, node, inputs, output_storage):
        w_in, w_out, kappa, x, y = inputs
        counts = self.chip.run(w_in, w_out, x)
        output_storage[0][0] = categorical_log_likelihood(
            counts, y, float(kappa), self.chip.network.n_steps
        )

    def infer_shape(self, fgraph, node, input_shapes):
        return [(input_shapes[4][0],)]

    def pullback(self, inputs, outputs, output_grads):
        raise BlackBoxGradientError(
            "the chip likelihood is a black box with no gradient: sample it with a "
            "gradient-free step method such as limprob's BlockedMetropolis"
        )


@register_funcify_and_cache_key(ChipLogLikelihood)
def _numba_chip_log_likelihood(op, node=None, **kwargs):
    """Numba implementation; its cache key is None since it is bound to one chip object."""
    chip_run = getattr(op.chip, "numba_run", None)
    if chip_run is None:
        return generate_fallback_impl(op, node, **kwargs), None
    n_steps = op.chip.network.n_steps

    @numba.njit(nogil=True)
    def chip_log_likelihood(w_in, w_out, kappa, x, y):
        counts = chip_run(np.ascontiguousarray(w_in), np.ascontiguousarray(w_out),
                          np.ascontiguousarray(x))
        return categorical_log_likelihood(counts, y, kappa.item(), n_steps)

    return chip_log_likelihood, None


def chip_log_likelihood(chip: Chip, w_in, w_out, kappa, x, y):
    """The pointwise log-likelihood tensor (obs,) of labels ``y`` under ``chip``."""
    return ChipLogLikelihood(chip)(w_in, w_out, kappa, x, y)


@numba.njit(cache=True, nogil=True)
def batched_distorted_counts(w_in, w_out, x, gain_in, gain_out, inverse_w_sat, beta_hidden,
                             theta_hidden, beta_output, theta_output, n_steps):
    """Spike counts (batch, obs, output) of a batch of weight sets through one distortion.

    ``w_in`` is (batch, input, hidden), ``w_out`` (batch, hidden, output), ``x`` (obs, input)
    shared by the batch. The saturation enters as its inverse ``1 / w_sat`` (0: none), so the
    identity distortion is a finite point of every parameter.
    """
    w_sat = 1.0 / inverse_w_sat if inverse_w_sat > 0.0 else np.inf
    n_batch = w_in.shape[0]
    out = np.empty((n_batch, x.shape[0], w_out.shape[2]))
    for b in range(n_batch):
        out[b] = distorted_counts(x, np.ascontiguousarray(w_in[b]),
                                  np.ascontiguousarray(w_out[b]), gain_in, gain_out, w_sat,
                                  beta_hidden, theta_hidden, beta_output, theta_output, n_steps)
    return out


class DistortedCounts(Op):
    """``counts(W_in, W_out, x, gain_in, gain_out, 1/w_sat, beta_h, theta_h, beta_o, theta_o)``:
    spike counts (batch, obs, output) of the LIF network of ``n_steps`` time steps through a
    distortion whose parameters are inputs of the graph (the digital twin's simulator).

    Shapes: ``W_in`` (batch, input, hidden), ``W_out`` (batch, hidden, output), ``x``
    (obs, input), ``gain_in`` (input, hidden), ``gain_out`` (hidden, output), ``1/w_sat`` a
    scalar >= 0 (0: no saturation), leaks and thresholds per neuron (hidden,) and (output,).
    See :func:`limprob.chip.distorted_counts` for the equations. No chip is queried and there
    is no gradient (spike counts are piecewise constant): a black box for gradient-free
    samplers.
    """

    __props__ = ("n_steps",)

    def __init__(self, n_steps: int):
        self.n_steps = int(n_steps)

    def make_node(self, w_in, w_out, x, gain_in, gain_out, inverse_w_sat, beta_hidden,
                  theta_hidden, beta_output, theta_output):
        ndims = (3, 3, 2, 2, 2, 0, 1, 1, 1, 1)
        args = (w_in, w_out, x, gain_in, gain_out, inverse_w_sat, beta_hidden, theta_hidden,
                beta_output, theta_output)
        inputs = [pt.as_tensor_variable(a, dtype="float64", ndim=n) for a, n in zip(args, ndims)]
        return Apply(self, inputs, [pt.dtensor3()])

    def perform(self, node, inputs, output_storage):
        inverse_w_sat = float(inputs[5])
        arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in inputs]
        output_storage[0][0] = batched_distorted_counts(*arrays[:5], inverse_w_sat,
                                                        *arrays[6:], self.n_steps)

    def infer_shape(self, fgraph, node, input_shapes):
        return [(input_shapes[0][0], input_shapes[2][0], input_shapes[1][2])]

    def pullback(self, inputs, outputs, output_grads):
        raise BlackBoxGradientError(
            "the distorted-network simulator is a black box with no gradient (spike counts are "
            "piecewise constant): sample it with a gradient-free step method such as limprob's "
            "BlockedMetropolis, or with pm.sample_smc"
        )


@register_funcify_and_cache_key(DistortedCounts)
def _numba_distorted_counts(op, node=None, **kwargs):
    """Numba implementation; it depends only on ``n_steps``, which the cache key names."""
    n_steps = op.n_steps

    @numba.njit(nogil=True)
    def distorted_counts_op(w_in, w_out, x, gain_in, gain_out, inverse_w_sat, beta_hidden,
                            theta_hidden, beta_output, theta_output):
        return batched_distorted_counts(
            np.ascontiguousarray(w_in), np.ascontiguousarray(w_out), np.ascontiguousarray(x),
            np.ascontiguousarray(gain_in), np.ascontiguousarray(gain_out),
            inverse_w_sat.item(), np.ascontiguousarray(beta_hidden),
            np.ascontiguousarray(theta_hidden), np.ascontiguousarray(beta_output),
            np.ascontiguousarray(theta_output), n_steps)

    return distorted_counts_op, f"limprob.ops.DistortedCounts(n_steps={n_steps}).v1"
