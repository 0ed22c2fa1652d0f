"""Surrogate-gradient backprop baselines: train the LIF network by BPTT, then run it on a chip.

The network is the one of :mod:`limprob.snn` (same equations, zero initial state, reset by
subtraction with the previous step's spike), written as a ``pytensor.scan`` over its ``T`` steps
and differentiated by PyTensor. The readout and loss are those of the MH model
(:mod:`limprob.models.chip_in_the_loop`): for output counts ``c`` (obs, class),

    p = softmax(kappa c / T),        loss = -mean_i log p_i[y_i]        (nats per sample)

**Spikes.** The forward pass is exactly the Heaviside step ``s = 1[v > theta]``. The backward
pass replaces its derivative (zero almost everywhere) with the fast-sigmoid surrogate

    ds/dv := 1 / (1 + slope |v - theta|)^2,

the derivative of the smooth function ``f(u) = u / (1 + slope |u|)`` at ``u = v - theta``.
:func:`spike` builds ``step(v > theta) + (f - zero_grad(f))``: the bracket is exactly 0 in the
forward pass and contributes ``f'`` to the gradient. The gradient flows through every term of
the recursion ``v[t] = beta v[t-1] + I[t] - theta s[t-1]``, the reset term included (BPTT).

**Methods, one object each** (:data:`BACKPROP_METHODS`, by the trace's ``method`` name).

- :class:`IdealModelBackprop` (``backprop``): trained on the ideal software model (nominal
  ``beta``, ``theta``; the chip's distortion is unknown), validated on it too, so training
  costs no chip query; the trained weights are then deployed to the chip and measured there.
- :class:`InTheLoopBackprop` (``in_the_loop_backprop``): every mini-batch's forward pass is a
  chip query, and the loss is evaluated with the chip's output counts ``c_chip``. The gradient
  is the straight-through combination: the ideal model's graph runs on the same batch and its
  counts are replaced by the chip's, ``c = c_ideal + zero_grad(c_chip - c_ideal)``, so the loss
  value and ``dloss/dc`` are the chip's while ``dc/dW`` is the ideal model's surrogate gradient
  (hidden spikes included: the chip's hidden layer is not observable). Validation is measured
  on the chip too (one query per epoch). Each query is counted in ``training_chip_queries``.
- :class:`NoiseAwareBackprop` (``noise_aware_backprop``): hardware-aware training of the ideal
  software model, the standard recipe for noisy, quantised chips: the chip's nominal membrane
  noise (``noise theta`` per neuron, sample and step, drawn afresh every batch) is added to the
  potentials of the forward pass, and the weights pass the chip's nominal B-bit converter with
  a straight-through estimator, ``W_q = W + zero_grad(Q_B(W) - W)`` (forward ``Q_B(W)``,
  gradient that of ``W``). Validation runs the same noisy, quantised software model; no chip
  query.
- :class:`DistortionModelBackprop` (``twin_backprop``): the network through a given
  :class:`~limprob.chip.Distortion` (``W_eff = Q_B(w_sat tanh(W gain / w_sat))``, per-neuron
  leaks and thresholds, the chip's nominal noise), e.g. a digital twin's posterior mean; no chip
  query.
- :class:`OracleBackprop` (``oracle``): the same through the simulated chip's *own* distortion
  (:meth:`limprob.chip.SimulatedChip.hidden_distortion`). It is a simulation-only reference,
  the ceiling of what a model of the chip can give, not a training method: a chip whose
  distortion is not known is refused.

**Training.** Adam (Kingma & Ba 2015) on mini-batches reshuffled every epoch; a stratified
validation part carved from the training data; early stopping keeps the weights of the best
validation epoch (highest validation accuracy, ties broken by lower validation loss) and stops
after ``patience`` epochs without improvement.

**Initialisation that fires.** Weights start as ``W_in ~ N(0, 1) / rms(|x|)`` (so the hidden
input current ``x @ W_in`` has a standard deviation near 1 over the draws, where a neuron needs
a constant current above ``theta (1 - beta) / (1 - beta^T)``, about 0.1 at the reference
constants, to fire within ``T`` steps) and ``W_out ~ N(0, 1) / sqrt(H rate)``, with ``rate``
the hidden layer's mean firing rate. Then, in the ideal model, each layer's weights are scaled
up by 1.5 until at least :data:`MIN_FIRING_FRACTION` of its (sample, neuron) pairs spike at
least once. An output neuron whose drive (the hidden spike rates times its column of
``W_out``) is negative for most samples never fires however far it is scaled; when scaling
alone misses the target, such columns are flipped (as the hidden layer's always are) and the
scaling starts again. The fractions reached are recorded in the trace; on the Wisconsin data
the first draw usually passes (about half of the pairs fire in each layer).
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any, ClassVar, cast

import numpy as np
import pytensor
import pytensor.tensor as pt
import xarray as xr
from numpy.typing import ArrayLike
from pytensor.gradient import zero_grad
from sklearn.model_selection import train_test_split

from limprob.chip.distortion import Distortion
from limprob.chip.kernels import converter_step
from limprob.chip.protocol import Chip
from limprob.chip.simulated import ParametricChip, SimulatedChip
from limprob.data import Split
from limprob.errors import LimprobError
from limprob.inference.evaluation import accuracy, point_dataset
from limprob.inference.sampling import package_versions
from limprob.inference.trusted import without_input_checks
from limprob.likelihood.chip_likelihood import class_probabilities
from limprob.models.defaults import DEFAULT_KAPPA
from limprob.snn import Network, lif_layer_step
from limprob.trace import predictions_constant_data
from limprob.validation import positive_integer, positive_number, seed

type Symbolic = Any
"""A PyTensor graph variable, or a number or array a graph takes as a constant. Typed Any: the
operator overloads of PyTensor's variables are not typed precisely enough to check graph code."""

MIN_FIRING_FRACTION = 0.25
"""Initialisation target: share of (sample, neuron) pairs of each layer that spike at least once."""
INIT_SCALE_UP = 1.5
MAX_INIT_ROUNDS = 20
ADAM_BETA1, ADAM_BETA2, ADAM_EPSILON = 0.9, 0.999, 1e-8


@dataclass(frozen=True)
class BackpropConfig:
    """Everything that defines a backprop run; checked on construction.

    The defaults of ``slope``, ``epochs`` and ``patience`` were chosen by measurement
    (``analyses/backprop_settings.py``, ``analyses/results/backprop_settings.md``): the
    cheapest setting tried with which ideal-model backprop reaches 0.97 on the ideal chip on
    each of 5 Yin-Yang seeds; with slope 25, 150 epochs and patience 30 two of them stalled
    (0.84, 0.58), and a flatter surrogate or more epochs alone still stopped one early.
    """

    epochs: int = 400
    """Maximum passes over the training part."""
    learning_rate: float = 0.01
    """Adam's step size."""
    slope: float = 5.0
    """Steepness of the fast-sigmoid surrogate."""
    batch_size: int = 32
    """Samples per Adam step (the whole training part when larger)."""
    validation_fraction: float = 0.2
    """Share of the training samples held out for early stopping, in [0, 1) (0: no
    validation, keep the last epoch's weights)."""
    patience: int = 100
    """Epochs without validation improvement before stopping."""
    seed: int = 0
    """Seeds the initial weights, the validation split and the batch order."""
    kappa: float = DEFAULT_KAPPA
    """Readout gain (the MH model's by default)."""

    def __post_init__(self) -> None:
        for name in ("epochs", "batch_size", "patience"):
            positive_integer(name.replace("_", " "), getattr(self, name))
        for name in ("learning_rate", "slope", "kappa"):
            positive_number(name.replace("_", " "), getattr(self, name))
        if not (0.0 <= self.validation_fraction < 1.0):
            raise LimprobError(
                f"validation fraction must be in [0, 1), got {self.validation_fraction}"
            )
        seed("seed", self.seed)


# --- the network as a PyTensor graph ---------------------------------------------------------


def surrogate(u: Symbolic, slope: Symbolic) -> Symbolic:
    """``u / (1 + slope |u|)``: the smooth function whose derivative is the surrogate."""
    return u / (1.0 + slope * abs(u))


def surrogate_derivative(u: ArrayLike, slope: float) -> np.ndarray:
    """``1 / (1 + slope |u|)^2``, the fast-sigmoid surrogate of the spike's derivative."""
    return 1.0 / (1.0 + slope * np.abs(u)) ** 2


def spike(v: Symbolic, theta: Symbolic, slope: Symbolic) -> Symbolic:
    """Spikes ``1[v > theta]`` forward, gradient ``1 / (1 + slope |v - theta|)^2`` backward."""
    smooth = surrogate(v - theta, slope)
    return pt.cast(pt.gt(v, theta), "float64") + (smooth - zero_grad(smooth))


def lif_graph(
    x: Symbolic,
    w_in: Symbolic,
    w_out: Symbolic,
    beta: Symbolic,
    theta: Symbolic,
    slope: Symbolic,
    n_steps: Symbolic,
    noise_hidden: Symbolic | None = None,
    noise_output: Symbolic | None = None,
    reset_zero: bool = False,
) -> Symbolic:
    """Output spike counts (obs, output) of the two-layer LIF network over ``n_steps`` (a
    ``pytensor.scan``); the same equations as :func:`limprob.snn.lif_counts_numpy`, with the
    membrane noise ``noise_hidden`` (step, obs, hidden) and ``noise_output`` (step, obs,
    output) added to the potentials when given (units of the potential), and the reset to 0
    after a spike when ``reset_zero`` (a Python bool; else reset by subtraction)."""
    current_hidden = x @ w_in
    noisy = noise_hidden is not None

    def step(*args: Any) -> tuple[Any, Any, Any, Any]:
        if noisy:
            z1, z2, v1, s1, v2, s2, current_hidden, w_out, beta, theta, slope = args
        else:
            v1, s1, v2, s2, current_hidden, w_out, beta, theta, slope = args
            z1 = z2 = 0.0
        if reset_zero:
            v1 = beta * v1 * (1.0 - s1) + current_hidden + z1
            s1 = spike(v1, theta, slope)
            v2 = beta * v2 * (1.0 - s2) + s1 @ w_out + z2
        else:
            v1 = beta * v1 + current_hidden - theta * s1 + z1
            s1 = spike(v1, theta, slope)
            v2 = beta * v2 + s1 @ w_out - theta * s2 + z2
        s2 = spike(v2, theta, slope)
        return v1, s1, v2, s2

    hidden = pt.zeros((x.shape[0], w_in.shape[1]), dtype="float64")
    output = pt.zeros((x.shape[0], w_out.shape[1]), dtype="float64")
    *_, output_spikes = pytensor.scan(
        step,
        sequences=[noise_hidden, noise_output] if noisy else None,
        outputs_info=[hidden, hidden, output, output],
        non_sequences=[current_hidden, w_out, beta, theta, slope],
        n_steps=None if noisy else n_steps,
        return_updates=False,
    )
    return output_spikes.sum(axis=0)


def straight_through_quantise(
    w: Symbolic, w_max: Symbolic, delta: Symbolic, quantise: Symbolic
) -> Symbolic:
    """The chip's B-bit converter (:func:`limprob.chip.kernels.quantise`) forward when
    ``quantise`` is 1, with the gradient of ``w`` itself (straight-through estimator); ``w``
    exactly when it is 0. ``delta = w_max / (2^(B-1) - 1)`` for ``B >= 2`` bits,
    ``Q(w) = delta round(clip(w, -w_max, w_max) / delta)``; ``delta = 0`` means one bit,
    ``Q(w) = w_max sign(w)`` (``sign(0) = +1``)."""
    one_bit = pt.eq(delta, 0.0)
    safe_delta = pt.switch(one_bit, 1.0, delta)
    levels = safe_delta * pt.round(pt.clip(w, -w_max, w_max) / safe_delta, mode="half_to_even")
    quantised = pt.switch(one_bit, pt.switch(pt.ge(w, 0.0), w_max, -w_max), levels)
    return w + zero_grad(quantise * (quantised - w))


def converter_delta(bits: int | None, w_max: float) -> float:
    """The converter's step ``delta`` for :func:`straight_through_quantise`: the chip's
    (:func:`~limprob.chip.kernels.converter_step`, 0 for one bit), or 1 (unused) for
    continuous weights."""
    return 1.0 if not bits else float(converter_step(w_max, bits))


def _gradients(cost: Symbolic, wrt: list[Symbolic]) -> list[Symbolic]:
    """``pytensor.grad(cost, wrt)``: the gradient of ``cost`` with respect to each of ``wrt``
    (a list for a list; PyTensor types its result as a variable, a list or None)."""
    return cast(list[Symbolic], pytensor.grad(cost, wrt))


def cross_entropy(
    counts: Symbolic, labels: Symbolic, kappa: Symbolic, n_steps: Symbolic
) -> Symbolic:
    """``-mean_i log softmax(kappa c_i / T)[y_i]`` (nats per sample)."""
    log_p = pt.special.log_softmax(kappa * counts / n_steps, axis=-1)
    return -pt.mean(log_p[pt.arange(labels.shape[0]), labels])


@dataclass(frozen=True)
class CompiledNetwork:
    """The compiled functions (PyTensor's default numba backend).

    ``forward(x, w_in, w_out, beta, theta, n_steps) -> counts``;
    ``loss_and_gradient(x, y, w_in, w_out, beta, theta, slope, kappa, n_steps, chip_counts,
    use_chip) -> (loss, ideal counts, dloss/dW_in, dloss/dW_out)``: with ``use_chip = 0`` the
    loss of the ideal model; with ``use_chip = 1`` the straight-through loss on
    ``chip_counts``.
    The noise-aware model (:func:`compiled_noise_aware_network`) has the same two functions:
    ``forward(x, w_in, w_out, beta, theta, noise_hidden, noise_output, w_max, delta,
    quantise)`` and ``loss_and_gradient(x, y, w_in, w_out, beta, theta, slope, kappa,
    noise_hidden, noise_output, w_max, delta, quantise)`` (noise given per step, weights
    quantised straight-through when ``quantise`` is 1).
    """

    forward: Callable[..., Any]
    loss_and_gradient: Callable[..., Any]
    compile_seconds: float


@functools.lru_cache(maxsize=1)
def compiled_network() -> CompiledNetwork:
    """Compile the network once per process: sizes, time steps, neuron constants, slope and
    gain are all inputs, so one compilation serves every network and chip.

    Compiled without numba's fast-math flags, which let LLVM reassociate and fuse
    ``beta v + I`` into one rounding and so break the bit-for-bit equality of the forward pass
    with :func:`limprob.snn.lif_counts_numpy` (and the reproducibility of a seed). Includes
    one call of each function, since the numba backend compiles on first call. On a
    machine whose PyTensor cache (``~/.pytensor/numba``) is cold that call takes about a
    minute once; afterwards, about 2 s per process.
    """
    started = time.perf_counter()
    with pytensor.config.change_flags(numba__fastmath=False):
        x, w_in, w_out, chip_counts = pt.dmatrices("x", "w_in", "w_out", "chip_counts")
        y = pt.lvector("y")
        n_steps = pt.lscalar("n_steps")
        beta, theta, slope, kappa, use_chip = pt.dscalars(
            "beta", "theta", "slope", "kappa", "use_chip"
        )
        counts = lif_graph(x, w_in, w_out, beta, theta, slope, n_steps)
        readout = counts + zero_grad(use_chip * (chip_counts - counts))
        loss = cross_entropy(readout, y, kappa, n_steps)
        grad_in, grad_out = _gradients(loss, [w_in, w_out])
        loss_and_gradient = pytensor.function(
            [x, y, w_in, w_out, beta, theta, slope, kappa, n_steps, chip_counts, use_chip],
            [loss, counts, grad_in, grad_out],
        )
        forward_counts = lif_graph(x, w_in, w_out, beta, theta, 1.0, n_steps)
        forward = pytensor.function([x, w_in, w_out, beta, theta, n_steps], forward_counts)
        ones = np.ones((1, 1))
        forward(ones, ones, ones, 0.9, 1.0, 1)
        loss_and_gradient(ones, np.zeros(1, np.int64), ones, ones, 0.9, 1.0, 1.0, 1.0, 1, ones, 0.0)
    return CompiledNetwork(
        without_input_checks(forward),
        without_input_checks(loss_and_gradient),
        time.perf_counter() - started,
    )


@functools.lru_cache(maxsize=1)
def compiled_noise_aware_network() -> CompiledNetwork:
    """Compile the noise-aware model once per process (see :class:`CompiledNetwork`), apart
    from the ideal one so the other methods never pay for it."""
    started = time.perf_counter()
    with pytensor.config.change_flags(numba__fastmath=False):
        x, w_in, w_out = pt.dmatrices("x", "w_in", "w_out")
        y = pt.lvector("y")
        beta, theta, slope, kappa = pt.dscalars("beta", "theta", "slope", "kappa")
        noise_hidden, noise_output = pt.tensor3s("noise_hidden", "noise_output")
        w_max, delta, quantise = pt.dscalars("w_max", "delta", "quantise")
        quantised = [straight_through_quantise(w, w_max, delta, quantise) for w in (w_in, w_out)]
        noisy_inputs = [noise_hidden, noise_output, w_max, delta, quantise]
        # quantised holds W_in and W_out (mypy cannot count a list)
        noisy_counts = lif_graph(
            x,
            *quantised,
            beta,
            theta,
            slope,
            None,  # type: ignore[call-arg]
            noise_hidden,
            noise_output,
        )
        noisy_loss = cross_entropy(noisy_counts, y, kappa, noise_hidden.shape[0])
        noisy_loss_and_gradient = pytensor.function(
            [x, y, w_in, w_out, beta, theta, slope, kappa, *noisy_inputs],
            [noisy_loss, noisy_counts, *_gradients(noisy_loss, [w_in, w_out])],
        )
        noisy_forward = pytensor.function(
            [x, w_in, w_out, beta, theta, *noisy_inputs],
            lif_graph(
                x,
                *quantised,
                beta,
                theta,
                1.0,
                None,  # type: ignore[call-arg]
                noise_hidden,
                noise_output,
            ),
        )
        ones, noise = np.ones((1, 1)), np.zeros((1, 1, 1))
        noisy_loss_and_gradient(
            ones, np.zeros(1, np.int64), ones, ones, 0.9, 1.0, 1.0, 1.0, noise, noise, 2.0, 1.0, 1.0
        )
        noisy_forward(ones, ones, ones, 0.9, 1.0, noise, noise, 2.0, 1.0, 1.0)
    return CompiledNetwork(
        without_input_checks(noisy_forward),
        without_input_checks(noisy_loss_and_gradient),
        time.perf_counter() - started,
    )


# --- pieces of training ----------------------------------------------------------------------


def layer_firing(
    x: np.ndarray, w_in: np.ndarray, w_out: np.ndarray, network: Network
) -> tuple[float, float]:
    """Share of (sample, neuron) pairs that spike at least once, hidden and output layer, in
    the ideal network (numpy, :func:`limprob.snn.lif_layer_step`)."""
    current = x @ w_in
    v1 = s1 = np.zeros_like(current)
    v2 = s2 = np.zeros((x.shape[0], w_out.shape[1]))
    fired1, fired2 = np.zeros(v1.shape, bool), np.zeros(v2.shape, bool)
    for _ in range(network.n_steps):
        v1, s1 = lif_layer_step(v1, s1, current, network.beta, network.theta)
        v2, s2 = lif_layer_step(v2, s2, s1 @ w_out, network.beta, network.theta)
        fired1 |= s1 > 0
        fired2 |= s2 > 0
    return float(fired1.mean()), float(fired2.mean())


def initial_weights(
    x: np.ndarray, n_output: int, network: Network, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Random weights that make both layers fire (see the module docstring).

    Returns ``(w_in, w_out, hidden_fraction, output_fraction)``.
    """
    n_input, n_hidden = x.shape[1], network.n_hidden
    w_in = rng.standard_normal((n_input, n_hidden)) / np.sqrt(np.mean(np.sum(x**2, axis=1)))
    # Inputs are non-negative, so a hidden neuron whose weights sum to a negative drive is
    # silent for most samples and its surrogate gradient vanishes: flip such columns (the
    # flipped column has the same N(0, 1) distribution) so every neuron starts excitable.
    w_in = w_in * np.where((x @ w_in).mean(axis=0) < 0, -1.0, 1.0)
    w_out = rng.standard_normal((n_hidden, n_output))
    for _ in range(MAX_INIT_ROUNDS):
        hidden, _ = layer_firing(x, w_in, w_out, network)
        if hidden >= MIN_FIRING_FRACTION:
            break
        w_in = w_in * INIT_SCALE_UP
    rates, rate = _hidden_rates(x, w_in, network)
    w_out = w_out / np.sqrt(n_hidden * max(rate, 1.0 / network.n_steps))
    scaled, hidden, output = _scaled_until_output_fires(x, w_in, w_out, network)
    if output < MIN_FIRING_FRACTION:
        # Scaling up cannot make an output neuron fire whose drive (hidden spike rates @ W_out)
        # is negative for most samples; with 2 or 3 classes that can hold the whole layer
        # silent while the loop scales W_out by 1.5^20 (about 3,000). Flip those columns, as
        # the hidden layer's are flipped above (the flipped column has the same N(0, 1)
        # distribution), and scale again from the unscaled weights.
        flip = np.where((rates @ w_out).mean(axis=0) < 0, -1.0, 1.0)
        scaled, hidden, output = _scaled_until_output_fires(x, w_in, w_out * flip, network)
    return w_in, scaled, hidden, output


def _scaled_until_output_fires(
    x: np.ndarray, w_in: np.ndarray, w_out: np.ndarray, network: Network
) -> tuple[np.ndarray, float, float]:
    """``w_out`` scaled by :data:`INIT_SCALE_UP` until :data:`MIN_FIRING_FRACTION` of the
    output (sample, neuron) pairs fire (at most :data:`MAX_INIT_ROUNDS` times), with the
    hidden and output layers' firing fractions it reached."""
    for _ in range(MAX_INIT_ROUNDS):
        hidden, output = layer_firing(x, w_in, w_out, network)
        if output >= MIN_FIRING_FRACTION:
            break
        w_out = w_out * INIT_SCALE_UP
    return w_out, hidden, output


def _hidden_rates(x: np.ndarray, w_in: np.ndarray, network: Network) -> tuple[np.ndarray, float]:
    """Spikes per step of the hidden layer in the ideal network: per sample and neuron
    ``(obs, hidden)``, and their mean."""
    current = x @ w_in
    v = s = np.zeros_like(current)
    per_pair, mean = np.zeros_like(current), 0.0
    for _ in range(network.n_steps):
        v, s = lif_layer_step(v, s, current, network.beta, network.theta)
        per_pair += s
        mean += s.mean()
    return per_pair / network.n_steps, mean / network.n_steps


def validation_split(
    labels: np.ndarray, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Indices (fit, validation) into the training samples: stratified where every class has
    two samples, at least one validation sample per class present, and at least one sample
    per class left to fit."""
    n = labels.size
    if fraction == 0.0:
        return np.arange(n), np.arange(0)
    present, per_class = np.unique(labels, return_counts=True)
    n_validation = max(present.size, int(round(fraction * n)))
    if n - n_validation < present.size:
        raise LimprobError(
            f"{n} training samples are too few to hold out a validation part "
            f"of {fraction}; lower the validation fraction or use more data"
        )
    stratify = labels if per_class.min() >= 2 else None
    fit, validation = train_test_split(
        np.arange(n), test_size=n_validation, stratify=stratify, random_state=seed
    )
    return np.sort(fit), np.sort(validation)


def _loss_of_counts(counts: np.ndarray, labels: np.ndarray, kappa: float, n_steps: int) -> float:
    probabilities = class_probabilities(counts, kappa, n_steps)
    return float(-np.mean(np.log(probabilities[np.arange(labels.size), labels])))


class Adam:
    """Adam on a list of numpy arrays: ``m <- b1 m + (1 - b1) g``,
    ``v <- b2 v + (1 - b2) g^2``, ``p <- p - lr m_hat / (sqrt(v_hat) + eps)``."""

    def __init__(self, params: list[np.ndarray], learning_rate: float) -> None:
        self.params = [p.copy() for p in params]
        self.learning_rate = learning_rate
        self.m = [np.zeros_like(p) for p in params]
        self.v = [np.zeros_like(p) for p in params]
        self.t = 0

    def step(self, grads: list[np.ndarray]) -> list[np.ndarray]:
        """One Adam update of the parameters with gradients ``grads`` (the same shapes), in
        place."""
        self.t += 1
        correction1 = 1.0 - ADAM_BETA1**self.t
        correction2 = 1.0 - ADAM_BETA2**self.t
        for p, m, v, g in zip(self.params, self.m, self.v, grads):
            m *= ADAM_BETA1
            m += (1.0 - ADAM_BETA1) * g
            v *= ADAM_BETA2
            v += (1.0 - ADAM_BETA2) * g * g
            p -= self.learning_rate * (m / correction1) / (np.sqrt(v / correction2) + ADAM_EPSILON)
        return self.params


# --- the distorted network (oracle and twin starts) ------------------------------------------


def saturate_graph(w: Symbolic, inverse_w_sat: Symbolic) -> Symbolic:
    """:func:`limprob.chip.kernels.saturate` as a graph: ``w_sat tanh(w / w_sat)`` with
    ``w_sat = 1 / inverse_w_sat``, ``w`` itself at 0 (both branches finite, so the gradient is)."""
    saturating = pt.gt(inverse_w_sat, 0.0)
    safe = pt.switch(saturating, inverse_w_sat, 1.0)
    return pt.switch(saturating, pt.tanh(w * safe) / safe, w)


def distorted_lif_graph(
    x: Symbolic,
    w_in: Symbolic,
    w_out: Symbolic,
    distortion: Sequence[Symbolic],
    slope: Symbolic,
    noise_hidden: Symbolic,
    noise_output: Symbolic,
    w_max: Symbolic,
    delta: Symbolic,
    quantise: Symbolic,
) -> Symbolic:
    """Output spike counts (obs, output) of the network through a distortion, the graph of
    :func:`limprob.chip.kernels.chip_counts`: ``W_eff = Q_B(saturate(W gain))`` (the converter
    straight-through, :func:`straight_through_quantise`), per-neuron leaks and thresholds
    (``distortion`` = ``(gain_in, gain_out, inverse_w_sat, beta_hidden, theta_hidden,
    beta_output, theta_output)``), membrane noise (step, obs, neuron) added to the potentials."""
    gain_in, gain_out, inverse_w_sat, beta_h, theta_h, beta_o, theta_o = distortion
    w_in_eff, w_out_eff = (
        straight_through_quantise(saturate_graph(w * g, inverse_w_sat), w_max, delta, quantise)
        for w, g in ((w_in, gain_in), (w_out, gain_out))
    )
    current_hidden = x @ w_in_eff

    def step(
        z1: Any,
        z2: Any,
        v1: Any,
        s1: Any,
        v2: Any,
        s2: Any,
        current_hidden: Any,
        w_out: Any,
        beta_h: Any,
        theta_h: Any,
        beta_o: Any,
        theta_o: Any,
        slope: Any,
    ) -> tuple[Any, Any, Any, Any]:
        v1 = beta_h * v1 + current_hidden - theta_h * s1 + z1
        s1 = spike(v1, theta_h, slope)
        v2 = beta_o * v2 + s1 @ w_out - theta_o * s2 + z2
        s2 = spike(v2, theta_o, slope)
        return v1, s1, v2, s2

    hidden = pt.zeros((x.shape[0], w_in.shape[1]), dtype="float64")
    output = pt.zeros((x.shape[0], w_out.shape[1]), dtype="float64")
    *_, output_spikes = pytensor.scan(
        step,
        sequences=[noise_hidden, noise_output],
        outputs_info=[hidden, hidden, output, output],
        non_sequences=[current_hidden, w_out_eff, beta_h, theta_h, beta_o, theta_o, slope],
        return_updates=False,
    )
    return output_spikes.sum(axis=0)


@functools.lru_cache(maxsize=1)
def compiled_distorted_network() -> CompiledNetwork:
    """Compile the distorted network once per process (see :class:`CompiledNetwork`):
    ``forward(x, w_in, w_out, *distortion, noise_hidden, noise_output, w_max, delta,
    quantise)`` and ``loss_and_gradient(x, y, w_in, w_out, *distortion, slope, kappa,
    noise_hidden, noise_output, w_max, delta, quantise)``, ``distortion`` as in
    :func:`distorted_lif_graph`."""
    started = time.perf_counter()
    with pytensor.config.change_flags(numba__fastmath=False):
        x, w_in, w_out, gain_in, gain_out = pt.dmatrices(
            "x", "w_in", "w_out", "gain_in", "gain_out"
        )
        y = pt.lvector("y")
        beta_h, theta_h, beta_o, theta_o = pt.dvectors("beta_h", "theta_h", "beta_o", "theta_o")
        inverse_w_sat, slope, kappa = pt.dscalars("inverse_w_sat", "slope", "kappa")
        noise_hidden, noise_output = pt.tensor3s("noise_hidden", "noise_output")
        w_max, delta, quantise = pt.dscalars("w_max", "delta", "quantise")
        distortion = [gain_in, gain_out, inverse_w_sat, beta_h, theta_h, beta_o, theta_o]
        rest = [noise_hidden, noise_output, w_max, delta, quantise]
        counts = distorted_lif_graph(x, w_in, w_out, distortion, slope, *rest)
        loss = cross_entropy(counts, y, kappa, noise_hidden.shape[0])
        loss_and_gradient = pytensor.function(
            [x, y, w_in, w_out, *distortion, slope, kappa, *rest],
            [loss, counts, *_gradients(loss, [w_in, w_out])],
        )
        forward = pytensor.function(
            [x, w_in, w_out, *distortion, *rest],
            distorted_lif_graph(x, w_in, w_out, distortion, 1.0, *rest),
        )
        ones, vector, noise = np.ones((1, 1)), np.ones(1), np.zeros((1, 1, 1))
        arrays = [ones, ones, 0.5, vector * 0.9, vector, vector * 0.9, vector]
        loss_and_gradient(
            ones, np.zeros(1, np.int64), ones, ones, *arrays, 1.0, 1.0, noise, noise, 2.0, 1.0, 1.0
        )
        forward(ones, ones, ones, *arrays, noise, noise, 2.0, 1.0, 1.0)
    return CompiledNetwork(
        without_input_checks(forward),
        without_input_checks(loss_and_gradient),
        time.perf_counter() - started,
    )


def known_distortion(chip: Chip) -> Distortion:
    """The distortion of a chip whose distortion is known: a
    :class:`~limprob.chip.SimulatedChip` (its simulation-only
    :meth:`~limprob.chip.SimulatedChip.hidden_distortion`) or a
    :class:`~limprob.chip.simulated.ParametricChip` (built from a given distortion). Any other
    chip (a user's, a real one) hides it: :class:`LimprobError`."""
    if isinstance(chip, SimulatedChip):
        return chip.hidden_distortion()
    if isinstance(chip, ParametricChip):
        return chip.distortion
    raise LimprobError(
        f"the oracle needs a simulated chip, whose distortion is known; "
        f"a {type(chip).__name__} does not reveal its own"
    )


# --- training --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Objective:
    """What one method trains on: ``batch_step(w_in, w_out, x, y) -> (loss, counts,
    dloss/dW_in, dloss/dW_out)`` and ``counts(w_in, w_out, x) -> (obs, output)`` (validation),
    with the seconds this process spent compiling them."""

    batch_step: Callable
    counts: Callable
    compile_seconds: float


def _compile(
    factory: functools._lru_cache_wrapper[CompiledNetwork],
) -> tuple[CompiledNetwork, float]:
    """``factory()`` and the seconds it compiled in this call (0 when cached)."""
    before = factory.cache_info().misses
    compiled = factory()
    return compiled, (compiled.compile_seconds if factory.cache_info().misses > before else 0.0)


class Backprop:
    """Surrogate-gradient backprop of one kind: Adam with early stopping on a validation part
    (module docstring) around the method's :meth:`objective`; :meth:`train` returns the trace.

    Subclasses set :attr:`name` (the trace's ``method``, one string per method) and
    :meth:`objective`.
    """

    name: ClassVar[str]
    simulation_only: ClassVar[bool] = False
    """A reference that only a simulated chip allows, not a training method."""

    def __init__(self, config: BackpropConfig = BackpropConfig()) -> None:
        if not isinstance(config, BackpropConfig):
            raise LimprobError("config must be a BackpropConfig")
        self.config = config

    def objective(self, chip: Chip, n_output: int, noise_rng: np.random.Generator) -> Objective:
        """The method's loss and gradient of a mini-batch, its forward pass for validation and
        the seconds it compiled in (:class:`Objective`), for ``chip`` with ``n_output``
        outputs; ``noise_rng`` draws any membrane noise the method adds."""
        raise NotImplementedError

    def attrs(self) -> dict:
        """Method-specific attributes of the trace."""
        return {"simulation_only": int(self.simulation_only)}

    def train(self, chip: Chip, data: Split) -> xr.DataTree:
        """Train on ``data`` by this method, then measure the weights on ``chip``; return a
        limprob trace with groups ``weights`` (``W_in (feature, hidden)``,
        ``W_out (hidden, class)``), ``training``, ``point_estimates`` (``probability
        (point_estimate, obs, class)``: the trained weights are the one point estimate,
        ``mean``) and ``predictions_constant_data``."""
        config = self.config
        started = time.perf_counter()
        network = chip.network
        if network.reset != "subtract":
            raise LimprobError(
                f"{self.name}: backprop's graphs reset by subtraction; the chip's "
                f"network resets to {network.reset} (train it by MH)"
            )
        n_steps = network.n_steps
        kappa = float(config.kappa)
        x = np.ascontiguousarray(data.train["features"].values, dtype=np.float64)
        y = data.train["labels"].values.astype(np.int64)
        if x.shape[1] != chip.n_inputs:
            raise LimprobError(
                f"the data have {x.shape[1]} features, the chip {chip.n_inputs} inputs"
            )
        n_output = chip.n_outputs
        if data.train.sizes.get("class", n_output) != n_output:
            raise LimprobError(
                f"the data have {data.train.sizes['class']} classes, the chip {n_output} outputs"
            )
        objective = self.objective(chip, n_output, np.random.default_rng([config.seed, 3]))

        rng = np.random.default_rng([config.seed, 2])
        fit, held_out = validation_split(y, config.validation_fraction, config.seed)
        x_fit, y_fit, x_val, y_val = x[fit], y[fit], x[held_out], y[held_out]
        w_in, w_out, hidden_firing, output_firing = initial_weights(x_fit, n_output, network, rng)

        def validate(w_in: np.ndarray, w_out: np.ndarray) -> tuple[float, float]:
            counts = objective.counts(w_in, w_out, x_val)
            return (
                _loss_of_counts(counts, y_val, kappa, n_steps),
                accuracy(class_probabilities(counts, kappa, n_steps), y_val),
            )

        adam = Adam([w_in, w_out], config.learning_rate)
        batch = min(config.batch_size, y_fit.size)
        queries_before = chip.queries
        history: dict[str, list[float]] = {
            "train_loss": [],
            "validation_loss": [],
            "validation_accuracy": [],
        }
        best = (-np.inf, np.inf)
        best_weights, best_epoch, waited = (w_in.copy(), w_out.copy()), 0, 0
        for epoch in range(1, config.epochs + 1):
            order = rng.permutation(y_fit.size)
            total = 0.0
            for start in range(0, y_fit.size, batch):
                index = order[start : start + batch]
                loss, _, grad_in, grad_out = objective.batch_step(
                    adam.params[0], adam.params[1], x_fit[index], y_fit[index]
                )
                total += float(loss) * index.size
                adam.step([grad_in, grad_out])
            history["train_loss"].append(total / y_fit.size)
            if held_out.size:
                val_loss, val_accuracy = validate(*adam.params)
            else:
                val_loss, val_accuracy = np.nan, np.nan
            history["validation_loss"].append(val_loss)
            history["validation_accuracy"].append(val_accuracy)
            if held_out.size == 0 or (val_accuracy, -val_loss) > (best[0], -best[1]):
                best = (val_accuracy, val_loss)
                best_weights, best_epoch, waited = (
                    (adam.params[0].copy(), adam.params[1].copy()),
                    epoch,
                    0,
                )
            else:
                waited += 1
                if waited >= config.patience:
                    break
        training_queries = chip.queries - queries_before
        training_seconds = time.perf_counter() - started

        w_in, w_out = best_weights
        before = chip.queries
        test_x = np.ascontiguousarray(data.test["features"].values, dtype=np.float64)
        test_probability = class_probabilities(chip.run(w_in, w_out, test_x), kappa, n_steps)
        train_probability = class_probabilities(chip.run(w_in, w_out, x), kappa, n_steps)
        evaluation_queries = chip.queries - before

        tree = _trace(data, w_in, w_out, history, test_probability, network)
        tree.attrs.update(
            {
                "limprob_trace": 1,
                "method": self.name,
                **self.attrs(),
                **chip.describe(),
                **asdict(config),
                "test_accuracy": accuracy(test_probability, data.test["labels"].values),
                "train_accuracy": accuracy(train_probability, y),
                "training_chip_queries": int(training_queries),
                "evaluation_chip_queries": int(evaluation_queries),
                "wall_seconds": time.perf_counter() - started,
                "training_seconds": training_seconds,
                "compile_seconds": objective.compile_seconds,
                "epochs_run": len(history["train_loss"]),
                "best_epoch": best_epoch,
                "n_train": int(y.size),
                "n_fit": int(fit.size),
                "n_validation": int(held_out.size),
                "n_test": int(data.test.sizes["obs"]),
                "init_hidden_firing_fraction": hidden_firing,
                "init_output_firing_fraction": output_firing,
                "data_source": str(data.train.attrs.get("source", "data")),
                **package_versions(),
            }
        )
        return tree


def _nominal(chip: Chip) -> tuple[float, float]:
    return float(chip.network.beta), float(chip.network.theta)


def _ideal_gradient(
    chip: Chip,
    config: BackpropConfig,
    n_output: int,
    chip_counts: Callable[[np.ndarray, np.ndarray, np.ndarray], np.ndarray] | None,
) -> Objective:
    """The gradient of the ideal software model (nominal ``beta``, ``theta``): of its own loss
    and counts (``chip_counts`` None: no chip query), or straight through the counts
    ``chip_counts(w_in, w_out, x)`` of each mini-batch, which then also validate (module
    docstring)."""
    compiled, seconds = _compile(compiled_network)
    ideal, n_steps = _nominal(chip), chip.network.n_steps
    slope, kappa = float(config.slope), float(config.kappa)

    def batch_step(
        w_in: np.ndarray, w_out: np.ndarray, xb: np.ndarray, yb: np.ndarray
    ) -> list[np.ndarray]:
        if chip_counts is None:
            counts, through_chip = np.zeros((xb.shape[0], n_output)), 0.0
        else:
            counts, through_chip = chip_counts(w_in, w_out, xb), 1.0
        return compiled.loss_and_gradient(
            xb, yb, w_in, w_out, *ideal, slope, kappa, n_steps, counts, through_chip
        )

    def ideal_counts(w_in: np.ndarray, w_out: np.ndarray, x: np.ndarray) -> np.ndarray:
        return compiled.forward(x, w_in, w_out, *ideal, n_steps)

    return Objective(batch_step, ideal_counts if chip_counts is None else chip_counts, seconds)


class IdealModelBackprop(Backprop):
    """Trained and validated on the ideal software model (nominal ``beta``, ``theta``): no chip
    query until the trained weights are measured on the chip."""

    name = "backprop"

    def objective(self, chip: Chip, n_output: int, noise_rng: np.random.Generator) -> Objective:
        """See :meth:`Backprop.objective`."""
        return _ideal_gradient(chip, self.config, n_output, chip_counts=None)


class InTheLoopBackprop(Backprop):
    """Every mini-batch's forward pass and every validation is a chip query; the gradient is
    the ideal model's, straight through the chip's counts (module docstring)."""

    name = "in_the_loop_backprop"

    def objective(self, chip: Chip, n_output: int, noise_rng: np.random.Generator) -> Objective:
        """See :meth:`Backprop.objective`."""
        return _ideal_gradient(chip, self.config, n_output, chip_counts=chip.run)


def converter_inputs(bits: int | None, w_max: float) -> tuple[float, float, float]:
    """``(w_max, delta, quantise)``, the graph inputs of :func:`straight_through_quantise`, for
    a B-bit converter over ``[-w_max, w_max]`` (``bits`` None or 0: continuous weights)."""
    return float(w_max), converter_delta(bits, w_max), 1.0 if bits else 0.0


def _converter(chip: Chip) -> tuple[float, float, float]:
    """``(w_max, delta, quantise)`` of the chip's nominal weight converter."""
    return converter_inputs(chip.weight_bits, float(chip.weight_range))


def _noisy_model_objective(
    compiled: CompiledNetwork,
    seconds: float,
    model: Sequence,
    config: BackpropConfig,
    chip: Chip,
    noise: Callable[[int], tuple[np.ndarray, ...]],
) -> Objective:
    """The objective of a software model of the chip with membrane noise and the chip's weight
    converter: ``compiled`` called with the model's parameters ``model`` (the nominal leak and
    threshold, or a distortion's arrays), the surrogate slope and readout gain of ``config``,
    fresh noise ``noise(n_obs)`` (:func:`_membrane_noise`) and ``chip``'s converter, for the
    mini-batches and the validation alike."""
    slope, kappa = float(config.slope), float(config.kappa)
    converter = _converter(chip)

    def batch_step(
        w_in: np.ndarray, w_out: np.ndarray, xb: np.ndarray, yb: np.ndarray
    ) -> list[np.ndarray]:
        return compiled.loss_and_gradient(
            xb, yb, w_in, w_out, *model, slope, kappa, *noise(xb.shape[0]), *converter
        )

    return Objective(
        batch_step,
        lambda w_in, w_out, x: compiled.forward(
            x, w_in, w_out, *model, *noise(x.shape[0]), *converter
        ),
        seconds,
    )


def _membrane_noise(
    chip: Chip, n_output: int, noise_rng: np.random.Generator, *, always_draw: bool
) -> Callable[[int], tuple[np.ndarray, ...]]:
    """``noise(n_obs)``: fresh nominal membrane noise (step, obs, neuron) for the hidden and
    output layers, standard deviation ``noise theta``; zeros, drawing nothing, on a chip
    without noise unless ``always_draw``."""
    network = chip.network
    sd = float(chip.noise) * network.theta

    def shapes(n_obs: int) -> tuple[tuple[int, int, int], tuple[int, int, int]]:
        return ((network.n_steps, n_obs, network.n_hidden), (network.n_steps, n_obs, n_output))

    if sd == 0.0 and not always_draw:
        return lambda n_obs: tuple(np.zeros(shape) for shape in shapes(n_obs))
    return lambda n_obs: tuple(sd * noise_rng.standard_normal(shape) for shape in shapes(n_obs))


class NoiseAwareBackprop(Backprop):
    """The ideal model with the chip's nominal membrane noise and weight converter (module
    docstring); validated on the same noisy, quantised model; no chip query."""

    name = "noise_aware_backprop"

    def objective(self, chip: Chip, n_output: int, noise_rng: np.random.Generator) -> Objective:
        """See :meth:`Backprop.objective`."""
        return _noisy_model_objective(
            *_compile(compiled_noise_aware_network),
            _nominal(chip),
            self.config,
            chip,
            _membrane_noise(chip, n_output, noise_rng, always_draw=True),
        )


class DistortionModelBackprop(Backprop):
    """Backprop through a given model of the chip's distortion (:func:`distorted_lif_graph`),
    with the chip's nominal membrane noise and weight converter; validated on the same model,
    no chip query. With a digital twin's distortion (posterior mean of its parameters) it is
    the twin's start (:mod:`limprob.inference.starts`)."""

    name = "twin_backprop"

    def __init__(self, distortion: Distortion, config: BackpropConfig = BackpropConfig()) -> None:
        super().__init__(config)
        if not isinstance(distortion, Distortion):
            raise LimprobError("distortion must be a limprob.chip.Distortion")
        self.distortion = distortion

    def distortion_of(self, chip: Chip) -> Distortion:
        """The distortion backprop trains through: the one given (a twin's)."""
        return self.distortion

    def objective(self, chip: Chip, n_output: int, noise_rng: np.random.Generator) -> Objective:
        """See :meth:`Backprop.objective`."""
        compiled, seconds = _compile(compiled_distorted_network)
        distortion = list(self.distortion_of(chip).arrays(chip.network, chip.n_inputs, n_output))
        return _noisy_model_objective(
            compiled,
            seconds,
            distortion,
            self.config,
            chip,
            _membrane_noise(chip, n_output, noise_rng, always_draw=False),
        )


class OracleBackprop(DistortionModelBackprop):
    """Backprop through the simulated chip's own distortion (:func:`known_distortion`): the
    ceiling of what a model of the chip can give, a simulation-only reference and not a
    training method. A chip whose distortion is not known is refused."""

    name = "oracle"
    simulation_only = True

    def __init__(self, config: BackpropConfig = BackpropConfig()) -> None:
        Backprop.__init__(self, config)

    def distortion_of(self, chip: Chip) -> Distortion:
        """The chip's own hidden distortion (:func:`known_distortion`; simulation only)."""
        return known_distortion(chip)


BACKPROP_METHODS: dict[str, type[Backprop]] = {
    cls.name: cls
    for cls in (IdealModelBackprop, InTheLoopBackprop, NoiseAwareBackprop, OracleBackprop)
}
"""The backprop methods a chip alone defines, by the trace's ``method`` name."""
METHODS = tuple(BACKPROP_METHODS)


def train_backprop(
    chip: Chip,
    data: Split,
    config: BackpropConfig = BackpropConfig(),
    method: str = IdealModelBackprop.name,
) -> xr.DataTree:
    """``BACKPROP_METHODS[method](config).train(chip, data)``."""
    if method not in BACKPROP_METHODS:
        raise LimprobError(f"unknown backprop method {method}; choose from {', '.join(METHODS)}")
    return BACKPROP_METHODS[method](config).train(chip, data)


def _trace(
    data: Split,
    w_in: np.ndarray,
    w_out: np.ndarray,
    history: dict[str, list[float]],
    test_probability: np.ndarray,
    network: Network,
) -> xr.DataTree:
    features = data.train["feature"].values
    classes = data.train["class"].values
    hidden = np.arange(network.n_hidden)
    weights = xr.Dataset(
        {"W_in": (("feature", "hidden"), w_in), "W_out": (("hidden", "class"), w_out)},
        coords={"feature": features, "hidden": hidden, "class": classes},
    )
    epochs = np.arange(1, len(history["train_loss"]) + 1)
    training = xr.Dataset(
        {name: ("epoch", np.asarray(values, dtype=np.float64)) for name, values in history.items()},
        coords={"epoch": epochs},
    )
    training["train_loss"].attrs["units"] = "nats per sample"
    training["validation_loss"].attrs["units"] = "nats per sample"
    return xr.DataTree.from_dict(
        {
            "weights": weights,
            "training": training,
            "point_estimates": point_dataset(test_probability[None], ["mean"], data.test),
            "predictions_constant_data": predictions_constant_data(data.test),
        }
    )
