"""The chip population: global distortion with each chip's own mismatch integrated out.

A chip of the design note is one draw from a population: the six *global* distortion
parameters of :mod:`limprob.chip.distortion` (``GLOBALS``) are what a chip's family has in
common, and its standard normal mismatch draws ``gain_z_in``, ``gain_z_out``, ``threshold_z``,
``leak_z`` are its own; the simulated chip of strength ``alpha`` is exactly the member with
``inverse_w_sat = 2 alpha``, ``log_gain = log_leak = 0`` and spreads ``0.7 alpha``,
``0.4 alpha``, ``0.1 alpha`` (:func:`limprob.chip.distortion.design_distortion`). A twin
that declares all 276 z's as random variables is exact but did not mix under random-walk MH in
a useful budget (issue 5); a twin with the global parameters alone is misspecified and its
intervals are too narrow. This module integrates the z's out instead:

    p(probes | globals) = integral of p(probes | globals, z) p(z) dz

has no closed form, so limprob uses a Bayesian synthetic likelihood (Wood 2010, Nature 466;
Price, Drovandi, Lee and Nott 2018, J. Comput. Graph. Stat. 27): summaries ``s`` of the probe
counts are taken as Gaussian across chips,

    log p(s_obs | globals) ~= log N(s_obs; mean_m s_m, cov_m s_m + floor^2 I)     (nats)

with ``s_m`` the summaries of ``M`` chips simulated at ``globals`` with draws ``z_m``. The
``z_m`` are drawn once per fit from a seed (common random numbers), so the synthetic
log-likelihood is a deterministic function of the globals and a Metropolis chain targets one
fixed density. These choices are limprob's: the summaries (:func:`probe_summaries`), ``M``
and the floor (which keeps the covariance invertible when every simulated chip is silent).

A chip may also be noisy and store its weights with a few bits (:mod:`limprob.chip.simulated`).
The simulated chips then carry the same weight converter and membrane noise of the proposed
level ``noise`` (units of the threshold), a seventh global; every probe of simulated chip ``m``
is one noisy query, whose normals are the stream ``stream_key(noise_seed, 2^62 + m P + p)``
(``P`` probes). Those streams are common random numbers too, fixed per fit, so the noise level
scales fixed normals and the synthetic likelihood stays a deterministic function of the
globals. They are numbered from 2^62, beyond any query a chip makes, so a fit seeded like the
chip never reuses the noise of the chip's own probe queries.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

import numba
import numpy as np
import pytensor.tensor as pt
from numpy.typing import ArrayLike
from pytensor.graph.basic import Apply
from pytensor.graph.op import OutputStorageType
from pytensor.link.numba.dispatch.basic import register_funcify_and_cache_key
from pytensor.tensor import TensorLike
from pytensor.tensor.variable import TensorVariable

from limprob.chip.distortion import GLOBALS, DistortionGlobals, Mismatch, draw_mismatch
from limprob.chip.kernels import member_counts
from limprob.likelihood.chip_likelihood import BlackBoxOp
from limprob.snn import Network

SUMMARY_FLOOR = 0.01
"""Standard deviation added to every summary's variance (summary units)."""
POPULATION_STREAMS = 2**62
"""First noise stream of the simulated chips (module docstring)."""
STATISTICS = ("mean_sqrt_count", "fraction_firing")


def summary_names(n_groups: int) -> list[str]:
    """Labels of the summaries (dim ``summary``): each statistic of each probe group."""
    return [f"{stat}_group{g}" for g in range(n_groups) for stat in STATISTICS]


@numba.njit(cache=True, nogil=True, fastmath=False)
def probe_summaries(counts: np.ndarray, n_groups: int) -> np.ndarray:
    """Summaries (2 n_groups,) of probe counts (probe, obs, output).

    The probes, in their order (:mod:`limprob.chip.probes` orders them by weight scale), are split
    into ``n_groups`` near-equal groups; for each group, the mean of ``sqrt(count)`` and the
    fraction of counts above zero, over probe, obs and output. Pooling keeps the summaries
    near-Gaussian across chips; the square root tames the long right tail of spike counts.
    """
    n_probes = counts.shape[0]
    out = np.empty(2 * n_groups)
    for g in range(n_groups):
        start, stop = (g * n_probes) // n_groups, ((g + 1) * n_probes) // n_groups
        total, firing, n = 0.0, 0.0, 0
        for p in range(start, stop):
            for j in range(counts.shape[1]):
                for k in range(counts.shape[2]):
                    c = counts[p, j, k]
                    total += np.sqrt(max(c, 0.0))
                    firing += 1.0 if c > 0.0 else 0.0
                    n += 1
        out[2 * g] = total / max(n, 1)
        out[2 * g + 1] = firing / max(n, 1)
    return out


@numba.njit(cache=True, nogil=True, parallel=True, fastmath=False)
def population_summaries(
    w_in: np.ndarray,
    w_out: np.ndarray,
    x: np.ndarray,
    mismatch: Mismatch,
    globals_: DistortionGlobals,
    beta: float,
    theta: float,
    n_steps: int,
    n_groups: int,
    noise: float = 0.0,
    w_max: float = 1.0,
    weight_bits: int = 0,
    noise_seed: int = 0,
    reset_zero: bool = False,
) -> np.ndarray:
    """Summaries (chip, summary) of the probes run on the chips ``m`` of the population.

    ``w_in`` (probe, input, hidden), ``w_out`` (probe, hidden, output), ``x`` (obs, input);
    ``mismatch`` the draws of every chip (:class:`~limprob.chip.distortion.Mismatch` with a
    leading chip dim: ``gain_z_in`` (chip, input, hidden), ``gain_z_out`` (chip, hidden,
    output), ``threshold_z`` and ``leak_z`` (chip, neuron)). The chips have a
    ``weight_bits``-bit converter over ``[-w_max, w_max]`` (none when 0) and membrane noise of
    ``noise`` thresholds from the streams of ``noise_seed`` (module docstring), and reset to 0
    after a spike with ``reset_zero`` (else by subtraction). Chips run in parallel; each
    writes only its own row.
    """
    z = mismatch
    n_chips, n_probes = z.gain_z_in.shape[0], w_in.shape[0]
    out = np.empty((n_chips, 2 * n_groups))
    for m in numba.prange(n_chips):
        counts = member_counts(
            w_in,
            w_out,
            x,
            Mismatch(z.gain_z_in[m], z.gain_z_out[m], z.threshold_z[m], z.leak_z[m]),
            globals_,
            beta,
            theta,
            n_steps,
            w_max,
            weight_bits,
            noise,
            noise_seed,
            POPULATION_STREAMS + m * n_probes,
            reset_zero,
        )
        out[m] = probe_summaries(counts, n_groups)
    return out


@numba.njit(cache=True, nogil=True, fastmath=False)
def gaussian_synthetic_log_likelihood(
    observed: np.ndarray, simulated: np.ndarray, floor: float
) -> float:
    """``log N(observed; mean, cov + floor^2 I)`` with the mean and (unbiased) covariance of
    the rows of ``simulated`` (chip, summary). -inf if that covariance is not positive
    definite or the summaries are not finite."""
    n, d = simulated.shape
    mean = np.zeros(d)
    for m in range(n):
        mean += simulated[m]
    mean /= n
    centred = simulated - mean
    covariance = np.ascontiguousarray(centred.T) @ centred / (n - 1) + floor * floor * np.eye(d)
    residual = observed - mean
    if not (np.all(np.isfinite(covariance)) and np.all(np.isfinite(residual))):
        return -np.inf
    lower = np.linalg.cholesky(covariance)
    solved = np.linalg.solve(lower, residual)  # lower is triangular; d is small
    log_det = 2.0 * np.sum(np.log(np.diag(lower)))
    return -0.5 * (solved @ solved + log_det + d * np.log(2.0 * np.pi))


def standard_draws(
    n_chips: int, n_inputs: int, n_hidden: int, n_outputs: int, seed: int
) -> dict[str, np.ndarray]:
    """The common random numbers: the mismatch draws of ``n_chips`` chips
    (:func:`limprob.chip.distortion.draw_mismatch` with a leading chip dim), from ``seed``."""
    return draw_mismatch(
        np.random.default_rng([seed, 17]), n_inputs, n_hidden, n_outputs, chips=(n_chips,)
    )


class SyntheticLogLikelihood(BlackBoxOp):
    """``synthetic_loglik(observed, inverse_w_sat, log_gain, log_leak, gain_spread,
    threshold_spread, leak_spread, noise, W_in, W_out, x, gain_z_in, gain_z_out, threshold_z,
    leak_z)``: the Gaussian synthetic log-likelihood (a scalar, nats) of observed probe
    summaries under the population at those globals and membrane noise (module docstring),
    for probe weights ``W_in`` (probe, input, hidden), ``W_out`` (probe, hidden, output),
    probe inputs ``x`` (obs, input) and the common random numbers of :func:`standard_draws`
    and of the noise streams of ``noise_seed``. The simulated chips' weights pass a
    ``weight_bits``-bit converter over ``[-w_max, w_max]`` (none when ``weight_bits`` is 0);
    their neurons reset to 0 after a spike with ``reset_zero``, else by subtraction.

    No gradient: a black box for gradient-free samplers.
    """

    no_gradient = (
        "the synthetic likelihood simulates spiking chips and has no gradient: sample it "
        "with a gradient-free step method such as limprob's BlockedMetropolis"
    )

    __props__ = (
        "n_steps",
        "beta",
        "theta",
        "n_groups",
        "floor",
        "weight_bits",
        "w_max",
        "noise_seed",
        "reset_zero",
    )
    _ndims = (1, 0, 0, 0, 0, 0, 0, 0, 3, 3, 2, 3, 3, 2, 2)

    def __init__(
        self,
        n_steps: int,
        beta: float,
        theta: float,
        n_groups: int,
        floor: float = SUMMARY_FLOOR,
        weight_bits: int = 0,
        w_max: float = 1.0,
        noise_seed: int = 0,
        reset_zero: bool = False,
    ) -> None:
        self.n_steps, self.beta, self.theta = int(n_steps), float(beta), float(theta)
        self.reset_zero = bool(reset_zero)
        self.n_groups, self.floor = int(n_groups), float(floor)
        self.weight_bits, self.w_max = int(weight_bits), float(w_max)
        self.noise_seed = int(noise_seed)

    def make_node(self, *args: TensorLike) -> Apply:
        """The Apply node of the synthetic log-likelihood on the given tensors (PyTensor's Op
        interface)."""
        if len(args) != len(self._ndims):
            raise TypeError(
                f"expected {len(self._ndims)} inputs: observed, the globals "
                f"{GLOBALS}, the noise, the probes and the draws"
            )
        inputs = [
            pt.as_tensor_variable(a, dtype="float64", ndim=n) for a, n in zip(args, self._ndims)
        ]
        return Apply(self, inputs, [pt.dscalar()])

    def simulate(
        self,
        globals_: Sequence[float],
        w_in: ArrayLike,
        w_out: ArrayLike,
        x: ArrayLike,
        gain_z_in: ArrayLike,
        gain_z_out: ArrayLike,
        threshold_z: ArrayLike,
        leak_z: ArrayLike,
    ) -> np.ndarray:
        """Summaries (chip, summary) of the population at ``globals_`` (the six globals, then
        the noise level, 0 if left out)."""
        w_in, w_out, x, *draws = [
            np.ascontiguousarray(a, dtype=np.float64)
            for a in (w_in, w_out, x, gain_z_in, gain_z_out, threshold_z, leak_z)
        ]
        *six, noise = [float(g) for g in globals_] + ([0.0] if len(globals_) == 6 else [])
        return population_summaries(
            w_in,
            w_out,
            x,
            Mismatch(*draws),
            DistortionGlobals(*six),
            self.beta,
            self.theta,
            self.n_steps,
            self.n_groups,
            noise,
            self.w_max,
            self.weight_bits,
            self.noise_seed,
            self.reset_zero,
        )

    def log_likelihood(
        self, observed: ArrayLike, globals_: Sequence[float], *arrays: ArrayLike
    ) -> float:
        """The Op's value (nats) at ``globals_`` (as :meth:`simulate` takes them), in Python."""
        return float(
            gaussian_synthetic_log_likelihood(
                np.ascontiguousarray(observed, dtype=np.float64),
                self.simulate(globals_, *arrays),
                self.floor,
            )
        )

    def perform(
        self, node: Apply, inputs: Sequence[Any], output_storage: OutputStorageType
    ) -> None:
        """Compute the synthetic log-likelihood (a scalar, nats) in Python."""
        output_storage[0][0] = np.asarray(self.log_likelihood(inputs[0], inputs[1:8], *inputs[8:]))

    def infer_shape(
        self, fgraph: Any, node: Apply, input_shapes: Sequence[Any]
    ) -> list[tuple[Any, ...]]:
        """The output shape: a scalar."""
        return [()]


def synthetic_log_likelihood(
    observed: TensorLike,
    globals_: Sequence[TensorLike],
    probe_w_in: TensorLike,
    probe_w_out: TensorLike,
    probe_x: TensorLike,
    draws: Mapping[str, TensorLike],
    network: Network,
    n_groups: int,
    floor: float = SUMMARY_FLOOR,
    *,
    noise: TensorLike = 0.0,
    weight_bits: int = 0,
    w_max: float = 1.0,
    noise_seed: int = 0,
) -> TensorVariable:
    """The Op applied: a scalar tensor. ``noise`` is the membrane-noise level (a tensor to
    learn it, 0 for noiseless chips); ``weight_bits`` 0 means continuous weights."""
    op = SyntheticLogLikelihood(
        network.n_steps,
        network.beta,
        network.theta,
        n_groups,
        floor,
        weight_bits,
        w_max,
        noise_seed,
        network.reset_zero,
    )
    return cast(
        TensorVariable,
        op(
            observed,
            *globals_,
            noise,
            probe_w_in,
            probe_w_out,
            probe_x,
            draws["gain_z_in"],
            draws["gain_z_out"],
            draws["threshold_z"],
            draws["leak_z"],
        ),
    )


@register_funcify_and_cache_key(SyntheticLogLikelihood)
def _numba_synthetic_log_likelihood(
    op: SyntheticLogLikelihood, node: Apply | None = None, **kwargs: Any
) -> tuple[Callable[..., np.ndarray], None]:
    """Numba implementation (not disk-cached by PyTensor, see below)."""
    beta, theta, n_steps, n_groups, floor = op.beta, op.theta, op.n_steps, op.n_groups, op.floor
    weight_bits, w_max, noise_seed, reset_zero = (
        op.weight_bits,
        op.w_max,
        op.noise_seed,
        op.reset_zero,
    )

    @numba.njit(nogil=True, fastmath=False)
    def synthetic_log_likelihood_op(observed: np.ndarray, *inputs: np.ndarray) -> np.ndarray:
        # inputs: the six globals, the noise, W_in, W_out, x and the four draws
        simulated = population_summaries(
            np.ascontiguousarray(inputs[7]),
            np.ascontiguousarray(inputs[8]),
            np.ascontiguousarray(inputs[9]),
            Mismatch(
                np.ascontiguousarray(inputs[10]),
                np.ascontiguousarray(inputs[11]),
                np.ascontiguousarray(inputs[12]),
                np.ascontiguousarray(inputs[13]),
            ),
            DistortionGlobals(
                inputs[0].item(),
                inputs[1].item(),
                inputs[2].item(),
                inputs[3].item(),
                inputs[4].item(),
                inputs[5].item(),
            ),
            beta,
            theta,
            n_steps,
            n_groups,
            inputs[6].item(),
            w_max,
            weight_bits,
            noise_seed,
            reset_zero,
        )
        return np.asarray(
            gaussian_synthetic_log_likelihood(np.ascontiguousarray(observed), simulated, floor)
        )

    # No cache key: a disk-cached copy of a function that calls a parallel (prange) kernel
    # crashed when loaded in a fresh process, so PyTensor compiles this one per process
    # (the kernels themselves stay in numba's own cache).
    return synthetic_log_likelihood_op, None
