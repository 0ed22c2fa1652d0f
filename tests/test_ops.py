"""The black-box likelihood Op: values, numba compilation, query counting, no gradient."""

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy.special import log_softmax

from limprob.chip import SimulatedChip
from limprob.likelihood.chip_likelihood import BlackBoxGradientError, chip_log_likelihood


@pytest.fixture
def graph(data):
    chip = SimulatedChip(strength=1.0, seed=2)
    w_in, w_out, kappa = pt.dmatrix("w_in"), pt.dmatrix("w_out"), pt.dscalar("kappa")
    x, y = data.train["features"].values, data.train["labels"].values
    loglik = chip_log_likelihood(chip, w_in, w_out, kappa, x, y)
    return chip, (w_in, w_out, kappa), loglik, x, y


def test_log_likelihood_equals_a_direct_computation(graph):
    chip, inputs, loglik, x, y = graph
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an object-mode fallback warns; make it fail
        function = pytensor.function(list(inputs), loglik)
        rng = np.random.default_rng(0)
        for kappa in (1.0, 8.0):
            w_in, w_out = rng.normal(0, 1, (30, 16)), rng.normal(0, 1, (16, 2))
            got = function(w_in, w_out, kappa)
            counts = chip.run(w_in, w_out, x)
            expected = log_softmax(kappa * counts / 32, axis=1)[np.arange(y.size), y]
            assert counts.sum() > 0
            np.testing.assert_allclose(got, expected, rtol=1e-12, atol=1e-12)


def test_compiles_with_numba_and_counts_one_query_per_evaluation(graph):
    chip, inputs, loglik, x, y = graph
    function = pytensor.function(list(inputs), [loglik.sum(), loglik])
    assert type(function.maker.linker).__name__ == "NumbaLinker"
    rng = np.random.default_rng(1)
    before = chip.queries
    for _ in range(5):
        function(rng.normal(size=(30, 16)), rng.normal(size=(16, 2)), 8.0)
    # the sum and the pointwise output share one Op application: one query each call
    assert chip.queries - before == 5


def test_asking_for_a_gradient_says_black_box(graph):
    chip, inputs, loglik, x, y = graph
    with pytest.raises(BlackBoxGradientError, match="black box"):
        pytensor.grad(loglik.sum(), inputs[0])
