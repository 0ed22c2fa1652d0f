"""Data loading, checks, stratified splits and training-only scaling."""

import numpy as np
import pytest
import xarray as xr

from limprob.data import DATASETS, load_dataset, load_table, split, subsample
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
    csv.write_text(
        "a,b,c,label\n"
        + "\n".join(f"{r[0]},{r[1]},{r[2]},{y}" for r, y in zip(features, labels))
        + "\n"
    )
    table = load_table(csv)
    assert list(table["feature"].values) == ["a", "b", "c"]
    np.testing.assert_array_equal(table["features"].values, features)
    nc = tmp_path / "mine.nc"
    xr.Dataset(
        {"features": (("obs", "feature"), features), "labels": ("obs", labels)},
        coords={"class": ["m", "b"]},
    ).to_netcdf(nc)
    table = load_table(nc)
    assert list(table["class"].values) == ["m", "b"]
    np.testing.assert_array_equal(table["labels"].values, labels)
    bad = tmp_path / "bad.nc"
    xr.Dataset(
        {"features": (("obs", "feature"), features), "labels": ("obs", labels + 2)}
    ).to_netcdf(bad)
    with pytest.raises(LimprobError, match="outside the classes"):
        load_table(bad)
    with pytest.raises(LimprobError, match="no such data file"):
        load_table(tmp_path / "absent.csv")
    (tmp_path / "table.txt").write_text("x")
    with pytest.raises(LimprobError, match=".csv or .nc"):
        load_table(tmp_path / "table.txt")


@pytest.mark.parametrize(
    "name, n_obs, n_features, counts, classes",
    [
        (
            "digits",
            1797,
            64,
            [178, 182, 177, 183, 181, 182, 181, 179, 174, 180],
            [str(k) for k in range(10)],
        ),
        ("wine", 178, 13, [59, 71, 48], ["class_0", "class_1", "class_2"]),
    ],
)
def test_bundled_sets_load_with_their_shapes_and_classes(name, n_obs, n_features, counts, classes):
    table = load_dataset(name)
    assert table.sizes == {"obs": n_obs, "feature": n_features, "class": len(classes)}
    assert list(table["class"].values) == classes
    assert np.bincount(table["labels"].values).tolist() == counts
    assert table.attrs["source"] == name
    parts = split(table, seed=0)
    assert parts.test.sizes["obs"] == np.ceil(0.2 * n_obs)  # scikit-learn rounds up


def test_dataset_names_and_the_default(wisconsin):
    assert DATASETS[0] == "wisconsin" and set(DATASETS) == {
        "wisconsin",
        "yinyang",
        "digits",
        "wine",
    }
    xr.testing.assert_identical(load_dataset("wisconsin"), wisconsin)
    with pytest.raises(
        LimprobError,
        match="unknown data set 'nope'; choose one of wisconsin, yinyang, digits, wine",
    ):
        load_dataset("nope")


def write_csv(path, labels):
    rows = [f"{0.1 * i},{0.2 * i},{y}" for i, y in enumerate(labels)]
    path.write_text("a,b,label\n" + "\n".join(rows) + "\n")
    return path


def test_csv_classes_are_the_label_indices_present(tmp_path):
    table = load_table(write_csv(tmp_path / "three.csv", [0, 1, 2, 2, 1, 0]))
    assert list(table["class"].values) == ["class_0", "class_1", "class_2"]
    np.testing.assert_array_equal(table["labels"].values, [0, 1, 2, 2, 1, 0])
    with pytest.raises(
        LimprobError,
        match=r"label 2 is outside the classes 0\.\.0: "
        r"no sample has label 1",
    ) as skip:
        load_table(write_csv(tmp_path / "skip.csv", [0, 2, 0, 2]))
    assert "\n" not in str(skip.value)
    with pytest.raises(LimprobError, match="no sample has label 0"):
        load_table(write_csv(tmp_path / "nozero.csv", [1, 2, 1, 2]))
    with pytest.raises(
        LimprobError,
        match="every sample is of class 'class_0'; a classifier needs at least two classes",
    ) as one:
        load_table(write_csv(tmp_path / "one.csv", [0, 0, 0]))
    assert "\n" not in str(one.value)


def test_netcdf_classes_come_from_its_class_coordinate(tmp_path):
    features, labels = np.arange(12.0).reshape(6, 2), np.array([0, 1, 2, 2, 1, 0])
    named = tmp_path / "named.nc"
    xr.Dataset(
        {"features": (("obs", "feature"), features), "labels": ("obs", labels)},
        coords={"class": ["low", "mid", "high"]},
    ).to_netcdf(named)
    table = load_table(named)
    assert list(table["class"].values) == ["low", "mid", "high"]
    np.testing.assert_array_equal(table["labels"].values, labels)
    unnamed = tmp_path / "unnamed.nc"
    xr.Dataset({"features": (("obs", "feature"), features), "labels": ("obs", labels)}).to_netcdf(
        unnamed
    )
    assert list(load_table(unnamed)["class"].values) == ["class_0", "class_1", "class_2"]
    single = tmp_path / "single.nc"
    xr.Dataset(
        {"features": (("obs", "feature"), features), "labels": ("obs", labels * 0)},
        coords={"class": ["only"]},
    ).to_netcdf(single)
    with pytest.raises(LimprobError, match="every sample is of class 'only'"):
        load_table(single)


def test_the_default_networks_are_the_measured_choice():
    """DATASET_NETWORKS is what analyses/network_defaults.py chose (its saved result)."""
    from pathlib import Path

    import xarray as xr

    from limprob.data import DATASETS
    from limprob.models.defaults import DATASET_NETWORKS

    saved = Path(__file__).resolve().parents[1] / "analyses/results/network_defaults.nc"
    with xr.open_dataset(saved) as measured:
        chosen = measured.attrs["chosen"]
    assert set(DATASET_NETWORKS) == set(DATASETS)
    assert chosen == "; ".join(
        f"{d}: hidden {n['n_hidden']}, kappa {n['kappa']:g}" for d, n in DATASET_NETWORKS.items()
    )
