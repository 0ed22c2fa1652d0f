"""The black-box likelihood Op: values, numba compilation, query counting, no gradient."""

import warnings

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
from scipy.special import log_softmax

from limprob.chip import SimulatedChip
from limprob.likelihood.chip_likelihood import (
    BlackBoxGradientError,
    ChipLogLikelihood,
    chip_log_likelihood,
)


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


def test_chips_of_one_configuration_share_one_compiled_kernel_and_count_their_own_queries(data):
    """Two noisy chips that differ only by seed: the Op compiles to the same cached numba
    function for both, their counts differ, and a compiled PyMC logp (numba, no Python in
    between) counts each evaluation on its own chip, in the noise stream of that chip, also
    after pickling the chip with its compiled function (as parallel chains are sent)."""
    import pickle

    from limprob.chip.kernels import query_counts
    from limprob.likelihood.chip_likelihood import (
        _numba_chip_log_likelihood,
        categorical_log_likelihood,
    )
    from limprob.models.chip_in_the_loop import build_model
    from limprob.snn import Network

    # every field of the chip's state away from its default, so the positions the Op's numba
    # function unpacks its state inputs at are checked against ChipState's fields
    network = Network(n_hidden=6, n_steps=16, reset="zero")
    chips = [SimulatedChip(30, 2, network, 1.0, seed, noise=0.2, weight_bits=5) for seed in (3, 4)]
    train = data.train.isel(obs=slice(0, 40))
    x, y = train["features"].values, train["labels"].values
    rng = np.random.default_rng(7)
    w_in, w_out = rng.normal(0, 2, (30, 6)), rng.normal(0, 2, (6, 2))
    assert not np.array_equal(chips[0].run(w_in, w_out, x), chips[1].run(w_in, w_out, x))

    models = [build_model(chip, train, kappa=8.0) for chip in chips]
    nodes = [
        next(
            v.owner
            for v in pytensor.graph.ancestors(m.logp(vars=[m["y"]], sum=False))
            if v.owner is not None and isinstance(v.owner.op, ChipLogLikelihood)
        )
        for m in models
    ]
    kernels = [_numba_chip_log_likelihood(node.op, node) for node in nodes]
    assert kernels[0][0] is kernels[1][0] and kernels[0][1] == kernels[1][1] is not None

    point = {"W_in": w_in, "W_out": w_out}
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an object-mode fallback warns; make it fail
        logps = [m.compile_logp(vars=[m["y"]]) for m in models]
    for chip, logp, calls in zip(chips, logps, (3, 2)):
        reference = SimulatedChip(30, 2, network, 1.0, chip.seed, noise=0.2, weight_bits=5)
        reference.continue_from(chip.queries)
        before = chip.queries
        for _ in range(calls):
            counts = query_counts(reference.query_state, w_in, w_out, x)
            expected = categorical_log_likelihood(counts, y, 8.0, 16).sum()
            assert logp(point) == pytest.approx(expected, rel=1e-12, abs=1e-12)
        assert chip.queries - before == calls
    assert [c.queries for c in chips] == [4, 3]

    copy_of_chip, copy_of_logp = pickle.loads(pickle.dumps((chips[0], logps[0])))
    copy_of_logp(point)
    assert (copy_of_chip.queries, chips[0].queries) == (5, 4)


def test_the_observed_labels_are_an_input_of_the_compiled_model_not_a_constant(data):
    """The labels reach the compiled logp as a shared input: a model compiled once follows new
    labels of the same size (so PyTensor's cache serves every split of a size, not one), and
    gives what a model built on those labels gives."""
    from limprob.models.chip_in_the_loop import build_model
    from limprob.snn import Network

    chip = SimulatedChip(30, 2, Network(n_hidden=16), 1.0, 0)
    train = data.train.isel(obs=slice(0, 40))
    flipped = train.assign(labels=1 - train["labels"])
    model, fresh = build_model(chip, train), build_model(chip, flipped)
    point = model.initial_point()
    rng = np.random.default_rng(0)
    point = {name: rng.normal(size=value.shape) for name, value in point.items()}
    logp = model.compile_logp(vars=[model["y"]], sum=True)
    before = logp(point)
    from pytensor.graph.traversal import ancestors

    (labels,) = [v for v in ancestors([model.rvs_to_values[model["y"]]]) if v.name == "y_observed"]
    labels.set_value(flipped["labels"].values)
    after = logp(point)
    assert after != before
    assert after == fresh.compile_logp(vars=[fresh["y"]], sum=True)(point)
