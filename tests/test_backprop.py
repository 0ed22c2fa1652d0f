"""Surrogate-gradient backprop baselines: learning, the spike's gradient, the forward pass,
chip-query counting and configuration checks."""

import json
import math

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import xarray as xr

from limprob.chip import SimulatedChip
from limprob.cli import main
from limprob.data import load_dataset, split
from limprob.errors import LimprobError
from limprob.inference.backprop import (
    MIN_FIRING_FRACTION,
    BackpropConfig,
    _loss_of_counts,
    compiled_network,
    initial_weights,
    layer_firing,
    spike,
    train_backprop,
    validation_split,
)
from limprob.io import ENGINE, save_trace
from limprob.snn import Network, lif_counts_numpy

QUICK = BackpropConfig(epochs=4, batch_size=64, patience=100)


def fast_sigmoid_integral(u, slope):
    """The smooth function the spike stands for in the backward pass: u / (1 + slope |u|)."""
    return u / (1.0 + slope * np.abs(u))


def test_backprop_learns_the_ideal_network(data, tmp_path, capsys):
    chip = SimulatedChip(30, 2, Network(), strength=0.0, seed=0)
    before = chip.queries
    tree = train_backprop(chip, data, BackpropConfig(seed=0))
    attrs = tree.attrs
    assert attrs["test_accuracy"] >= 0.90
    assert attrs["method"] == "backprop"
    assert attrs["training_chip_queries"] == 0
    assert attrs["evaluation_chip_queries"] == 2 == chip.queries - before
    assert attrs["init_hidden_firing_fraction"] >= 0.25
    assert attrs["init_output_firing_fraction"] >= 0.25
    assert tree["weights"]["W_in"].dims == ("feature", "hidden")
    assert tree["weights"]["W_out"].dims == ("hidden", "class")
    assert list(tree["weights"]["feature"].values) == list(data.train["feature"].values)
    assert list(tree["weights"]["class"].values) == list(data.train["class"].values)
    assert tree["training"]["validation_accuracy"].dims == ("epoch",)
    assert tree["training"].sizes["epoch"] == attrs["epochs_run"]
    probability = tree["point_estimates"]["probability"].sel(point_estimate="mean")
    assert probability.dims == ("obs", "class")
    np.testing.assert_allclose(probability.sum("class"), 1.0)
    assert tree["predictions_constant_data"]["x"].dims == ("obs", "feature")
    for key, value in attrs.items():
        assert isinstance(value, (int, float, str, np.integer, np.floating)), key
        assert not isinstance(value, bool), key
    # the recorded accuracy is what the stored weights score on the chip
    w_in, w_out = tree["weights"]["W_in"].values, tree["weights"]["W_out"].values
    counts = chip.run(w_in, w_out, data.test["features"].values)
    assert np.mean(counts.argmax(1) == data.test["labels"].values) == attrs["test_accuracy"]
    path = save_trace(tree, tmp_path / "backprop.nc")
    with xr.open_datatree(path, engine=ENGINE) as loaded:
        assert loaded.attrs["test_accuracy"] == attrs["test_accuracy"]
        xr.testing.assert_identical(loaded["weights"].to_dataset(), tree["weights"].to_dataset())
    # the CLI reads a backprop trace like an MH one
    assert main(["evaluate", str(path), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["method"] == "backprop" and report["test_accuracy_predictive"] is None
    assert report["test_accuracy_posterior_mean"] == attrs["test_accuracy"]
    assert report["chip_queries"] == 0


@pytest.mark.parametrize("slope", [5.0, 25.0])
def test_spike_gradient_is_the_surrogate(slope):
    theta = 1.0
    v = pt.dvector("v")
    out = spike(v, theta, slope)
    f = pytensor.function([v], [out, pytensor.grad(out.sum(), v)])
    values = np.array([-2.0, 0.3, 0.9, 0.99, 0.999, 1.0, 1.001, 1.02, 1.3, 4.0])
    spikes, gradient = f(values)
    np.testing.assert_array_equal(spikes, (values > theta) * 1.0)
    h = 1e-6
    away = values != theta  # the surrogate has a kink at the threshold
    numerical = (
        fast_sigmoid_integral(values + h - theta, slope)
        - fast_sigmoid_integral(values - h - theta, slope)
    ) / (2 * h)
    np.testing.assert_allclose(gradient[away], numerical[away], rtol=1e-6)
    closed_form = 1.0 / (1.0 + slope * np.abs(values - theta)) ** 2
    np.testing.assert_allclose(gradient, closed_form, rtol=1e-12)
    assert gradient[values == theta] == 1.0


@pytest.mark.parametrize(
    "seed, network", [(0, Network()), (1, Network(5, 7, 0.8, 0.7)), (2, Network(16, 32, 0.95, 1.3))]
)
def test_forward_pass_equals_the_numpy_reference(data, seed, network):
    rng = np.random.default_rng(seed)
    x = data.train["features"].values
    compiled = compiled_network()
    h, t, beta, theta = network.n_hidden, network.n_steps, network.beta, network.theta
    for scale in (1.0, 2.0):
        w_in = rng.normal(0.1, scale, (30, h))
        w_out = rng.normal(0.3, scale, (h, 2))
        reference = lif_counts_numpy(
            x,
            w_in,
            w_out,
            np.full(h, beta),
            np.full(h, theta),
            np.full(2, beta),
            np.full(2, theta),
            t,
        )
        assert len(np.unique(reference)) > 5  # neither silent nor saturated
        np.testing.assert_array_equal(compiled.forward(x, w_in, w_out, beta, theta, t), reference)
        _, counts, _, _ = compiled.loss_and_gradient(
            x,
            data.train["labels"].values,
            w_in,
            w_out,
            beta,
            theta,
            25.0,
            8.0,
            t,
            np.zeros_like(reference),
            0.0,
        )
        np.testing.assert_array_equal(counts, reference)


@pytest.mark.parametrize(
    "network", [Network(), Network(16, 32, 0.9, 10.0), Network(4, 8, 0.5, 1.0)]
)
def test_initial_weights_make_both_layers_fire(data, network):
    x = data.train["features"].values
    w_in, w_out, hidden, output = initial_weights(x, 2, network, np.random.default_rng(0))
    assert (hidden, output) == layer_firing(x, w_in, w_out, network)
    assert hidden >= MIN_FIRING_FRACTION and output >= MIN_FIRING_FRACTION


@pytest.mark.parametrize(
    ("dataset", "split_seed", "seed"), [("wine", 0, 1874364848), ("wisconsin", 3, 598965220)]
)
def test_initial_output_weights_fire_without_blowing_up(dataset, split_seed, seed):
    """Draws whose output columns have a negative drive: scaling alone left the output layer
    silent and W_out about 1,000 times too large (the first chain's backprop seed of these
    splits, ``--init ideal|twin``), a start no prior draw could lose to."""
    train = split(load_dataset(dataset), seed=split_seed).train
    x = train["features"].values
    fit, _ = validation_split(train["labels"].values, BackpropConfig().validation_fraction, seed)
    n_out = train.sizes["class"]
    w_in, w_out, hidden, output = initial_weights(
        x[fit], n_out, Network(), np.random.default_rng([seed, 2])
    )
    assert (hidden, output) == layer_firing(x[fit], w_in, w_out, Network())
    assert hidden >= MIN_FIRING_FRACTION and output >= MIN_FIRING_FRACTION
    assert np.sqrt(np.mean(w_out**2)) < 10.0


def test_straight_through_uses_chip_counts_for_the_loss(data):
    compiled = compiled_network()
    rng = np.random.default_rng(3)
    x, y = data.train["features"].values[:100], data.train["labels"].values[:100]
    w_in, w_out = rng.normal(0, 1, (30, 16)), rng.normal(0, 1, (16, 2))
    args = (x, y, w_in, w_out, 0.9, 1.0, 25.0, 8.0, 32)
    loss, counts, g_in, g_out = compiled.loss_and_gradient(*args, np.zeros((100, 2)), 0.0)
    assert loss == pytest.approx(_loss_of_counts(counts, y, 8.0, 32), rel=1e-12)
    same = compiled.loss_and_gradient(*args, counts, 1.0)
    np.testing.assert_allclose(same[2], g_in, rtol=1e-12, atol=1e-15)
    chip_counts = rng.integers(0, 33, (100, 2)).astype(float)
    chip_loss, chip_ideal_counts, chip_g_in, _ = compiled.loss_and_gradient(*args, chip_counts, 1.0)
    assert chip_loss == pytest.approx(_loss_of_counts(chip_counts, y, 8.0, 32), rel=1e-12)
    np.testing.assert_array_equal(chip_ideal_counts, counts)
    assert not np.allclose(chip_g_in, g_in)


def test_in_the_loop_counts_every_chip_query(data):
    chip = SimulatedChip(30, 2, Network(), strength=1.0, seed=0)
    before = chip.queries
    tree = train_backprop(chip, data, QUICK, "in_the_loop_backprop")
    attrs = tree.attrs
    assert attrs["method"] == "in_the_loop_backprop"
    assert (
        chip.queries - before == attrs["training_chip_queries"] + attrs["evaluation_chip_queries"]
    )
    assert attrs["evaluation_chip_queries"] == 2
    batches = math.ceil(attrs["n_fit"] / QUICK.batch_size)
    # one query per mini-batch and one per epoch's validation
    assert attrs["training_chip_queries"] == attrs["epochs_run"] * (batches + 1)
    assert attrs["epochs_run"] == QUICK.epochs


def test_same_seed_same_weights(data):
    chip = SimulatedChip(30, 2, Network(), strength=1.0, seed=0)
    first = train_backprop(chip, data, QUICK, "in_the_loop_backprop")
    second = train_backprop(chip, data, QUICK, "in_the_loop_backprop")
    xr.testing.assert_identical(first["weights"].to_dataset(), second["weights"].to_dataset())
    other = train_backprop(
        chip, data, BackpropConfig(epochs=4, batch_size=64, seed=1), "in_the_loop_backprop"
    )
    assert not np.array_equal(other["weights"]["W_in"].values, first["weights"]["W_in"].values)


@pytest.mark.parametrize(
    "bad",
    [
        dict(epochs=0),
        dict(epochs=2.5),
        dict(batch_size=0),
        dict(patience=-1),
        dict(learning_rate=0.0),
        dict(learning_rate=float("nan")),
        dict(slope=-25.0),
        dict(kappa=0.0),
        dict(validation_fraction=1.0),
        dict(validation_fraction=-0.1),
        dict(seed=-1),
        dict(seed=1.5),
        dict(epochs=True),
    ],
)
def test_bad_config_raises(bad):
    with pytest.raises(LimprobError):
        BackpropConfig(**bad)


def test_data_that_do_not_fit_the_chip_raise(data):
    chip = SimulatedChip(29, 2, Network(), strength=0.0, seed=0)
    with pytest.raises(LimprobError, match="features"):
        train_backprop(chip, data, QUICK)


# --- one object per method ---------------------------------------------------------------------


def test_ideal_model_backprop_is_the_documented_loop(data):
    """The object's weights are those of the loop the module docstring describes, written out
    here: initial weights from the seed's generator, Adam on reshuffled batches of the ideal
    model's gradient, the best validation epoch kept."""
    from limprob.inference.backprop import Adam, IdealModelBackprop, validation_split
    from limprob.inference.evaluation import accuracy
    from limprob.likelihood.chip_likelihood import class_probabilities

    config = BackpropConfig(epochs=3, batch_size=64, patience=100, seed=4)
    chip = SimulatedChip(30, 2, Network(), strength=1.0, seed=4)
    tree = IdealModelBackprop(config).train(chip, data)

    compiled, network = compiled_network(), chip.network
    x, y = data.train["features"].values, data.train["labels"].values.astype(np.int64)
    rng = np.random.default_rng([config.seed, 2])
    fit, held = validation_split(y, config.validation_fraction, config.seed)
    w_in, w_out, *_ = initial_weights(x[fit], 2, network, rng)
    adam, best, kept = Adam([w_in, w_out], config.learning_rate), None, None
    for _ in range(config.epochs):
        order = rng.permutation(fit.size)
        for start in range(0, fit.size, config.batch_size):
            index = fit[order[start : start + config.batch_size]]
            *_, grad_in, grad_out = compiled.loss_and_gradient(
                x[index],
                y[index],
                *adam.params,
                network.beta,
                network.theta,
                config.slope,
                config.kappa,
                network.n_steps,
                np.zeros((index.size, 2)),
                0.0,
            )
            adam.step([grad_in, grad_out])
        counts = compiled.forward(
            x[held], *adam.params, network.beta, network.theta, network.n_steps
        )
        score = (
            accuracy(class_probabilities(counts, config.kappa, network.n_steps), y[held]),
            -_loss_of_counts(counts, y[held], config.kappa, network.n_steps),
        )
        if best is None or score > best:
            best, kept = score, [p.copy() for p in adam.params]
    np.testing.assert_array_equal(tree["weights"]["W_in"].values, kept[0])
    np.testing.assert_array_equal(tree["weights"]["W_out"].values, kept[1])
    assert tree.attrs["method"] == IdealModelBackprop.name


def test_method_names_are_defined_once():
    from limprob.inference.backprop import BACKPROP_METHODS, METHODS
    from limprob.study import METHODS as STUDY_METHODS

    assert METHODS == tuple(BACKPROP_METHODS)
    assert all(cls.name == name for name, cls in BACKPROP_METHODS.items())
    assert set(METHODS) <= set(STUDY_METHODS)


class UsersChip:
    """A chip as a user's driver would be: it answers queries and never shows its distortion."""

    def __init__(self):
        self._inner = SimulatedChip(30, 2, Network(), strength=1.0, seed=0)
        self.network, self.n_inputs, self.n_outputs = self._inner.network, 30, 2

    @property
    def queries(self):
        return self._inner.queries

    def run(self, w_in, w_out, x):
        return self._inner.run(w_in, w_out, x)

    def describe(self):
        return {"chip": "UsersChip"}


def test_the_oracle_is_refused_on_a_chip_that_hides_its_distortion(data):
    from limprob.inference.backprop import OracleBackprop

    chip = UsersChip()
    with pytest.raises(LimprobError, match="oracle needs a simulated chip") as error:
        OracleBackprop(QUICK).train(chip, data)
    assert "\n" not in str(error.value)
    assert chip.queries == 0


def test_the_oracle_beats_the_ideal_model_on_a_distorted_chip(data):
    """Backprop through the chip's own distortion trains what the chip is: on a strength-2
    chip it scores far above ideal-model backprop, queries the chip only to measure, and says
    it is a simulation-only reference."""
    from limprob.inference.backprop import IdealModelBackprop, OracleBackprop

    config = BackpropConfig(epochs=30, seed=0)
    oracle = OracleBackprop(config).train(SimulatedChip(30, 2, strength=2.0, seed=0), data)
    ideal = IdealModelBackprop(config).train(SimulatedChip(30, 2, strength=2.0, seed=0), data)
    assert oracle.attrs["method"] == "oracle" and oracle.attrs["simulation_only"] == 1
    assert ideal.attrs["simulation_only"] == 0
    assert oracle.attrs["training_chip_queries"] == 0
    assert oracle.attrs["test_accuracy"] >= ideal.attrs["test_accuracy"] + 0.1
