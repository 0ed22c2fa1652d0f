"""Data loading, checks, stratified splits and training-only scaling."""

import numpy as np
import pytest
import xarray as xr

from limprob.data import load_table, split, subsample
from limprob.errors import LimprobError


def test_wisconsin_is_the_bundled_set(wisconsin):
    assert wisconsin.sizes == {"obs": 569, "feature": 30, "class": 2}
    assert list(wisconsin["class"].values) == ["malignant", "benign"]
    assert int((wisconsin["labels"] == 0).sum()) == 212


def test_split_is_stratified_scaled_on_training_only_and_seeded(wisconsin):
    data = split(wisconsin, seed=3)
    train, test = data.train, data.test
    assert (train.sizes["obs"], test.sizes["obs"]) == (455, 114)
    assert not set(train["obs"].values) & set(test["obs"].values)
    # the class balance of the whole set, in both parts
    for part in (train, test):
        assert abs(float((part["labels"] == 0).mean()) - 212 / 569) < 0.01
    x = train["features"].values
    np.testing.assert_allclose(x.min(axis=0), 0.0)
    np.testing.assert_allclose(x.max(axis=0), 1.0)
    again = split(wisconsin, seed=3)
    xr.testing.assert_identical(again.train, train)
    assert not np.array_equal(split(wisconsin, seed=4).test["obs"].values, test["obs"].values)


def test_training_fraction_subsamples_the_training_part_only(wisconsin):
    full = split(wisconsin, seed=0)
    small = split(wisconsin, seed=0, train_fraction=0.1)
    xr.testing.assert_identical(small.test, full.test)
    assert small.train.sizes["obs"] == round(0.1 * 455)
    assert set(small.train["obs"].values) <= set(full.train["obs"].values)
    assert set(np.unique(small.train["labels"].values)) == {0, 1}
    assert subsample(full.train, 0.001)["labels"].size == 2  # at least one per class
    with pytest.raises(LimprobError, match="training fraction"):
        split(wisconsin, seed=0, train_fraction=0.0)


def test_user_tables_load_through_the_same_checks(tmp_path, wisconsin):
    features, labels = wisconsin["features"].values[:50, :3], wisconsin["labels"].values[:50]
    csv = tmp_path / "mine.csv"
    csv.write_text("a,b,c,label\n" + "\n".join(
        f"{r[0]},{r[1]},{r[2]},{y}" for r, y in zip(features, labels)) + "\n")
    table = load_table(csv)
    assert list(table["feature"].values) == ["a", "b", "c"]
    np.testing.assert_array_equal(table["features"].values, features)
    nc = tmp_path / "mine.nc"
    xr.Dataset({"features": (("obs", "feature"), features), "labels": ("obs", labels)},
               coords={"class": ["m", "b"]}).to_netcdf(nc)
    table = load_table(nc)
    assert list(table["class"].values) == ["m", "b"]
    np.testing.assert_array_equal(table["labels"].values, labels)
    bad = tmp_path / "bad.nc"
    xr.Dataset({"features": (("obs", "feature"), features),
                "labels": ("obs", labels + 2)}).to_netcdf(bad)
    with pytest.raises(LimprobError, match="outside the classes"):
        load_table(bad)
    with pytest.raises(LimprobError, match="no such data file"):
        load_table(tmp_path / "absent.csv")
    (tmp_path / "table.txt").write_text("x")
    with pytest.raises(LimprobError, match=".csv or .nc"):
        load_table(tmp_path / "table.txt")
