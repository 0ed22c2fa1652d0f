"""Compiled functions called without PyTensor's input checks give the checked results."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from limprob.inference.backprop import compiled_network
from limprob.inference.trusted import without_input_checks


@pytest.fixture(scope="module")
def scaled_sum():
    """``f(x, scale, n) = sum(x) * scale + n`` (float64 matrix, float64 and int64 scalars)."""
    x, scale, n = pt.dmatrix("x"), pt.dscalar("scale"), pt.lscalar("n")
    return pytensor.function([x, scale, n], x.sum() * scale + n)


def test_a_trusted_call_gives_the_checked_result_and_takes_python_numbers(scaled_sum):
    x = np.arange(6.0).reshape(2, 3)
    checked = float(scaled_sum(x, 0.5, 2))
    trusted = without_input_checks(scaled_sum)
    assert float(trusted(x, 0.5, 2)) == checked == 9.5
    assert float(trusted(x, 2, np.int64(1))) == 31.0  # an int where a float goes is widened
    assert float(trusted(x.astype(np.float32), 1.0, 0)) == 15.0  # as PyTensor casts it


def test_a_trusted_call_refuses_what_the_checked_call_refuses(scaled_sum):
    trusted = without_input_checks(scaled_sum)
    x = np.ones((2, 2))
    with pytest.raises(TypeError, match="float64 where the function takes int64"):
        trusted(x, 1.0, 2.5)
    with pytest.raises(TypeError, match="expected 3 arguments, got 2"):
        trusted(x, 1.0)
    with pytest.raises(TypeError, match="1 dimensions where the function takes 2"):
        trusted(np.ones(3), 1.0, 2)
    scaled_sum.trust_input = False  # the checked call refuses it too
    with pytest.raises(TypeError):
        scaled_sum(np.ones(3), 1.0, 2)


def test_backprop_step_is_the_same_with_and_without_checks():
    """The ideal model's loss and gradient of one mini-batch, trusted and checked, bit for bit."""
    trusted = compiled_network().loss_and_gradient
    function = trusted.function
    rng = np.random.default_rng(3)
    x, y = rng.random((8, 4)), rng.integers(0, 3, 8)
    w_in, w_out = rng.normal(size=(4, 6)), rng.normal(size=(6, 3))
    args = (x, y, w_in, w_out, 0.9, 1.0, 5.0, 8.0, 16, np.zeros((8, 3)), 0.0)
    fast = trusted(*args)
    function.trust_input = False
    try:
        slow = function(*args)
    finally:
        function.trust_input = True
    assert len(fast) == len(slow) == 4
    for a, b in zip(fast, slow, strict=True):
        assert np.array_equal(a, b)
    assert np.any(fast[2] != 0)  # the gradient is not trivially zero
