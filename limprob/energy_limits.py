"""Energy bounds for training with learning-in-memory (LIM), and the calculator around them.

The model is limprob's reconstruction (docs/energy-model.md) from the v1 abstract of Chen,
Leugering, Cauwenberghs and Chakrabartty, "Energy-efficiency Limits on Training AI Systems using
Learning-in-Memory" (arXiv:2402.14878, 2024; retitled "Estimation of Energy-dissipation
Lower-bounds for Neuromorphic Learning-in-memory" in v3 and v4), which gives conclusions only.
Every bound is plain arithmetic plus one logarithm, so the same function takes Python floats,
numpy arrays or PyTensor tensors: with a PyTensor argument it builds a graph (a term of a PyMC
model), otherwise it returns numbers. Inputs are never checked on that
path; :func:`validate_positive` is the boundary check for numbers coming from a user.

Units: energies in joules, temperatures in kelvin, times in seconds, ``ops`` and ``flops`` are
counts, ``bits`` is bits per parameter, ratios and tolerances are dimensionless.
"""

import math
import sys
from collections.abc import Callable
from typing import Any

import numpy as np

from limprob.errors import LimprobError

type Quantity = Any
"""A number, a numpy array or a PyTensor tensor: every formula here works elementwise on any of
them (a tensor gives a tensor, for the energy models' deterministic nodes)."""

K_B_J_PER_K = 1.380649e-23
"""Boltzmann constant, exact in the 2019 SI (J/K)."""
ELEMENTARY_CHARGE_C = 1.602176634e-19
"""Elementary charge, exact in the 2019 SI (C); converts electronvolts to joules."""
LN2 = math.log(2.0)
SECONDS_PER_YEAR = 365.25 * 86400.0
"""Julian year (s)."""

DEFAULT_TEMPERATURE_K = 300.0
DEFAULT_BITS = 32
LOW_BITS = 16
DEFAULT_ATTEMPT_TIME_S = 1e-9
DEFAULT_RETENTION_S = 10.0 * SECONDS_PER_YEAR
DEFAULT_FLIP_TOLERANCE = 1e-9
DEFAULT_TIME_RATIO = 1.0
"""tau_r / tau_u: relaxation time of the memory state over the time given to one update."""
FAST_TIME_RATIO = 10.0
DEFAULT_PROTOCOL_CONSTANT = 1.0
H100_POWER_W = 700.0
H100_DENSE_BF16_FLOP_PER_S = 989.4e12
DEFAULT_ACCELERATOR_J_PER_FLOP = H100_POWER_W / H100_DENSE_BF16_FLOP_PER_S
"""An H100 SXM at its 700 W board power and 989.4 dense BF16 TFLOP/s: 7.07e-13 J per FLOP."""
FLOPS_PER_PARAMETER_TOKEN = 6.0
"""Training FLOPs per parameter per token: 2 forward + 4 backward (C = 6 N D)."""
DEFAULT_OPS_PER_FLOP = 1.0
"""r = OPS / C, model-update operations per training FLOP. 1 is limprob's original assumption
(every multiply-accumulate updates state held in memory); later versions of the energy paper
state their estimates in OPS rather than FLOPs, so a user can set another ratio."""

BRAIN_SCALE_PARAMS = 1e15
BRAIN_SCALE_TOKENS = 3e11
"""GPT-3's training-set size in tokens, used as the data size of the brain-scale scenario."""

BOUND_NAMES = ("landauer_joules", "lim_joules", "static_joules", "accelerator_joules")


def _is_symbolic(value: Quantity) -> bool:
    """True for a PyTensor variable (pytensor cannot be in use unless it was imported)."""
    if "pytensor" not in sys.modules:
        return False
    from pytensor.graph.basic import Variable

    return isinstance(value, Variable)


def _log(*args: Quantity) -> Callable[[Quantity], Quantity]:
    """``pytensor.tensor.log`` if any argument is a PyTensor variable, else ``numpy.log``."""
    if any(_is_symbolic(a) for a in args):
        import pytensor.tensor as pt

        return pt.log
    return np.log


def validate_positive(name: str, value: Quantity) -> Quantity:
    """Return ``value`` as a float (or float array) if every element is finite and > 0.

    Raises :class:`LimprobError` naming ``name`` for zero, negative, NaN, infinite or
    non-numeric input. Use it at the boundary (calculator, CLI), not on PyTensor graphs.
    """
    if isinstance(value, bool) or _is_symbolic(value):
        raise LimprobError(f"{name} must be a positive number, got {value!r}")
    try:
        array = np.asarray(value, dtype=float)
    except (TypeError, ValueError):
        raise LimprobError(f"{name} must be a positive number, got {value!r}") from None
    if array.size == 0:
        raise LimprobError(f"{name} must not be empty")
    if not np.all(np.isfinite(array)):
        raise LimprobError(f"{name} must be finite, got {_shown(array)}")
    if not np.all(array > 0):
        raise LimprobError(f"{name} must be greater than zero, got {_shown(array)}")
    return float(array) if array.ndim == 0 else array


def _shown(array: np.ndarray) -> str:
    """The offending value of a checked input, as a user typed it."""
    flat = array.ravel()
    bad = flat[~(np.isfinite(flat) & (flat > 0))]
    return f"{(bad if bad.size else flat)[0]:g}"


def thermal_energy_joules(temperature_k: Quantity) -> Quantity:
    """kT (J) at temperature T (K)."""
    return K_B_J_PER_K * temperature_k


def training_flops(n_params: Quantity, tokens: Quantity) -> Quantity:
    """Training compute C = 6 N D (FLOPs) for N parameters and D tokens (or samples)."""
    return FLOPS_PER_PARAMETER_TOKEN * n_params * tokens


def update_operations(flops: Quantity, ops_per_flop: Quantity = DEFAULT_OPS_PER_FLOP) -> Quantity:
    """Model-update operations OPS = r C (a count) for C training FLOPs and r = ``ops_per_flop``
    updates per FLOP; with the default r = 1 every multiply-accumulate updates state in memory."""
    return ops_per_flop * flops


def retention_barrier_kt(
    retention_s: Quantity, attempt_time_s: Quantity, flip_tolerance: Quantity
) -> Quantity:
    """Barrier height in units of kT that holds a state for tau_ret with flip probability eps.

    Arrhenius-Kramers escape rate r = exp(-E_B / kT) / tau_0; P(flip in tau_ret) ~= r tau_ret <= eps
    gives E_B / kT = ln(tau_ret / (tau_0 eps)). About 61 for 10 years, tau_0 = 1 ns, eps = 1e-9.
    """
    log = _log(retention_s, attempt_time_s, flip_tolerance)
    return log(retention_s / (attempt_time_s * flip_tolerance))


def retention_barrier_joules(
    temperature_k: Quantity,
    retention_s: Quantity,
    attempt_time_s: Quantity,
    flip_tolerance: Quantity,
) -> Quantity:
    """Barrier height E_B = kT ln(tau_ret / (tau_0 eps)) (J)."""
    return thermal_energy_joules(temperature_k) * retention_barrier_kt(
        retention_s, attempt_time_s, flip_tolerance
    )


def retention_time_s(
    barrier_joules: Quantity, temperature_k: Quantity, attempt_time_s: Quantity
) -> Quantity:
    """Mean retention time tau_ret = tau_0 exp(E_B / kT) (s) of a state behind barrier E_B (J)."""
    exp = np.exp
    if any(_is_symbolic(a) for a in (barrier_joules, temperature_k, attempt_time_s)):
        import pytensor.tensor as pt

        exp = pt.exp
    return attempt_time_s * exp(barrier_joules / thermal_energy_joules(temperature_k))


def landauer_joules(ops: Quantity, bits: Quantity, temperature_k: Quantity) -> Quantity:
    """Landauer adiabatic bound E_landauer = OPS b kT ln 2 (J): every update erases b bits."""
    return ops * bits * thermal_energy_joules(temperature_k) * LN2


def finite_time_penalty_joules(
    ops: Quantity, temperature_k: Quantity, time_ratio: Quantity, protocol_constant: Quantity = 1.0
) -> Quantity:
    """Excess over quasi-static of finishing each update in tau_u: OPS c_p kT tau_r / tau_u (J)."""
    return ops * protocol_constant * thermal_energy_joules(temperature_k) * time_ratio


def lim_update_joules(
    ops: Quantity,
    bits: Quantity,
    temperature_k: Quantity,
    time_ratio: Quantity,
    protocol_constant: Quantity = 1.0,
) -> Quantity:
    """LIM update wall OPS kT (b ln 2 + c_p tau_r / tau_u) (J): Landauer cost plus speed penalty."""
    return landauer_joules(ops, bits, temperature_k) + finite_time_penalty_joules(
        ops, temperature_k, time_ratio, protocol_constant
    )


def lim_consolidation_joules(
    n_params: Quantity,
    temperature_k: Quantity,
    retention_s: Quantity,
    attempt_time_s: Quantity,
    flip_tolerance: Quantity,
) -> Quantity:
    """LIM consolidation wall N kT ln(tau_ret / (tau_0 eps)) (J): each parameter made durable
    once."""
    return n_params * retention_barrier_joules(
        temperature_k, retention_s, attempt_time_s, flip_tolerance
    )


def lim_joules(
    ops: Quantity,
    n_params: Quantity,
    bits: Quantity,
    temperature_k: Quantity,
    time_ratio: Quantity,
    retention_s: Quantity,
    attempt_time_s: Quantity,
    flip_tolerance: Quantity,
    protocol_constant: Quantity = 1.0,
) -> Quantity:
    """LIM bound E_lim = OPS kT (b ln 2 + c_p tau_r/tau_u) + N kT ln(tau_ret / (tau_0 eps)) (J)."""
    update = lim_update_joules(ops, bits, temperature_k, time_ratio, protocol_constant)
    consolidation = lim_consolidation_joules(
        n_params, temperature_k, retention_s, attempt_time_s, flip_tolerance
    )
    return update + consolidation


def static_joules(
    ops: Quantity,
    bits: Quantity,
    temperature_k: Quantity,
    time_ratio: Quantity,
    retention_s: Quantity,
    attempt_time_s: Quantity,
    flip_tolerance: Quantity,
    protocol_constant: Quantity = 1.0,
) -> Quantity:
    """Static-barrier memory (J),
    E_static = OPS b kT ln(tau_ret / (tau_0 eps)) + OPS c_p kT tau_r/tau_u.

    Every bit of every update is written into a barrier sized for long retention.
    """
    writes = (
        ops
        * bits
        * retention_barrier_joules(temperature_k, retention_s, attempt_time_s, flip_tolerance)
    )
    return writes + finite_time_penalty_joules(ops, temperature_k, time_ratio, protocol_constant)


def accelerator_joules(flops: Quantity, joules_per_flop: Quantity) -> Quantity:
    """Accelerator projection E_acc = C e_flop (J), memory traffic included in e_flop."""
    return flops * joules_per_flop


def brain_scale_scenario() -> dict[str, float]:
    """The headline scenario: N = 1e15 parameters, D = 3e11 tokens, C = 6 N D, b = 32."""
    return {
        "n_params": BRAIN_SCALE_PARAMS,
        "tokens": BRAIN_SCALE_TOKENS,
        "flops": training_flops(BRAIN_SCALE_PARAMS, BRAIN_SCALE_TOKENS),
        "bits": DEFAULT_BITS,
    }


def bounds(
    n_params: Quantity,
    tokens: Quantity | None = None,
    *,
    flops: Quantity | None = None,
    bits: Quantity = DEFAULT_BITS,
    temperature_k: Quantity = DEFAULT_TEMPERATURE_K,
    time_ratio: Quantity = DEFAULT_TIME_RATIO,
    retention_s: Quantity = DEFAULT_RETENTION_S,
    attempt_time_s: Quantity = DEFAULT_ATTEMPT_TIME_S,
    flip_tolerance: Quantity = DEFAULT_FLIP_TOLERANCE,
    joules_per_flop: Quantity = DEFAULT_ACCELERATOR_J_PER_FLOP,
    protocol_constant: Quantity = DEFAULT_PROTOCOL_CONSTANT,
    ops_per_flop: Quantity = DEFAULT_OPS_PER_FLOP,
) -> dict[str, Quantity]:
    """Every bound at fixed device parameters (the calculator), inputs validated.

    Give ``tokens`` (C = 6 N D) or ``flops`` (a published training compute); the update
    operations are OPS = ``ops_per_flop`` x C. Returns a dict with the keys of
    :data:`BOUND_NAMES` (J), plus ``flops``, ``ops``, ``ops_per_flop`` and
    ``retention_barrier_kt``.
    """
    n_params = validate_positive("params", n_params)
    if flops is None:
        if tokens is None:
            raise LimprobError("give tokens or flops")
        flops = training_flops(n_params, validate_positive("tokens", tokens))
    flops = validate_positive("flops", flops)
    device = {
        name: validate_positive(name, value)
        for name, value in {
            "bits": bits,
            "temperature_k": temperature_k,
            "time_ratio": time_ratio,
            "retention_s": retention_s,
            "attempt_time_s": attempt_time_s,
            "flip_tolerance": flip_tolerance,
            "joules_per_flop": joules_per_flop,
            "protocol_constant": protocol_constant,
            "ops_per_flop": ops_per_flop,
        }.items()
    }
    if np.any(device["flip_tolerance"] >= 1):
        raise LimprobError(f"flip_tolerance must be below 1, got {flip_tolerance!r}")
    ops = update_operations(flops, device["ops_per_flop"])
    memory = (device["retention_s"], device["attempt_time_s"], device["flip_tolerance"])
    if np.any(retention_barrier_kt(*memory) <= 0):
        raise LimprobError("retention_s must exceed attempt_time_s * flip_tolerance")
    T, b, ratio, cp = (
        device[k] for k in ("temperature_k", "bits", "time_ratio", "protocol_constant")
    )
    return {
        "landauer_joules": landauer_joules(ops, b, T),
        "lim_joules": lim_joules(ops, n_params, b, T, ratio, *memory, cp),
        "static_joules": static_joules(ops, b, T, ratio, *memory, cp),
        "accelerator_joules": accelerator_joules(flops, device["joules_per_flop"]),
        "flops": flops,
        "ops": ops,
        "ops_per_flop": device["ops_per_flop"],
        "retention_barrier_kt": retention_barrier_kt(*memory),
    }
