"""The black-box likelihood: a PyTensor Op that queries a chip.

For weights ``W_in``, ``W_out``, readout gain ``kappa`` and samples ``x_i`` with labels
``y_i``, the chip returns spike counts ``c_i`` (one per class) and

    log p(y_i | W) = log softmax(kappa c_i / T)[y_i]
                   = kappa c_{i, y_i} / T - log sum_k exp(kappa c_{i, k} / T)   (nats)

with ``T`` the chip's time steps. The Op returns that log-likelihood for every observation
(dim ``obs``), so ArviZ can compute LOO. It has no gradient: the chip is a black box.

Each evaluation is exactly one chip query. With PyTensor's numba backend (PyMC's default) the
Op compiles to a numba function with no Python in between:

- a chip with a :attr:`~limprob.chip.SimulatedChip.query_state` (the simulated chip) gives
  the Op that state as inputs of the graph, shared variables over the chip's own arrays (its
  query counter among them). The Op's function is then the same for every such chip,
  :func:`limprob.chip.kernels.query_counts` of the state, and PyTensor caches it, and the
  compiled model around it, on disk: a second chip of the same configuration compiles
  nothing new;
- a :class:`~limprob.chip.protocol.CompiledChip` (``numba_run``) is called from a numba
  function compiled for that chip;
- a chip with neither (a real chip's Python driver) is called through numba's object mode,
  where the time goes to the hardware anyway.
"""

from __future__ import annotations

import functools
import hashlib
import inspect
import sys
import weakref
from collections.abc import Callable, Sequence
from types import ModuleType
from typing import Any, ClassVar, NoReturn, cast

import numba
import numpy as np
import pytensor
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

import limprob.chip.distortion
import limprob.chip.kernels
import limprob.snn
import limprob.streams
from limprob.chip.distortion import DistortionArrays
from limprob.chip.kernels import ChipState, query_counts
from limprob.chip.protocol import Chip, CompiledChip, KernelChip


class BlackBoxGradientError(NotImplementedError):
    """Raised when a gradient of the chip likelihood is asked for."""


class BlackBoxOp(Op):
    """An Op with no gradient: asked for one, it raises :class:`BlackBoxGradientError` with
    :attr:`no_gradient`, which says what the Op computes and how to sample it instead."""

    no_gradient: ClassVar[str]

    def pullback(
        self,
        inputs: Sequence[Variable],
        outputs: Sequence[Variable],
        output_grads: Sequence[Variable],
    ) -> NoReturn:
        """Refused: the Op is a black box with no gradient (:class:`BlackBoxGradientError`)."""
        raise BlackBoxGradientError(self.no_gradient)


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


class ChipLogLikelihood(BlackBoxOp):
    """``chip_loglik(W_in, W_out, kappa, x, y) -> log p(y_i | W)`` per observation (obs,).

    One chip query per evaluation; no gradient.
    """

    no_gradient = (
        "the chip likelihood is a black box with no gradient: sample it with a "
        "gradient-free step method such as limprob's BlockedMetropolis"
    )

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
        *state: TensorLike,
    ) -> Apply:
        """The Apply node of the chip log-likelihood on ``w_in``, ``w_out``, ``kappa``, ``x``,
        ``y`` (PyTensor's Op interface); the chip's state inputs (:func:`state_inputs`) follow,
        or are the given ``state`` when PyTensor clones the node."""
        inputs = [
            pt.as_tensor_variable(w_in, dtype="float64", ndim=2),
            pt.as_tensor_variable(w_out, dtype="float64", ndim=2),
            pt.as_tensor_variable(kappa, dtype="float64", ndim=0),
            pt.as_tensor_variable(x, dtype="float64", ndim=2),
            pt.as_tensor_variable(y, dtype="int64", ndim=1),
            *(map(pt.as_tensor_variable, state) if state else state_inputs(self.chip)),
        ]
        return Apply(self, inputs, [pt.dvector()])

    def perform(
        self, node: Apply, inputs: Sequence[Any], output_storage: OutputStorageType
    ) -> None:
        """Query the chip once and compute the pointwise log-likelihood (obs) of the labels, in
        Python (through ``chip.run``, which reads the same state as the state inputs)."""
        w_in, w_out, kappa, x, y = inputs[:5]
        counts = self.chip.run(w_in, w_out, x)
        output_storage[0][0] = categorical_log_likelihood(
            counts, y, float(kappa), self.chip.network.n_steps
        )

    def infer_shape(
        self, fgraph: Any, node: Apply, input_shapes: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """The output shape: one value per observation."""
        return [(input_shapes[4][0],)]


_STATE_INPUTS: weakref.WeakKeyDictionary[Any, list[Variable]] = weakref.WeakKeyDictionary()


def state_inputs(chip: Chip) -> list[Variable]:
    """The graph inputs that carry ``chip``'s query state (:class:`ChipState` flattened: the
    seven arrays of its :class:`DistortionArrays`, then its settings as 0-d arrays, then its
    query counter), as shared variables over the chip's own arrays, the same variables for
    every node of the chip; none for a chip that is not a
    :class:`~limprob.chip.protocol.KernelChip`."""
    if not isinstance(chip, KernelChip):
        return []
    state = chip.query_state
    if chip not in _STATE_INPUTS:
        values = [*state.distortion, *state[1:]]
        shared = [pytensor.shared(np.asarray(v), borrow=True) for v in values]
        if shared[-1].get_value(borrow=True) is not state.queries:
            # a copy of the counter would let the Op query the chip without counting it
            raise RuntimeError("the chip-likelihood Op must share the chip's query counter")
        _STATE_INPUTS[chip] = shared
    return _STATE_INPUTS[chip]


@numba.njit(nogil=True, fastmath=False)
def state_log_likelihood(
    w_in: np.ndarray,
    w_out: np.ndarray,
    kappa: np.ndarray,
    x: np.ndarray,
    y: np.ndarray,
    *state: np.ndarray,
) -> np.ndarray:
    """The Op's numba function for a chip given by its state inputs (:func:`state_inputs`):
    one :func:`~limprob.chip.kernels.query_counts`, then the pointwise log-likelihood."""
    chip = ChipState(
        DistortionArrays(
            np.ascontiguousarray(state[0]),
            np.ascontiguousarray(state[1]),
            state[2].item(),
            np.ascontiguousarray(state[3]),
            np.ascontiguousarray(state[4]),
            np.ascontiguousarray(state[5]),
            np.ascontiguousarray(state[6]),
        ),
        state[7].item(),
        state[8].item(),
        state[9].item(),
        state[10].item(),
        state[11].item(),
        state[12].item(),
        state[13],
    )
    counts = query_counts(
        chip, np.ascontiguousarray(w_in), np.ascontiguousarray(w_out), np.ascontiguousarray(x)
    )
    return categorical_log_likelihood(counts, y, kappa.item(), chip.n_steps)


@functools.cache
def source_digest(*modules: ModuleType) -> str:
    """A digest (16 hex digits) of the source of ``modules``: part of the PyTensor cache key of
    an Op whose numba code they hold, so an edit of any of them compiles it afresh (PyTensor's
    disk cache knows a function by its key alone)."""
    digest = hashlib.sha256(b"".join(inspect.getsource(m).encode() for m in modules))
    return digest.hexdigest()[:16]


KERNEL_MODULES = (limprob.streams, limprob.snn, limprob.chip.distortion, limprob.chip.kernels)
"""The modules of the chip kernels' numba code, which the Ops' cache keys digest."""


def state_cache_key() -> str:
    """PyTensor's cache key of :func:`state_log_likelihood`."""
    digest = source_digest(*KERNEL_MODULES, sys.modules[__name__])
    return f"limprob.ChipLogLikelihood(query_state).{digest}"


@register_funcify_and_cache_key(ChipLogLikelihood)
def _numba_chip_log_likelihood(
    op: ChipLogLikelihood, node: Apply | None = None, **kwargs: Any
) -> tuple[Callable[..., np.ndarray], str | None]:
    """Numba implementation: :func:`state_log_likelihood`, cached on disk, for a chip whose
    state is among the node's inputs; else a function bound to the chip's ``numba_run`` or to
    its ``run`` through object mode, whose cache key is None since it is bound to one chip."""
    if node is not None and len(node.inputs) > 5:
        return state_log_likelihood, state_cache_key()
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
