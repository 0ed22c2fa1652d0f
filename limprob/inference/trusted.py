"""Compiled PyTensor functions called without PyTensor's per-call input checks.

A mini-batch step of backprop or of the surrogate twin's fit is one call of a compiled
function with a dozen inputs, most of them Python numbers; PyTensor's checks of each input
(type, dtype and shape, numbers boxed into arrays) are a few per cent of such a call
(``benchmarks/trusted_calls.py`` times a step both ways, ``docs/performance.md``). Here each
argument is made an array of its input's dtype by NumPy, its number of dimensions checked,
and the function trusts it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pytensor.compile import Function


def without_input_checks(function: Function) -> Callable[..., Any]:
    """``function`` with ``trust_input`` set, behind a call that makes every positional
    argument an array of its input's dtype and checks its number of dimensions (Python
    numbers become 0-d arrays; an array of another dtype is cast when NumPy's ``same_kind``
    rule allows it, as PyTensor would; a lossy cast or a wrong number of dimensions is a
    :class:`TypeError`, as in the checked call). The results are those of the checked call,
    bit for bit."""
    types = [
        (np.dtype(spec.variable.type.dtype), spec.variable.type.ndim)
        for spec in function.maker.inputs
    ]
    function.trust_input = True

    def call(*args: Any) -> Any:
        if len(args) != len(types):
            raise TypeError(f"expected {len(types)} arguments, got {len(args)}")
        return function(*(_as_input(value, *kind) for value, kind in zip(args, types)))

    call.function = function  # type: ignore[attr-defined]
    return call


def _as_input(value: Any, dtype: np.dtype, ndim: int) -> np.ndarray:
    if type(value) is np.ndarray and value.dtype == dtype:
        array = value
    elif type(value) is int or (type(value) is float and dtype.kind == "f"):
        array = np.array(value, dtype)  # a Python number: the common case, made cheap
    else:
        array = np.asarray(value)
        if not np.can_cast(array.dtype, dtype, "same_kind"):
            raise TypeError(f"cannot pass {array.dtype} where the function takes {dtype}")
        array = np.asarray(array, dtype=dtype)
    if array.ndim != ndim:
        raise TypeError(
            f"cannot pass an array of {array.ndim} dimensions where the function takes {ndim}"
        )
    return array
