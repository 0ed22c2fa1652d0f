"""Checks of user input, written once: each returns the checked value or raises
:class:`~limprob.errors.LimprobError` with one line that names the input.

``name`` is how the user knows the value (``"hidden size"``, ``"draws"``); the checks accept
numpy scalars and integral floats (``2.0``) but never booleans, so ``True`` is not a size.
Validate at the boundary (configuration classes, data loaders, the CLI), not in kernels.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Any, TypeGuard

from limprob.errors import LimprobError


def _is_real(value: object) -> TypeGuard[float]:
    # numbers.Real (int, float, numpy scalars, Fraction) but not bool; typed as float, whose
    # comparisons and conversions it shares (typeshed's numbers.Real declares none of them)
    return not isinstance(value, bool) and isinstance(value, Real)


def _is_integer(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, Integral):
        return True
    return _is_real(value) and math.isfinite(value) and int(value) == value


def positive_integer(name: str, value: Any) -> int:
    """``value`` as an int if it is an integer >= 1."""
    if not (_is_integer(value) and value >= 1):
        raise LimprobError(f"{name} must be a positive integer, got {value}")
    return int(value)


def non_negative_integer(name: str, value: Any) -> int:
    """``value`` as an int if it is an integer >= 0 (a seed, a number of tuning steps)."""
    if not (_is_integer(value) and value >= 0):
        raise LimprobError(f"{name} must be a non-negative integer, got {value}")
    return int(value)


def positive_number(name: str, value: Any) -> float:
    """``value`` as a float if it is finite and > 0."""
    if not _is_real(value) or not (math.isfinite(value) and value > 0):
        raise LimprobError(f"{name} must be a positive number, got {value}")
    return float(value)


def non_negative_number(name: str, value: Any) -> float:
    """``value`` as a float if it is finite and >= 0."""
    if not _is_real(value) or not (math.isfinite(value) and value >= 0):
        raise LimprobError(f"{name} must be a finite number >= 0, got {value}")
    return float(value)


def fraction(name: str, value: Any) -> float:
    """``value`` as a float if it lies in (0, 1]."""
    if not _is_real(value) or not (0.0 < value <= 1.0):
        raise LimprobError(f"{name} must be in (0, 1], got {value}")
    return float(value)


MAX_SEED = 2**32 - 1
"""Largest seed: numpy's and scikit-learn's seeds are 32-bit."""
MAX_STRENGTH = 10.0
"""Largest distortion strength: at 10 the gains already spread over e^(+-7 z)."""


def seed(name: str, value: Any) -> int:
    """``value`` as an int if it is an integer in 0 .. 2^32 - 1."""
    value = non_negative_integer(name, value)
    if value > MAX_SEED:
        raise LimprobError(f"{name} must be at most 2^32 - 1 = {MAX_SEED}, got {value}")
    return value


def strength(name: str, value: Any) -> float:
    """``value`` as a float if it is a distortion strength in [0, 10]."""
    value = non_negative_number(name, value)
    if value > MAX_STRENGTH:
        raise LimprobError(f"{name} must be at most {MAX_STRENGTH:g}, got {value:g}")
    return value


MAX_NOISE = 10.0
"""Largest membrane-noise level (units of the threshold): beyond it every neuron fires at
random."""
MAX_WEIGHT_BITS = 16
"""Widest weight converter a simulated chip offers."""


def noise(name: str, value: Any) -> float:
    """``value`` as a float if it is a membrane-noise level in [0, 10] (units of the
    threshold)."""
    value = non_negative_number(name, value)
    if value > MAX_NOISE:
        raise LimprobError(f"{name} must be at most {MAX_NOISE:g}, got {value:g}")
    return value


def weight_bits(name: str, value: Any) -> int | None:
    """``None`` (continuous weights) or ``value`` as an int in 1 .. 16."""
    if value is None:
        return None
    bits = positive_integer(name, value)
    if bits > MAX_WEIGHT_BITS:
        raise LimprobError(f"{name} must be in 1..{MAX_WEIGHT_BITS}, got {value}")
    return bits


MAX_HIDDEN = 65_536
"""Most hidden neurons of a network: a dense 64 k x 64 k weight matrix is 32 GB already."""
MAX_TIME_STEPS = 100_000
"""Most time steps T of a network run (1,000 times the default)."""
MAX_REPEATS = 100_000
"""Most chip queries averaged into one likelihood estimate (``--repeats``)."""


def count(name: str, value: Any, maximum: int) -> int:
    """``value`` as an int if it is an integer in 1 .. ``maximum``."""
    value = positive_integer(name, value)
    if value > maximum:
        raise LimprobError(f"{name} must be at most {maximum:,}, got {value:,}")
    return value


def hidden(name: str, value: Any) -> int:
    """A number of hidden neurons, 1 .. :data:`MAX_HIDDEN`."""
    return count(name, value, MAX_HIDDEN)


def time_steps(name: str, value: Any) -> int:
    """A number of time steps, 1 .. :data:`MAX_TIME_STEPS`."""
    return count(name, value, MAX_TIME_STEPS)


def repeats(name: str, value: Any) -> int:
    """Chip queries per likelihood estimate, 1 .. :data:`MAX_REPEATS`."""
    return count(name, value, MAX_REPEATS)


def workers(name: str, value: Any) -> int:
    """Worker processes on this machine: 1 .. 4 x its cores."""
    import os

    return count(name, value, 4 * (os.cpu_count() or 1))


def available_bytes() -> int:
    """Memory the system can give a new process now (psutil's ``available``)."""
    import psutil

    return int(psutil.virtual_memory().available)


def check_memory(needed: int, what: str, limit: float | None = None) -> int:
    """Raise :class:`LimprobError` if ``needed`` bytes exceed ``limit`` (default: the memory
    available now); return ``needed``."""
    if limit is None:
        limit, source = available_bytes(), "available"
    else:
        limit, source = positive_number("max memory", limit), "allowed by --max-memory"
    if needed > limit:
        raise LimprobError(
            f"{what} needs an estimated {_size(needed)} of memory, more than the "
            f"{_size(limit)} {source}; ask for less, or set the limit with --max-memory BYTES"
        )
    return needed


def _size(n: float) -> str:
    for unit, scale in (("TB", 1e12), ("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.3g} {unit}"
    return f"{n:.0f} bytes"
