"""The conformance kit: :func:`check_chip` checks that a chip does what limprob asks of it.

A driver author runs it against their chip (in a test, or once on the bench)::

    from limprob.chip.testing import check_chip
    check_chip(MyChip(...))          # raises ChipConformanceError naming the fault

It makes a few queries (about a dozen accepted ones, and refused ones that must not run) with
seeded random weights and, unless given, seeded random inputs, and checks in this order:

1. members: every member of :class:`~limprob.chip.protocol.Chip` is present, and the sizes,
   nominal noise and weight converter have sensible types and values;
2. ``describe()``: a dict of names to strings or numbers (what a NetCDF attribute can hold);
3. a query: counts of shape (obs, n_outputs), dtype float64, finite and non-negative, and
   ``queries`` one higher;
4. refusal: NaN or infinite values in ``w_in``, ``w_out`` or ``x``, and arrays of the wrong
   shape, raise :class:`~limprob.errors.LimprobError`; a refused query is not run, so
   ``queries`` does not change (limprob's convention: ``queries`` counts the queries the chip
   ran, the ones a checkpoint's resumed run must skip in a noisy chip's noise stream);
5. ``queries`` rises by exactly one per query over several queries;
6. determinism: with ``noise == 0`` the same query twice gives the same counts;
7. replay: after ``continue_from(k)`` the next query gives the counts query ``k`` gave (noisy
   or not), and ``queries`` counts on from ``k``;
8. a :class:`~limprob.chip.protocol.CompiledChip`'s ``numba_run`` gives the counts of ``run``
   and counts its query.
"""

from __future__ import annotations

import numbers
from typing import Any, NoReturn, TypeGuard

import numpy as np

from limprob.chip.protocol import CompiledChip, missing_members
from limprob.errors import LimprobError
from limprob.snn import Network


class ChipConformanceError(LimprobError, AssertionError):
    """A chip does not do what :class:`~limprob.chip.protocol.Chip` asks; the message names
    what. An AssertionError too, so a test framework reports it as a failed check."""


def _is_real(value: object) -> TypeGuard[float]:
    # numbers.Real, typed as float: typeshed's numbers.Real declares no comparisons
    return isinstance(value, numbers.Real)


def _is_integral(value: object) -> TypeGuard[int]:
    # numbers.Integral, typed as int: typeshed's numbers.Integral declares no comparisons
    return isinstance(value, numbers.Integral)


def _fail(chip: Any, message: str) -> NoReturn:
    raise ChipConformanceError(f"{type(chip).__name__}: {message}")


def _queries(chip: Any) -> int:
    queries = chip.queries
    if isinstance(queries, bool) or not isinstance(queries, numbers.Integral) or queries < 0:
        _fail(chip, f"queries must be a non-negative integer, got {queries!r}")
    return int(queries)


def _members(chip: Any) -> None:
    missing = missing_members(chip)
    if missing:
        _fail(chip, f"missing member {', '.join(missing)} of the Chip protocol")
    if not isinstance(chip.network, Network):
        _fail(chip, f"network must be a limprob.snn.Network, got {type(chip.network).__name__}")
    for name, value in (("n_inputs", chip.n_inputs), ("n_outputs", chip.n_outputs)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
            _fail(chip, f"{name} must be a positive integer, got {value!r}")
    noise = chip.noise
    if not _is_real(noise) or not np.isfinite(noise) or noise < 0:
        _fail(chip, f"noise must be a finite number >= 0, got {noise!r}")
    bits = chip.weight_bits
    if bits is not None and (
        isinstance(bits, bool) or not _is_integral(bits) or not 1 <= bits <= 16
    ):
        _fail(chip, f"weight_bits must be None or an integer 1 .. 16, got {bits!r}")
    w_max = chip.weight_range
    if not _is_real(w_max) or not np.isfinite(w_max) or w_max <= 0:
        _fail(chip, f"weight_range must be a finite number > 0, got {w_max!r}")
    _queries(chip)


def _description(chip: Any) -> None:
    description = chip.describe()
    if not isinstance(description, dict):
        _fail(chip, f"describe() must return a dict, got {type(description).__name__}")
    for key, value in description.items():
        if not isinstance(key, str):
            _fail(chip, f"describe() key {key!r} is not a string")
        if isinstance(value, (bool, np.bool_)) or not isinstance(value, (str, numbers.Real)):
            _fail(
                chip,
                f"describe()[{key!r}] = {value!r} is not a string or a number (a NetCDF attribute)",
            )


def _query(
    chip: Any, w_in: np.ndarray, w_out: np.ndarray, x: np.ndarray, what: str = "a query"
) -> np.ndarray:
    before = _queries(chip)
    try:
        counts = chip.run(w_in, w_out, x)
    except Exception as error:
        _fail(chip, f"{what} with valid arrays raised {type(error).__name__}: {error}")
    shape = (x.shape[0], chip.n_outputs)
    if not isinstance(counts, np.ndarray):
        _fail(chip, f"run returned {type(counts).__name__}, not a numpy array")
    if counts.shape != shape:
        _fail(
            chip,
            f"run returned counts of shape {counts.shape}, expected (obs, n_outputs) = {shape}",
        )
    if counts.dtype != np.float64:
        _fail(chip, f"run returned counts of dtype {counts.dtype}, expected float64")
    if not np.all(np.isfinite(counts)):
        _fail(chip, "run returned NaN or infinite counts")
    if np.any(counts < 0):
        _fail(chip, "run returned negative counts")
    after = _queries(chip)
    if after != before + 1:
        _fail(
            chip,
            f"queries went from {before} to {after} over one query (skips or "
            f"double-counts queries); it must rise by exactly one",
        )
    return counts


def _refused(chip: Any, w_in: np.ndarray, w_out: np.ndarray, x: np.ndarray, what: str) -> None:
    before = _queries(chip)
    try:
        chip.run(w_in, w_out, x)
    except LimprobError:
        pass
    except Exception as error:
        _fail(chip, f"{what} raised {type(error).__name__}, not limprob.errors.LimprobError")
    else:
        _fail(chip, f"{what} was accepted; it must raise limprob.errors.LimprobError")
    if _queries(chip) != before:
        _fail(chip, f"{what} was refused but counted as a query")


def _with(array: np.ndarray, value: float) -> np.ndarray:
    spoiled = array.copy()
    spoiled.flat[spoiled.size // 2] = value
    return spoiled


def check_chip(chip: Any, x: np.ndarray | None = None, *, rng_seed: int = 0) -> None:
    """Check that ``chip`` implements :class:`~limprob.chip.protocol.Chip` as limprob needs (the
    module docstring lists the checks); raise :class:`ChipConformanceError` naming the first
    fault. ``x`` (obs, input): inputs to present (default: 8 seeded uniform rows in [0, 1]);
    ``rng_seed`` seeds the weights (Normal(0, 1), the prior) and the default inputs."""
    _members(chip)
    _description(chip)
    rng = np.random.default_rng([rng_seed, 17])
    n_in, n_hidden, n_out = chip.n_inputs, chip.network.n_hidden, chip.n_outputs
    w_in = rng.standard_normal((n_in, n_hidden))
    w_out = rng.standard_normal((n_hidden, n_out))
    if x is None:
        x = rng.uniform(0.0, 1.0, (8, n_in))
    x = np.ascontiguousarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != n_in or not np.all(np.isfinite(x)):
        raise LimprobError(
            f"check_chip: inputs x must be finite, of shape (obs, {n_in}), got shape {x.shape}"
        )

    first_query = _queries(chip)
    first = _query(chip, w_in, w_out, x, "the first query")

    for name, value in (("NaN", np.nan), ("an infinite value", np.inf)):
        _refused(chip, _with(w_in, value), w_out, x, f"a query with {name} in w_in")
        _refused(chip, w_in, _with(w_out, value), x, f"a query with {name} in w_out")
        _refused(chip, w_in, w_out, _with(x, value), f"a query with {name} in x")
    _refused(
        chip,
        np.zeros((n_in + 1, n_hidden)),
        w_out,
        x,
        f"a query with w_in of shape ({n_in + 1}, {n_hidden})",
    )
    _refused(
        chip,
        w_in,
        np.zeros((n_hidden + 1, n_out)),
        x,
        f"a query with w_out of shape ({n_hidden + 1}, {n_out})",
    )
    _refused(
        chip,
        w_in,
        w_out,
        np.zeros((x.shape[0], n_in + 1)),
        f"a query with x of shape ({x.shape[0]}, {n_in + 1})",
    )
    _refused(chip, w_in, w_out, x[0], f"a query with 1-d x of shape {x[0].shape}")

    before = _queries(chip)
    for _ in range(3):
        _query(chip, w_in, w_out, x)
    if _queries(chip) != before + 3:
        _fail(chip, "queries did not rise by three over three queries")

    if chip.noise == 0:
        again = _query(chip, w_in, w_out, x, "a repeated query")
        if not np.array_equal(first, again):
            _fail(
                chip,
                "noise is 0 but the same query gave different counts; a noisy chip "
                "must declare its noise",
            )

    try:
        chip.continue_from(first_query)
    except Exception as error:
        _fail(chip, f"continue_from({first_query}) raised {type(error).__name__}: {error}")
    if _queries(chip) != first_query:
        _fail(chip, f"continue_from({first_query}) left queries at {_queries(chip)}")
    replayed = _query(chip, w_in, w_out, x, "the query after continue_from")
    if not np.array_equal(first, replayed):
        _fail(
            chip,
            f"continue_from({first_query}) did not replay query {first_query}: the "
            "counts differ (the query count must index the chip's noise)",
        )

    if isinstance(chip, CompiledChip):
        chip.continue_from(first_query)
        before = _queries(chip)
        compiled = chip.numba_run(np.ascontiguousarray(w_in), np.ascontiguousarray(w_out), x)
        if _queries(chip) != before + 1:
            _fail(chip, "numba_run did not count its query")
        if not np.array_equal(first, compiled):
            _fail(chip, "numba_run gave other counts than run for the same query")
