"""Labelled tables of features for the chip: loading, checking, splitting, scaling.

The default table is the Wisconsin Diagnostic Breast Cancer set that scikit-learn ships inside
its package (569 samples, 30 features, 212 malignant and 357 benign), so nothing is downloaded.
A user's own table loads through the same checks:

- CSV with a header: one column per feature and a column named ``label`` holding integer class
  indices 0 .. n_classes - 1;
- NetCDF: a variable ``features`` with dims (obs, feature) and a variable ``labels`` with dim
  obs; an optional ``class`` coordinate names the classes.

Every table is an :class:`xarray.Dataset` with ``features (obs, feature)`` and
``labels (obs)``; the ``obs`` coordinate is the row index in the original table, so training
and test samples keep their identity through a split.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import xarray as xr
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

from limprob.errors import LimprobError
from limprob.validation import fraction

DEFAULT_CLASSES = ("malignant", "benign")
"""scikit-learn's label 0 is malignant and 1 is benign."""


def _table(features: np.ndarray, labels: np.ndarray, feature_names, class_names, name: str):
    return xr.Dataset(
        {
            "features": (("obs", "feature"), features),
            "labels": ("obs", labels),
        },
        coords={
            "obs": np.arange(features.shape[0]),
            "feature": list(feature_names),
            "class": list(class_names),
        },
        attrs={"source": name},
    )


def check_table(table: xr.Dataset, n_features: int | None = None) -> xr.Dataset:
    """Check a table at the boundary; raise :class:`LimprobError` naming the first problem.

    Features must be finite, there must be ``n_features`` of them when that is given, and
    every label must be one of the table's classes.
    """
    source = table.attrs.get("source", "data")
    features = table["features"].values
    labels = table["labels"].values
    if features.ndim != 2 or features.shape[0] == 0 or features.shape[1] == 0:
        raise LimprobError(f"{source}: expected a non-empty table of samples x features")
    if n_features is not None and features.shape[1] != n_features:
        raise LimprobError(
            f"{source}: has {features.shape[1]} features, expected {n_features}"
        )
    bad = ~np.isfinite(features)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise LimprobError(
            f"{source}: feature {table['feature'].values[col]!r} of sample {row} is "
            f"{features[row, col]} (NaN or infinite values are not allowed)"
        )
    n_classes = table.sizes["class"]
    if not np.issubdtype(labels.dtype, np.integer):
        if not (np.all(np.isfinite(labels)) and np.all(labels == np.round(labels))):
            raise LimprobError(f"{source}: labels must be integer class indices")
        labels = labels.astype(np.int64)
    outside = (labels < 0) | (labels >= n_classes)
    if outside.any():
        raise LimprobError(
            f"{source}: label {labels[outside][0]} is outside the classes 0..{n_classes - 1}"
        )
    return table.assign(labels=("obs", labels.astype(np.int64)))


def load_wisconsin() -> xr.Dataset:
    """The Wisconsin Diagnostic Breast Cancer table from scikit-learn's bundled copy."""
    from sklearn.datasets import load_breast_cancer

    bunch = load_breast_cancer()
    table = _table(
        bunch.data.astype(np.float64),
        bunch.target.astype(np.int64),
        bunch.feature_names,
        DEFAULT_CLASSES,
        "wisconsin",
    )
    return check_table(table)


def _load_csv(path: Path, n_classes: int) -> xr.Dataset:
    with path.open(newline="") as handle:
        rows = list(csv.reader(handle))
    if not rows:
        raise LimprobError(f"{path}: the file is empty")
    header, body = rows[0], [row for row in rows[1:] if row]
    if "label" not in header:
        raise LimprobError(f"{path}: no column named 'label' in the header")
    label_col = header.index("label")
    names = [name for i, name in enumerate(header) if i != label_col]
    features, labels = [], []
    for line, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise LimprobError(
                f"{path}: line {line} has {len(row) - 1} features, expected {len(names)}"
            )
        try:
            values = [float(v) for v in row]
        except ValueError:
            raise LimprobError(f"{path}: line {line} holds a value that is not a number")
        labels.append(values.pop(label_col))
        features.append(values)
    classes = [f"class_{k}" for k in range(n_classes)]
    return _table(np.array(features, dtype=np.float64).reshape(len(body), len(names)),
                  np.array(labels), names, classes, str(path))


def _load_netcdf(path: Path, n_classes: int) -> xr.Dataset:
    try:
        with xr.open_dataset(path) as opened:
            raw = opened.load()
    except (OSError, ValueError) as error:
        raise LimprobError(f"{path}: not a readable NetCDF file ({error})")
    if "features" not in raw or "labels" not in raw:
        raise LimprobError(f"{path}: needs variables 'features' (obs, feature) and 'labels' (obs)")
    features = raw["features"].transpose("obs", ...).values
    if features.ndim != 2:
        raise LimprobError(f"{path}: 'features' must have dims (obs, feature)")
    names = raw["feature"].values if "feature" in raw.coords else range(features.shape[1])
    classes = (raw["class"].values if "class" in raw.coords
               else [f"class_{k}" for k in range(n_classes)])
    return _table(features.astype(np.float64), raw["labels"].values,
                  [str(n) for n in names], [str(c) for c in classes], str(path))


def load_table(path: str | Path | None = None, n_classes: int = 2) -> xr.Dataset:
    """Load and check a table: the Wisconsin set when ``path`` is None, else a CSV or NetCDF.

    ``n_classes`` is the number of classes (one output neuron each) for tables that do not name
    their classes.
    """
    if path is None:
        return load_wisconsin()
    path = Path(path)
    if not path.is_file():
        raise LimprobError(f"{path}: no such data file")
    if path.suffix.lower() == ".csv":
        table = _load_csv(path, n_classes)
    elif path.suffix.lower() in (".nc", ".netcdf", ".nc4"):
        table = _load_netcdf(path, n_classes)
    else:
        raise LimprobError(f"{path}: data must be a .csv or .nc file")
    return check_table(table)


def check_fraction(train_fraction: float) -> float:
    """A training fraction must lie in (0, 1]."""
    return fraction("training fraction", train_fraction)


@dataclass(frozen=True)
class Split:
    """Scaled training and test tables, each with ``features (obs, feature)`` in [0, 1]
    (test values may fall outside, since the scaling is fitted on training samples only)
    and ``labels (obs)``."""

    train: xr.Dataset
    test: xr.Dataset


def split(
    table: xr.Dataset,
    seed: int = 0,
    test_fraction: float = 0.2,
    train_fraction: float = 1.0,
) -> Split:
    """Stratified train/test split, min-max scaling fitted on the training part only, then a
    stratified subsample of the training part to ``train_fraction`` of its size.

    The test part never depends on ``train_fraction``, so runs with different fractions are
    scored on the same samples.
    """
    train_fraction = check_fraction(train_fraction)
    labels = table["labels"].values
    train_obs, test_obs = train_test_split(
        table["obs"].values, test_size=test_fraction, stratify=labels, random_state=seed
    )
    train, test = table.sel(obs=np.sort(train_obs)), table.sel(obs=np.sort(test_obs))
    scaler = MinMaxScaler().fit(train["features"].values)
    train = train.copy(data={"features": scaler.transform(train["features"].values),
                             "labels": train["labels"].values})
    test = test.copy(data={"features": scaler.transform(test["features"].values),
                           "labels": test["labels"].values})
    if train_fraction < 1.0:
        train = subsample(train, train_fraction, seed)
    return Split(train=train, test=test)


def subsample(train: xr.Dataset, fraction: float, seed: int = 0) -> xr.Dataset:
    """A stratified subsample holding ``fraction`` of the samples, at least one per class."""
    fraction = check_fraction(fraction)
    labels = train["labels"].values
    n_classes = len(np.unique(labels))
    n_keep = max(n_classes, int(round(fraction * labels.size)))
    if n_keep >= labels.size:
        return train
    keep, _ = train_test_split(
        train["obs"].values, train_size=n_keep, stratify=labels, random_state=seed
    )
    return train.sel(obs=np.sort(keep))
