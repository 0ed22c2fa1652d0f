"""Simulated chips: the ideal limit, identity by seed, and exact query counting."""

import pickle

import numpy as np
import pytest

from limprob.chip import Chip, SimulatedChip
from limprob.errors import LimprobError
from limprob.snn import Network, lif_counts_numpy


@pytest.fixture(scope="module")
def weights():
    rng = np.random.default_rng(7)
    return rng.normal(0, 1, (30, 16)), rng.normal(0, 1, (16, 2))


def ideal_counts(x, w_in, w_out, network=Network()):
    h, o = w_in.shape[1], w_out.shape[1]
    return lif_counts_numpy(
        x,
        w_in,
        w_out,
        np.full(h, network.beta),
        np.full(h, network.theta),
        np.full(o, network.beta),
        np.full(o, network.theta),
        network.n_steps,
    )


def test_strength_zero_is_exactly_the_ideal_network(data, weights):
    x = data.train["features"].values
    for seed in (0, 1, 2):
        counts = SimulatedChip(strength=0.0, seed=seed).run(*weights, x)
        np.testing.assert_array_equal(counts, ideal_counts(x, *weights))


def test_same_seed_same_chip_and_different_seeds_differ(data, weights):
    x = data.train["features"].values
    first = SimulatedChip(strength=1.0, seed=3).run(*weights, x)
    again = SimulatedChip(strength=1.0, seed=3).run(*weights, x)
    other = SimulatedChip(strength=1.0, seed=4).run(*weights, x)
    np.testing.assert_array_equal(first, again)
    assert not np.array_equal(first, other)
    assert not np.array_equal(first, ideal_counts(x, *weights))


def test_distortion_grows_with_strength(data, weights):
    x = data.train["features"].values
    ideal = ideal_counts(x, *weights)
    changed = [
        np.abs(SimulatedChip(strength=a, seed=5).run(*weights, x) - ideal).mean()
        for a in (0.0, 0.25, 1.0, 2.0)
    ]
    assert changed[0] == 0.0
    assert changed[1] < changed[2] and changed[1] < changed[3]


def test_every_query_is_counted_and_pickling_keeps_the_chip(data, weights):
    x = data.train["features"].values
    chip = SimulatedChip(strength=1.0, seed=3)
    assert isinstance(chip, Chip)
    for expected in range(1, 4):
        chip.run(*weights, x)
        assert chip.queries == expected
    copy = pickle.loads(pickle.dumps(chip))
    np.testing.assert_array_equal(copy.run(*weights, x), chip.run(*weights, x))
    assert (copy.queries, chip.queries) == (4, 4)


def test_distortion_is_private(weights):
    chip = SimulatedChip(strength=1.0, seed=3)
    public = {name for name in vars(chip) if not name.startswith("_")}
    assert public == {
        "network",
        "n_inputs",
        "n_outputs",
        "strength",
        "seed",
        "noise",
        "weight_bits",
        "weight_range",
    }
    assert set(chip.describe()) >= {"chip_strength", "chip_seed"}


def test_bad_strength_and_shapes_are_refused(data, weights):
    with pytest.raises(LimprobError, match="strength"):
        SimulatedChip(strength=-0.5)
    with pytest.raises(LimprobError, match="strength"):
        SimulatedChip(strength=float("nan"))
    chip = SimulatedChip()
    with pytest.raises(LimprobError, match="do not fit"):
        chip.run(weights[0][:, :8], weights[1], data.train["features"].values)
    with pytest.raises(LimprobError, match="do not fit"):
        chip.run(*weights, data.train["features"].values[:, :10])
    assert chip.queries == 0
