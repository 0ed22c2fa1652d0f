"""Counter-based random numbers for numba kernels: the ``j``-th standard normal of a stream is
a pure function of the stream's key and ``j``, so a kernel draws noise in any loop order, with
no state, and the same key gives the same numbers bit for bit.

    key_j = key + (j + 1) * gamma               (SplitMix64's Weyl sequence, mod 2^64)
    u_j   = (mix64(key_j) >> 11 + 1/2) / 2^53    uniform on (0, 1), never 0 or 1
    z_j   = Phi^-1(u_j)                          Wichura's AS 241 (PPND16), relative error ~1e-16

``mix64`` is SplitMix64's output function (Steele, Lea and Flood 2014), which passes BigCrush
when used this way; ``Phi^-1`` is the standard normal quantile, so ``z_j ~ Normal(0, 1)``
independently for all ``j``. The inverse CDF costs a rational function (a log and a square
root only in the 15 % of tails), several times cheaper per number than numba's
``np.random.standard_normal``.
"""

from __future__ import annotations

import numba
import numpy as np

GAMMA = np.uint64(0x9E3779B97F4A7C15)
"""SplitMix64's increment: the odd integer nearest 2^64 / golden ratio."""


@numba.njit(cache=True, nogil=True, fastmath=False)
def mix64(z: int | np.uint64) -> np.uint64:
    """SplitMix64's bijective mixing of a uint64 (Stafford's variant 13)."""
    # numba types a shift of a uint64 as int64: every step is cast back to uint64
    z = np.uint64(z)
    z = np.uint64(np.uint64(z ^ np.uint64(z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9))
    z = np.uint64(np.uint64(z ^ np.uint64(z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB))
    return np.uint64(z ^ np.uint64(z >> np.uint64(31)))


@numba.njit(cache=True, nogil=True, fastmath=False)
def stream_key(seed: int | np.uint64, index: int | np.uint64) -> np.uint64:
    """The key (uint64) of stream ``index`` of ``seed`` (both non-negative integers below
    2^63): two rounds of mixing, so nearby seeds and indices give unrelated streams. Called
    from Python it returns a Python int; pass it on as ``np.uint64``."""
    mixed = mix64(np.uint64(np.uint64(seed) + GAMMA))
    return mix64(np.uint64(mixed ^ np.uint64(np.uint64(index) * GAMMA)))


@numba.njit(cache=True, nogil=True, fastmath=False)
def uniform(key: int | np.uint64, j: int) -> float:
    """The ``j``-th uniform on (0, 1) of stream ``key``."""
    counter = np.uint64(np.uint64(key) + np.uint64(np.uint64(np.uint64(j) + np.uint64(1)) * GAMMA))
    bits = np.uint64(mix64(counter) >> np.uint64(11))
    return (np.float64(bits) + 0.5) * (1.0 / 9007199254740992.0)


@numba.njit(cache=True, nogil=True, fastmath=False)
def normal_quantile(p: float) -> float:
    """``Phi^-1(p)`` for ``0 < p < 1``: algorithm AS 241 (PPND16) of Wichura (1988)."""
    q = p - 0.5
    if abs(q) <= 0.425:
        r = 0.180625 - q * q
        return (
            q
            * (
                (
                    (
                        (
                            (
                                (
                                    (r * 2509.0809287301226727 + 33430.575583588128105) * r
                                    + 67265.770927008700853
                                )
                                * r
                                + 45921.953931549871457
                            )
                            * r
                            + 13731.693765509461125
                        )
                        * r
                        + 1971.5909503065514427
                    )
                    * r
                    + 133.14166789178437745
                )
                * r
                + 3.387132872796366608
            )
            / (
                (
                    (
                        (
                            (
                                (
                                    (r * 5226.495278852545925 + 28729.085735721942674) * r
                                    + 39307.89580009271061
                                )
                                * r
                                + 21213.794301586595867
                            )
                            * r
                            + 5394.1960214247511077
                        )
                        * r
                        + 687.1870074920579083
                    )
                    * r
                    + 42.313330701600911252
                )
                * r
                + 1.0
            )
        )
    r = p if q < 0.0 else 1.0 - p
    r = np.sqrt(-np.log(r))
    if r <= 5.0:
        r -= 1.6
        value = (
            (
                (
                    (
                        (
                            (
                                (r * 7.7454501427834140764e-4 + 0.0227238449892691845833) * r
                                + 0.24178072517745061177
                            )
                            * r
                            + 1.27045825245236838258
                        )
                        * r
                        + 3.64784832476320460504
                    )
                    * r
                    + 5.7694972214606914055
                )
                * r
                + 4.6303378461565452959
            )
            * r
            + 1.42343711074968357734
        ) / (
            (
                (
                    (
                        (
                            (
                                (r * 1.05075007164441684324e-9 + 5.475938084995344946e-4) * r
                                + 0.0151986665636164571966
                            )
                            * r
                            + 0.14810397642748007459
                        )
                        * r
                        + 0.68976733498510000455
                    )
                    * r
                    + 1.6763848301838038494
                )
                * r
                + 2.05319162663775882187
            )
            * r
            + 1.0
        )
    else:
        r -= 5.0
        value = (
            (
                (
                    (
                        (
                            (
                                (r * 2.01033439929228813265e-7 + 2.71155556874348757815e-5) * r
                                + 0.0012426609473880784386
                            )
                            * r
                            + 0.026532189526576123093
                        )
                        * r
                        + 0.29656057182850489123
                    )
                    * r
                    + 1.7848265399172913358
                )
                * r
                + 5.4637849111641143699
            )
            * r
            + 6.6579046435011037772
        ) / (
            (
                (
                    (
                        (
                            (
                                (r * 2.04426310338993978564e-15 + 1.4215117583164458887e-7) * r
                                + 1.8463183175100546818e-5
                            )
                            * r
                            + 7.868691311456132591e-4
                        )
                        * r
                        + 0.0148753612908506148525
                    )
                    * r
                    + 0.13692988092273580531
                )
                * r
                + 0.59983220655588793769
            )
            * r
            + 1.0
        )
    return -value if q < 0.0 else value


@numba.njit(cache=True, nogil=True, fastmath=False)
def normal(key: int | np.uint64, j: int) -> float:
    """The ``j``-th standard normal of stream ``key``."""
    return normal_quantile(uniform(key, j))
