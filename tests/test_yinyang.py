"""The Yin-Yang set generated from its definition (Kriener, Goeltz and Petrovici 2021)."""

import math

import numpy as np
import pytest
import xarray as xr

from limprob.data import load_dataset, load_yinyang, split, yinyang_class
from limprob.errors import LimprobError


@pytest.fixture(scope="module")
def yinyang():
    return load_dataset("yinyang", seed=0)


def reference_class(x, y):
    """The original's class of one point, written out: dots of radius 0.1 at (0.25, 0.5) and
    (0.75, 0.5) are 2; class 1 is the right dot's closed rim, the left disc of radius 0.25
    around the left dot, and the upper half outside the right disc of radius 0.25; the rest of
    the big circle (radius 0.5 around (0.5, 0.5)) is 0."""
    right, left = math.dist((x, y), (0.75, 0.5)), math.dist((x, y), (0.25, 0.5))
    if right < 0.1 or left < 0.1:
        return 2
    if right <= 0.1 or left <= 0.25 or (y > 0.5 and right > 0.25):
        return 1
    return 0


def test_generation_is_seeded_and_bit_identical(yinyang):
    again = load_yinyang(seed=0)
    xr.testing.assert_identical(again, yinyang)
    assert again["features"].values.tobytes() == yinyang["features"].values.tobytes()
    other = load_dataset("yinyang", seed=1)
    assert not np.any(other["features"].values[:, 0] == yinyang["features"].values[:, 0])
    xr.testing.assert_identical(other, load_yinyang(seed=1))
    with pytest.raises(LimprobError, match="data seed"):
        load_yinyang(seed=-1)


def test_every_class_follows_from_the_coordinates(yinyang):
    x, y = yinyang["features"].values[:, 0], yinyang["features"].values[:, 1]
    assert np.all(np.hypot(x - 0.5, y - 0.5) <= 0.5)  # inside the big circle
    expected = [reference_class(a, b) for a, b in zip(x, y)]
    np.testing.assert_array_equal(yinyang["labels"].values, expected)
    assert list(yinyang["class"].values) == ["yin", "yang", "dot"]


@pytest.mark.parametrize(
    "x, y, label",
    [
        (0.25, 0.5, 2),
        (0.75, 0.5, 2),
        (0.25, 0.58, 2),  # the dots
        (0.5, 0.9, 1),
        (0.25, 0.65, 1),
        (0.25, 0.35, 1),  # upper half, the left dot's disc
        (0.5, 0.1, 0),
        (0.75, 0.35, 0),
        (0.75, 0.65, 0),  # lower half, the right dot's disc
    ],
)
def test_class_of_points_placed_by_hand(x, y, label):
    assert yinyang_class(np.array([x]), np.array([y]))[0] == label


def test_inputs_are_the_point_and_its_mirror_in_the_unit_square(yinyang):
    features = yinyang["features"].values
    assert list(yinyang["feature"].values) == ["x", "y", "1-x", "1-y"]
    assert features.min() >= 0.0 and features.max() <= 1.0
    np.testing.assert_array_equal(features[:, 2], 1.0 - features[:, 0])
    np.testing.assert_array_equal(features[:, 3], 1.0 - features[:, 1])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classes_are_balanced_as_in_the_original(seed):
    # each sample's class is uniform on {0, 1, 2}: multinomial counts, within 4 sd of n / 3
    labels = load_yinyang(seed=seed)["labels"].values
    n = labels.size
    counts = np.bincount(labels, minlength=3)
    assert np.all(np.abs(counts - n / 3) < 4 * math.sqrt(n * (1 / 3) * (2 / 3)))


def test_split_gives_the_original_sizes_and_nearly_keeps_the_inputs(yinyang):
    assert yinyang.sizes == {"obs": 6000, "feature": 4, "class": 3}
    assert yinyang.attrs == {"source": "yinyang", "test_size": 1000}
    parts = split(yinyang, seed=0)
    assert (parts.train.sizes["obs"], parts.test.sizes["obs"]) == (5000, 1000)
    assert not set(parts.train["obs"].values) & set(parts.test["obs"].values)
    # min-max scaling fitted on the training part is close to the identity on [0, 1] inputs
    for part in (parts.train, parts.test):
        raw = yinyang["features"].sel(obs=part["obs"]).values
        np.testing.assert_allclose(part["features"].values, raw, atol=0.01)
    assert split(yinyang, seed=0, test_fraction=0.5).test.sizes["obs"] == 3000
    small = load_yinyang(seed=0, n_train=300, n_test=60)
    assert split(small, seed=0).test.sizes["obs"] == 60
