"""The distorted network as a PyTensor Op: the digital twin's simulator.

:class:`DistortedCounts` runs the kernel of :mod:`limprob.chip.kernels` with the distortion's
arrays as inputs of the graph, and :func:`simulated_counts` builds those arrays from distortion
parameters that are tensors (random variables of a twin model) with the same equations the
simulated chip uses (:func:`limprob.chip.distortion.distortion_arrays` over
``pytensor.tensor``). No chip is queried, and there is no gradient: spike counts are piecewise
constant, so the Op is a black box for gradient-free samplers.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from typing import Any, cast

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import OutputStorageType
from pytensor.link.numba.dispatch.basic import register_funcify_and_cache_key
from pytensor.tensor import TensorLike
from pytensor.tensor.variable import TensorVariable

from limprob.chip.distortion import DistortionArrays, distortion_arrays
from limprob.chip.kernels import batched_distorted_counts
from limprob.likelihood.chip_likelihood import KERNEL_MODULES, BlackBoxOp, source_digest
from limprob.snn import Network


class DistortedCounts(BlackBoxOp):
    """``counts(W_in, W_out, x, gain_in, gain_out, 1/w_sat, beta_h, theta_h, beta_o, theta_o)``:
    spike counts (batch, obs, output) of the LIF network of ``n_steps`` time steps (reset to 0
    after a spike with ``reset_zero``, else by subtraction) through a distortion whose arrays
    are inputs of the graph.

    Shapes: ``W_in`` (batch, input, hidden), ``W_out`` (batch, hidden, output), ``x``
    (obs, input), ``gain_in`` (input, hidden), ``gain_out`` (hidden, output), ``1/w_sat`` a
    scalar >= 0 (0: no saturation), leaks and thresholds per neuron (hidden,) and (output,).
    See :mod:`limprob.chip.kernels` for the equations.
    """

    no_gradient = (
        "the distorted-network simulator is a black box with no gradient (spike counts are "
        "piecewise constant): sample it with a gradient-free step method such as limprob's "
        "BlockedMetropolis, or with pm.sample_smc"
    )

    __props__ = ("n_steps", "reset_zero")

    def __init__(self, n_steps: int, reset_zero: bool = False) -> None:
        self.n_steps, self.reset_zero = int(n_steps), bool(reset_zero)

    # PyTensor's Op.make_node takes *inputs; this Op names its ten
    def make_node(  # type: ignore[override]
        self,
        w_in: TensorLike,
        w_out: TensorLike,
        x: TensorLike,
        gain_in: TensorLike,
        gain_out: TensorLike,
        inverse_w_sat: TensorLike,
        beta_hidden: TensorLike,
        theta_hidden: TensorLike,
        beta_output: TensorLike,
        theta_output: TensorLike,
    ) -> Apply:
        """The Apply node of the simulator on the given tensors (PyTensor's Op interface)."""
        ndims = (3, 3, 2, 2, 2, 0, 1, 1, 1, 1)
        args = (
            w_in,
            w_out,
            x,
            gain_in,
            gain_out,
            inverse_w_sat,
            beta_hidden,
            theta_hidden,
            beta_output,
            theta_output,
        )
        inputs = [pt.as_tensor_variable(a, dtype="float64", ndim=n) for a, n in zip(args, ndims)]
        return Apply(self, inputs, [pt.dtensor3()])

    def perform(
        self, node: Apply, inputs: Sequence[Any], output_storage: OutputStorageType
    ) -> None:
        """Simulate the spike counts (batch, obs, output) in Python."""
        w_in, w_out, x, *arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in inputs]
        distortion = DistortionArrays(*(a if a.ndim else float(a) for a in arrays))
        output_storage[0][0] = batched_distorted_counts(
            w_in, w_out, x, distortion, self.n_steps, self.reset_zero
        )

    def infer_shape(
        self, fgraph: Any, node: Apply, input_shapes: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """The output shape (batch, obs, output) from the input shapes."""
        return [(input_shapes[0][0], input_shapes[2][0], input_shapes[1][2])]


@register_funcify_and_cache_key(DistortedCounts)
def _numba_distorted_counts(
    op: DistortedCounts, node: Apply | None = None, **kwargs: Any
) -> tuple[Callable[..., np.ndarray], str]:
    """Numba implementation; it depends only on ``n_steps`` and the reset, which the cache
    key names, and on the kernels' source, which it digests."""
    n_steps, reset_zero = op.n_steps, op.reset_zero

    @numba.njit(nogil=True, fastmath=False)
    def distorted_counts_op(
        w_in: np.ndarray,
        w_out: np.ndarray,
        x: np.ndarray,
        gain_in: np.ndarray,
        gain_out: np.ndarray,
        inverse_w_sat: np.ndarray,
        beta_hidden: np.ndarray,
        theta_hidden: np.ndarray,
        beta_output: np.ndarray,
        theta_output: np.ndarray,
    ) -> np.ndarray:
        return batched_distorted_counts(
            np.ascontiguousarray(w_in),
            np.ascontiguousarray(w_out),
            np.ascontiguousarray(x),
            DistortionArrays(
                np.ascontiguousarray(gain_in),
                np.ascontiguousarray(gain_out),
                inverse_w_sat.item(),
                np.ascontiguousarray(beta_hidden),
                np.ascontiguousarray(theta_hidden),
                np.ascontiguousarray(beta_output),
                np.ascontiguousarray(theta_output),
            ),
            n_steps,
            reset_zero,
        )

    return (
        distorted_counts_op,
        f"limprob.DistortedCounts(n_steps={n_steps}, reset_zero={reset_zero})."
        + source_digest(*KERNEL_MODULES, sys.modules[__name__]),
    )


def simulated_counts(
    parameters: dict, network: Network, w_in: TensorLike, w_out: TensorLike, x: TensorLike
) -> TensorVariable:
    """Counts (batch, obs, output) of weight sets ``w_in`` (batch, input, hidden), ``w_out``
    (batch, hidden, output) on inputs ``x`` (obs, input) through the distortion whose parameters
    (the six globals and the mismatch draws, tensors or numbers) are ``parameters``."""
    arrays = distortion_arrays(parameters, network, xp=pt)
    return cast(
        TensorVariable,
        DistortedCounts(network.n_steps, network.reset_zero)(w_in, w_out, x, *arrays),
    )
