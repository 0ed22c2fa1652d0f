"""The spiking network: two layers of leaky integrate-and-fire neurons in discrete time.

For a layer with leak ``beta``, threshold ``theta`` and input current ``I[t]``, from a zero
state (``v[0] = s[0] = 0``) and for ``t = 1 .. T``:

    v[t] = beta * v[t-1] + I[t] - theta * s[t-1]        (reset "subtract"; arbitrary units)
    v[t] = beta * (1 - s[t-1]) * v[t-1] + I[t]             (reset "zero")
    s[t] = 1 if v[t] > theta else 0                       (spike)

The network's ``reset`` picks one of the two. ``"subtract"`` (the default) takes the threshold
off the potential one step after a spike, as snnTorch's ``Leaky(reset_mechanism="subtract")``;
``"zero"`` sets the potential to 0 after a spike, NIR's own LIF reset to ``v_reset = 0`` read in
discrete time, as snnTorch's ``Leaky(reset_mechanism="zero")``. The hidden
layer gets the constant current ``I1 = x @ W_in`` at every step; the output layer gets
``I2[t] = s1[t] @ W_out``. The readout is the spike count of each output neuron,
``c = sum_t s2[t]``, one per class.

Two implementations of the same equations: :func:`lif_counts`, a numba kernel with the batch
as the inner (SIMD-friendly) loop and optional membrane noise, which is what chips run; and
:func:`lif_counts_numpy`, the straightforward vectorised numpy version, kept as the reference
for tests and benchmarks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np

from limprob.errors import LimprobError
from limprob.streams import normal
from limprob.validation import hidden, time_steps

type ArrayOrFloat = float | np.ndarray
"""A scalar or an array, combined elementwise (a per-neuron leak or threshold, or one value)."""

RESETS = ("subtract", "zero")
"""What a spike does to the potential: subtract the threshold, or set it to zero."""


@dataclass(frozen=True)
class Network:
    """Size and neuron constants of the ideal network (reference defaults of the design note).

    n_hidden: hidden LIF neurons H; n_steps: time steps T; beta: leak per step (0 <= beta < 1);
    theta: firing threshold (same units as the input current); reset: what a spike does to the
    potential, one of :data:`RESETS` (module docstring).
    """

    n_hidden: int = 16
    n_steps: int = 32
    beta: float = 0.9
    theta: float = 1.0
    reset: str = "subtract"

    def __post_init__(self) -> None:
        hidden("hidden size", self.n_hidden)
        time_steps("time steps", self.n_steps)
        if not (0.0 <= self.beta < 1.0):
            raise LimprobError(f"leak beta must be in [0, 1), got {self.beta}")
        if not (self.theta > 0.0 and np.isfinite(self.theta)):
            raise LimprobError(f"threshold theta must be positive, got {self.theta}")
        if self.reset not in RESETS:
            raise LimprobError(f"reset must be one of {', '.join(RESETS)}, got {self.reset!r}")

    @property
    def reset_zero(self) -> bool:
        """True when a spike resets the potential to 0, False when it subtracts ``theta``
        (the flag the kernels take)."""
        return self.reset == "zero"


def lif_layer_step(
    v: np.ndarray,
    s: np.ndarray,
    current: ArrayOrFloat,
    beta: ArrayOrFloat,
    theta: ArrayOrFloat,
    reset_zero: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """One time step of one LIF layer; returns the new potential and spikes.

    ``v[t] = beta v[t-1] + I[t] - theta s[t-1]`` (or ``beta (1 - s[t-1]) v[t-1] + I[t]`` with
    ``reset_zero``), ``s[t] = v[t] > theta``. Works elementwise on scalars or arrays;
    :func:`lif_counts_numpy` is built from it.
    """
    if reset_zero:
        v = beta * v * (1.0 - s) + current
    else:
        v = beta * v + current - theta * s
    return v, (v > theta) * 1.0


def lif_counts_numpy(
    x: np.ndarray,
    w_in: np.ndarray,
    w_out: np.ndarray,
    beta_hidden: ArrayOrFloat,
    theta_hidden: ArrayOrFloat,
    beta_output: ArrayOrFloat,
    theta_output: ArrayOrFloat,
    n_steps: int,
    reset_zero: bool = False,
) -> np.ndarray:
    """Output spike counts (obs, output) of the two-layer network, vectorised numpy.

    ``x`` is (obs, input); ``w_in`` (input, hidden); ``w_out`` (hidden, output); the leaks and
    thresholds are per neuron, shapes (hidden,) and (output,); ``reset_zero`` resets the
    potential to 0 after a spike instead of subtracting the threshold.
    """
    n_obs = x.shape[0]
    current_hidden = x @ w_in
    v1 = np.zeros((n_obs, w_in.shape[1]))
    s1 = np.zeros_like(v1)
    v2 = np.zeros((n_obs, w_out.shape[1]))
    s2 = np.zeros_like(v2)
    counts = np.zeros_like(v2)
    for _ in range(n_steps):
        v1, s1 = lif_layer_step(v1, s1, current_hidden, beta_hidden, theta_hidden, reset_zero)
        v2, s2 = lif_layer_step(v2, s2, s1 @ w_out, beta_output, theta_output, reset_zero)
        counts += s2
    return counts


@numba.njit(cache=True, nogil=True, fastmath=False)
def lif_counts(
    x: np.ndarray,
    w_in: np.ndarray,
    w_out: np.ndarray,
    beta_hidden: np.ndarray,
    theta_hidden: np.ndarray,
    beta_output: np.ndarray,
    theta_output: np.ndarray,
    n_steps: int,
    reset_zero: bool = False,
    noise_sd: float = 0.0,
    noise_key: int | np.uint64 = 0,
) -> np.ndarray:
    """Output spike counts (obs, output) of the two-layer network, numba kernel: the
    equations and arguments of :func:`lif_counts_numpy`, with optional membrane noise:

        v[t] = beta v[t-1] + I[t] - theta s[t-1] + noise_sd z,    z ~ Normal(0, 1)

    (with ``reset_zero``: ``v[t] = beta (1 - s[t-1]) v[t-1] + I[t] + noise_sd z``)

    for every neuron, sample and step, independently, ``z`` the normals of the counter-based
    stream ``noise_key`` (:mod:`limprob.streams`, indexed by step, neuron (hidden then output)
    and sample); ``noise_sd`` is in the units of the potential. With ``noise_sd = 0`` no noise
    is drawn and the arithmetic is that of the noiseless network exactly.

    States are held as (neuron, obs) so the innermost loop runs over the batch with unit
    stride. Cost per call: ``2 obs input hidden`` FLOPs for the input current, then per step
    about ``obs (5 hidden + 2 hidden output + 5 output)``.
    """
    n_obs = x.shape[0]
    n_hidden = w_in.shape[1]
    n_output = w_out.shape[1]
    noisy = noise_sd > 0.0
    key = np.uint64(noise_key)
    current = np.ascontiguousarray(w_in.T) @ np.ascontiguousarray(x.T)  # (hidden, obs)
    v1 = np.zeros((n_hidden, n_obs))
    s1 = np.zeros((n_hidden, n_obs))
    v2 = np.zeros((n_output, n_obs))
    s2 = np.zeros((n_output, n_obs))
    current_out = np.zeros(n_obs)
    counts = np.zeros((n_output, n_obs))
    for t in range(n_steps):
        for h in range(n_hidden):
            beta, theta = beta_hidden[h], theta_hidden[h]
            first = (t * (n_hidden + n_output) + h) * n_obs
            for b in range(n_obs):
                if reset_zero:
                    v = beta * v1[h, b] * (1.0 - s1[h, b]) + current[h, b]
                else:
                    v = beta * v1[h, b] + current[h, b] - theta * s1[h, b]
                if noisy:
                    v += noise_sd * normal(key, first + b)
                v1[h, b] = v
                s1[h, b] = 1.0 if v > theta else 0.0
        for o in range(n_output):
            current_out[:] = 0.0
            for h in range(n_hidden):
                w = w_out[h, o]
                for b in range(n_obs):
                    current_out[b] += s1[h, b] * w
            beta, theta = beta_output[o], theta_output[o]
            first = (t * (n_hidden + n_output) + n_hidden + o) * n_obs
            for b in range(n_obs):
                if reset_zero:
                    v = beta * v2[o, b] * (1.0 - s2[o, b]) + current_out[b]
                else:
                    v = beta * v2[o, b] + current_out[b] - theta * s2[o, b]
                if noisy:
                    v += noise_sd * normal(key, first + b)
                v2[o, b] = v
                spike = 1.0 if v > theta else 0.0
                s2[o, b] = spike
                counts[o, b] += spike
    return counts.T.copy()


def flops_per_run(n_obs: int, n_input: int, n_hidden: int, n_output: int, n_steps: int) -> int:
    """Floating-point operations of one :func:`lif_counts` call (multiply-add counts as 2)."""
    per_step = n_obs * (5 * n_hidden + 2 * n_hidden * n_output + 5 * n_output)
    return 2 * n_obs * n_input * n_hidden + n_steps * per_step
