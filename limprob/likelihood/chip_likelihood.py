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

from collections.abc import Callable, Sequence
from typing import Any, NoReturn, cast

import numba
import numpy as np
import pytensor.tensor as pt
from numpy.typing import ArrayLike
from pytensor.graph.basic import Apply, Variable
from pytensor.graph.op import Op, OutputStorageType
from pytensor.link.numba.dispatch.basic import (
    generate_fallback_impl,
    register_funcify_and_cache_key,
)
from pytensor.tensor import TensorLike
from pytensor.tensor.variable import TensorVariable

from limprob.chip.protocol import Chip, CompiledChip


class BlackBoxGradientError(NotImplementedError):
    """Raised when a gradient of the chip likelihood is asked for."""


@numba.njit(cache=True, nogil=True, fastmath=False)
def categorical_log_likelihood(
    counts: np.ndarray, labels: np.ndarray, kappa: float, n_steps: int
) -> np.ndarray:
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


def class_probabilities(counts: ArrayLike, kappa: float | np.ndarray, n_steps: int) -> np.ndarray:
    """``softmax(kappa counts / T)`` over the last axis (..., class)."""
    logits = kappa * np.asarray(counts, dtype=np.float64) / n_steps
    logits -= logits.max(axis=-1, keepdims=True)
    weights = np.exp(logits)
    return weights / weights.sum(axis=-1, keepdims=True)


def sample_labels(
    chip: Chip,
    w_in: ArrayLike,
    w_out: ArrayLike,
    kappa: ArrayLike,
    x: ArrayLike,
    rng: np.random.Generator,
) -> np.ndarray:
    """Labels drawn from ``softmax(kappa c_i / T)`` with the counts ``c`` of one chip query per
    weight set: the random draw of the model's ``y``.

    As the model's signature ``(i,h),(h,o),(),(i)->()`` says, ``x`` (..., obs, input) carries
    the observations as its batch dims and the weights may carry leading batch dims of their
    own (PyMC passes them as size 1); the labels have the broadcast batch shape.
    """
    w_in, w_out, x = np.asarray(w_in), np.asarray(w_out), np.asarray(x)
    batch = w_in.shape[:-2]
    shape = np.broadcast_shapes(batch, np.shape(kappa), x.shape[:-1])
    kappa = np.broadcast_to(kappa, batch)
    rows = x.reshape(-1, x.shape[-1])
    labels = np.stack(
        [_labels(chip, w_in[b], w_out[b], float(kappa[b]), rows, rng) for b in np.ndindex(batch)]
    )
    return labels.reshape(shape)


def _labels(
    chip: Chip,
    w_in: np.ndarray,
    w_out: np.ndarray,
    kappa: float,
    x: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """One query of ``chip``; a label per row of ``x`` (obs, input)."""
    probabilities = class_probabilities(chip.run(w_in, w_out, x), kappa, chip.network.n_steps)
    u = rng.uniform(size=(probabilities.shape[0], 1))
    return np.minimum(
        (probabilities.cumsum(axis=1) < u).sum(axis=1), probabilities.shape[1] - 1
    ).astype(np.int64)


class ChipLogLikelihood(Op):
    """``chip_loglik(W_in, W_out, kappa, x, y) -> log p(y_i | W)`` per observation (obs,).

    One chip query per evaluation; no gradient.
    """

    __props__ = ("chip",)

    def __init__(self, chip: Chip) -> None:
        self.chip = chip

    # PyTensor's Op.make_node takes *inputs; this Op names its five
    def make_node(  # type: ignore[override]
        self,
        w_in: TensorLike,
        w_out: TensorLike,
        kappa: TensorLike,
        x: TensorLike,
        y: TensorLike,
    ) -> Apply:
        """The Apply node of the chip log-likelihood on ``w_in``, ``w_out``, ``kappa``, ``x``,
        ``y`` (PyTensor's Op interface)."""
        inputs = [
            pt.as_tensor_variable(w_in, dtype="float64", ndim=2),
            pt.as_tensor_variable(w_out, dtype="float64", ndim=2),
            pt.as_tensor_variable(kappa, dtype="float64", ndim=0),
            pt.as_tensor_variable(x, dtype="float64", ndim=2),
            pt.as_tensor_variable(y, dtype="int64", ndim=1),
        ]
        return Apply(self, inputs, [pt.dvector()])

    def perform(
        self, node: Apply, inputs: Sequence[Any], output_storage: OutputStorageType
    ) -> None:
        """Query the chip once and compute the pointwise log-likelihood (obs) of the labels, in
        Python."""
        w_in, w_out, kappa, x, y = inputs
        counts = self.chip.run(w_in, w_out, x)
        output_storage[0][0] = categorical_log_likelihood(
            counts, y, float(kappa), self.chip.network.n_steps
        )

    def infer_shape(
        self, fgraph: Any, node: Apply, input_shapes: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """The output shape: one value per observation."""
        return [(input_shapes[4][0],)]

    def pullback(
        self,
        inputs: Sequence[Variable],
        outputs: Sequence[Variable],
        output_grads: Sequence[Variable],
    ) -> NoReturn:
        """Refused: the chip is a black box with no gradient (:class:`BlackBoxGradientError`)."""
        raise BlackBoxGradientError(
            "the chip likelihood is a black box with no gradient: sample it with a "
            "gradient-free step method such as limprob's BlockedMetropolis"
        )


@register_funcify_and_cache_key(ChipLogLikelihood)
def _numba_chip_log_likelihood(
    op: ChipLogLikelihood, node: Apply | None = None, **kwargs: Any
) -> tuple[Callable[..., np.ndarray], None]:
    """Numba implementation; its cache key is None since it is bound to one chip object."""
    if not isinstance(op.chip, CompiledChip):  # a driver called through Python: chip.run
        return generate_fallback_impl(op, node, **kwargs), None
    chip_run = op.chip.numba_run
    n_steps = op.chip.network.n_steps

    @numba.njit(nogil=True, fastmath=False)
    def chip_log_likelihood(
        w_in: np.ndarray, w_out: np.ndarray, kappa: np.ndarray, x: np.ndarray, y: np.ndarray
    ) -> np.ndarray:
        counts = chip_run(
            np.ascontiguousarray(w_in), np.ascontiguousarray(w_out), np.ascontiguousarray(x)
        )
        return categorical_log_likelihood(counts, y, kappa.item(), n_steps)

    return chip_log_likelihood, None


def chip_log_likelihood(
    chip: Chip, w_in: TensorLike, w_out: TensorLike, kappa: TensorLike, x: TensorLike, y: TensorLike
) -> TensorVariable:
    """The pointwise log-likelihood tensor (obs,) of labels ``y`` under ``chip``."""
    return cast(TensorVariable, ChipLogLikelihood(chip)(w_in, w_out, kappa, x, y))
