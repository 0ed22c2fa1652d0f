"""Compiled PyTensor functions called without PyTensor's per-call input checks.

A mini-batch step of backprop or of the surrogate twin's fit is one call of a compiled
function with a dozen inputs, most of them Python numbers; PyTensor's checks of each input
(type, dtype and shape, numbers boxed into arrays) are a measurable share of such a call
(``benchmarks/trusted_calls.py`` times a step both ways, ``docs/performance.md``). Here each
argument is made an array of its input's dtype by NumPy and the function trusts it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from pytensor.compile import Function


def without_input_checks(function: Function) -> Callable[..., Any]:
    """``function`` with ``trust_input`` set, behind a call that makes every positional
    argument an array of its input's dtype (Python numbers become 0-d arrays; an array of
    another dtype is cast when NumPy's ``same_kind`` rule allows it, as PyTensor would, else
    :class:`TypeError`). The results are those of the checked call, bit for bit."""
    dtypes = [np.dtype(spec.variable.type.dtype) for spec in function.maker.inputs]
    function.trust_input = True

    def call(*args: Any) -> Any:
        if len(args) != len(dtypes):
            raise TypeError(f"expected {len(dtypes)} arguments, got {len(args)}")
        return function(*(_as_input(value, dtype) for value, dtype in zip(args, dtypes)))

    call.function = function  # type: ignore[attr-defined]
    return call


def _as_input(value: Any, dtype: np.dtype) -> np.ndarray:
    if type(value) is np.ndarray and value.dtype == dtype:
        return value
    if type(value) is int or (type(value) is float and dtype.kind == "f"):
        return np.array(value, dtype)  # a Python number: the common case, made cheap
    array = np.asarray(value)
    if not np.can_cast(array.dtype, dtype, "same_kind"):
        raise TypeError(f"cannot pass {array.dtype} where the function takes {dtype}")
    return np.asarray(array, dtype=dtype)
