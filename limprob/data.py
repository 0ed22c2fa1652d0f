"""Labelled tables of features for the chip: loading, checking, splitting, scaling.

Built-in tables (:data:`DATASETS`, :func:`load_dataset`), none downloaded at run time:

- ``wisconsin`` (the default): the Wisconsin Diagnostic Breast Cancer set that scikit-learn
  ships inside its package (569 samples, 30 features, 212 malignant and 357 benign);
- ``yinyang``: the Yin-Yang set of Kriener, Goeltz and Petrovici (2021), generated here from
  its published definition (:func:`load_yinyang`; 5,000 training and 1,000 test points);
- ``digits``, ``wine``: scikit-learn's bundled 8 x 8 handwritten digits (1,797 samples, 64
  features, 10 classes) and wine (178 samples, 13 features, 3 classes).

A user's own table loads through the same checks:

- CSV (UTF-8; a byte-order mark is dropped) with a header of distinct names: one column per
  feature and a column named ``label`` holding integer class indices 0 .. K - 1, every class
  present; the classes are named ``class_0 .. class_{K-1}``;
- NetCDF: a numeric variable ``features`` with dims (obs, feature) and a variable ``labels``
  with the one dim obs; an optional ``class`` coordinate names the classes (labels index it),
  else the classes follow from the labels as for a CSV.

Refused with one line: a folder, pipe or device instead of a file, an empty file, a file
whose reading would take more memory than allowed (estimated before it is read), more than
:data:`MAX_COLUMNS` columns or a CSV header line longer than :data:`MAX_HEADER_BYTES`, text
that is not UTF-8, repeated column names (a second ``label`` would leak the labels), fewer than two
classes, a class with fewer than two samples (the split is stratified), NaN or infinite
features, or a feature whose range max - min overflows a float (it cannot be scaled).

Every table is an :class:`xarray.Dataset` with ``features (obs, feature)`` and
``labels (obs)``, coordinates ``feature`` and ``class`` (names) and the attribute ``source``;
the ``obs`` coordinate is the row index in the original table, so training and test samples
keep their identity through a split. A table may carry ``test_size`` (a number of samples), the
size of its test part when :func:`split` is not given one.
"""

from __future__ import annotations

import csv
from array import array
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import MinMaxScaler

from limprob.errors import LimprobError
from limprob.validation import fraction, non_negative_integer, positive_integer

DEFAULT_CLASSES = ("malignant", "benign")
"""scikit-learn's label 0 is malignant and 1 is benign."""

DATASETS = ("wisconsin", "yinyang", "digits", "wine")
"""The built-in tables, by the name :func:`load_dataset` takes; the first is the default."""

YINYANG_R_BIG = 0.5
"""Radius of the Yin-Yang's big circle, centred on (0.5, 0.5) (dimensionless coordinates)."""
YINYANG_R_SMALL = 0.1
"""Radius of its two dots, centred on (0.25, 0.5) and (0.75, 0.5)."""
YINYANG_CLASSES = ("yin", "yang", "dot")
"""The original's class names for the labels 0, 1, 2."""


def _table(
    features: np.ndarray,
    labels: np.ndarray,
    feature_names: Sequence[str],
    class_names: Sequence[str],
    name: str,
) -> xr.Dataset:
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

    Features must be finite, there must be ``n_features`` of them when that is given, every
    label must be one of the table's classes, and the labels must hold at least two classes.
    """
    source = table.attrs.get("source", "data")
    features = table["features"].values
    labels = table["labels"].values
    if features.ndim != 2 or features.shape[0] == 0 or features.shape[1] == 0:
        raise LimprobError(f"{source}: expected a non-empty table of samples x features")
    if n_features is not None and features.shape[1] != n_features:
        raise LimprobError(f"{source}: has {features.shape[1]} features, expected {n_features}")
    bad = ~np.isfinite(features)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise LimprobError(
            f"{source}: feature {str(table['feature'].values[col])!r} of sample {row} is "
            f"{features[row, col]} (NaN or infinite values are not allowed)"
        )
    with np.errstate(over="ignore"):
        span = features.max(axis=0) - features.min(axis=0)
    if not np.all(np.isfinite(span)):
        col = int(np.argmin(np.isfinite(span)))
        raise LimprobError(
            f"{source}: feature {str(table['feature'].values[col])!r} spans more than a float "
            "holds (max - min overflows), so it cannot be scaled to [0, 1]"
        )
    n_classes = table.sizes["class"]
    if not np.issubdtype(labels.dtype, np.integer):
        if labels.dtype.kind != "f" or not (
            np.all(np.isfinite(labels)) and np.all(labels == np.round(labels))
        ):
            raise LimprobError(f"{source}: labels must be integer class indices")
        labels = labels.astype(np.int64)
    outside = (labels < 0) | (labels >= n_classes)
    if outside.any():
        raise LimprobError(
            f"{source}: label {labels[outside][0]} is outside the classes 0..{n_classes - 1}"
        )
    if np.unique(labels).size < 2:
        raise LimprobError(
            f"{source}: every sample is of class {str(table['class'].values[labels[0]])!r}; "
            "a classifier needs at least two classes"
        )
    return table.assign(labels=("obs", labels.astype(np.int64)))


def _sklearn_table(
    load: Callable[[], Any], name: str, class_names: Sequence[str] | None = None
) -> xr.Dataset:
    """A table from one of scikit-learn's bundled sets; classes named by its ``target_names``
    unless ``class_names`` is given."""
    bunch = load()
    names = class_names if class_names is not None else [str(c) for c in bunch.target_names]
    table = _table(
        bunch.data.astype(np.float64),
        bunch.target.astype(np.int64),
        bunch.feature_names,
        names,
        name,
    )
    return check_table(table)


def load_wisconsin() -> xr.Dataset:
    """The Wisconsin Diagnostic Breast Cancer table from scikit-learn's bundled copy."""
    from sklearn import datasets

    return _sklearn_table(datasets.load_breast_cancer, "wisconsin", DEFAULT_CLASSES)


def load_digits() -> xr.Dataset:
    """scikit-learn's 8 x 8 handwritten digits: 1,797 samples, 64 pixel intensities in 0..16,
    classes "0" .. "9"."""
    from sklearn import datasets

    return _sklearn_table(datasets.load_digits, "digits")


def load_wine() -> xr.Dataset:
    """scikit-learn's wine recognition set: 178 samples, 13 chemical measurements, classes
    class_0, class_1, class_2 (59, 71 and 48 samples)."""
    from sklearn import datasets

    return _sklearn_table(datasets.load_wine, "wine")


def yinyang_class(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The Yin-Yang class (0, 1 or 2) of points (x, y) inside the big circle.

    With R = :data:`YINYANG_R_BIG`, r = :data:`YINYANG_R_SMALL` and the distances to the
    centres of the right and left dots,

        d_R = sqrt((x - 1.5 R)^2 + (y - R)^2),   d_L = sqrt((x - 0.5 R)^2 + (y - R)^2),

    a point is a dot (2) if d_R < r or d_L < r; otherwise it is 1 if
    d_R <= r  or  r < d_L <= R / 2  or  (y > R and d_R > R / 2), and 0 if not. These are the
    original's ``which_class`` equations (its variable for class 1 is called ``is_yin``,
    though its ``class_names`` call label 1 "yang"; limprob keeps its labels and names).
    """
    big, small = YINYANG_R_BIG, YINYANG_R_SMALL
    d_right = np.sqrt((x - 1.5 * big) ** 2 + (y - big) ** 2)
    d_left = np.sqrt((x - 0.5 * big) ** 2 + (y - big) ** 2)
    one = (
        (d_right <= small)
        | ((d_left > small) & (d_left <= 0.5 * big))
        | ((y > big) & (d_right > 0.5 * big))
    )
    dot = (d_right < small) | (d_left < small)
    return np.where(dot, 2, one.astype(np.int64))


def yinyang_points(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """``n`` Yin-Yang points ``(x, y)`` of shape (n, 2) and their labels, drawn as the original
    draws them: each sample's class uniformly from {0, 1, 2}, then its point uniformly in that
    class's region, by rejection of uniform points in the unit square [0, 2R)^2 that fall
    outside the big circle, sqrt((x - R)^2 + (y - R)^2) > R, or in another class. Classes
    are therefore balanced in expectation (multinomial counts), not exactly.

    Points are drawn in batches of ``n`` and handed out in order to the samples of each class,
    which gives every sample an independent uniform point of its class, as the original's
    one-at-a-time loop does.
    """
    big = YINYANG_R_BIG
    goal = rng.integers(3, size=n)
    wanted = np.bincount(goal, minlength=3)
    found = [np.empty((0, 2)) for _ in range(3)]
    while any(len(f) < k for f, k in zip(found, wanted)):
        xy = rng.random((n, 2)) * 2.0 * big
        xy = xy[np.sqrt((xy[:, 0] - big) ** 2 + (xy[:, 1] - big) ** 2) <= big]
        label = yinyang_class(xy[:, 0], xy[:, 1])
        found = [np.concatenate([f, xy[label == k]]) for k, f in enumerate(found)]
    points = np.empty((n, 2))
    for k in range(3):
        points[goal == k] = found[k][: wanted[k]]
    return points, goal


def load_yinyang(seed: int = 0, n_train: int = 5000, n_test: int = 1000) -> xr.Dataset:
    """The Yin-Yang table: ``n_train + n_test`` points from :func:`yinyang_points` with
    ``numpy.random.default_rng(seed)`` (bit-identical for the same seed), inputs
    (x, y, 1 - x, 1 - y), all in [0, 1], and the attribute ``test_size = n_test`` that
    :func:`split` uses for the size of the test part.
    """
    seed = non_negative_integer("data seed", seed)
    n_train = positive_integer("training size", n_train)
    n_test = positive_integer("test size", n_test)
    points, labels = yinyang_points(n_train + n_test, np.random.default_rng(seed))
    x, y = points[:, 0], points[:, 1]
    table = _table(
        np.column_stack([x, y, 1.0 - x, 1.0 - y]),
        labels,
        ("x", "y", "1-x", "1-y"),
        YINYANG_CLASSES,
        "yinyang",
    )
    table.attrs["test_size"] = n_test
    return check_table(table)


def load_dataset(name: str, seed: int = 0) -> xr.Dataset:
    """The built-in table ``name`` (one of :data:`DATASETS`); ``seed`` matters only for the
    generated ``yinyang``."""
    loaders = {
        "wisconsin": load_wisconsin,
        "yinyang": lambda: load_yinyang(seed),
        "digits": load_digits,
        "wine": load_wine,
    }
    if name not in loaders:
        raise LimprobError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
    return loaders[name]()


def _class_names(labels: np.ndarray, source: object) -> list[str]:
    """``class_0 .. class_{K-1}`` for labels that are the indices 0 .. K - 1, every one present;
    a label above a missing index is refused. Labels that are not non-negative integers are
    left to :func:`check_table`."""
    labels = np.asarray(labels)
    if labels.dtype.kind not in "iuf":
        return []
    valid = labels[np.isfinite(labels) & (labels >= 0) & (labels == np.round(labels))]
    present = set(valid.astype(np.int64).tolist())
    n_classes = next(k for k in range(len(present) + 1) if k not in present)
    beyond = valid[valid > n_classes]
    if beyond.size:
        classes = f" 0..{n_classes - 1}" if n_classes else ""
        raise LimprobError(
            f"{source}: label {int(beyond[0])} is outside the classes{classes}: no sample has "
            f"label {n_classes} (labels must be the class indices 0..K-1, each one present)"
        )
    return [f"class_{k}" for k in range(n_classes)]


MAX_COLUMNS = 10_000
"""Most columns of a table (features and the label): each feature is an input neuron."""
MAX_HEADER_BYTES = 1 << 20
"""Longest header line of a CSV (1 MiB); a longer one is refused before the rest is read."""
CSV_BYTES_PER_BYTE = 8
"""Memory a CSV takes to read, per byte of file: a number takes at least two bytes ("0,") and
eight as a float64, and the table is copied once (4 x 2)."""


def _load_csv(path: Path, max_memory: float | None = None) -> xr.Dataset:
    try:  # utf-8-sig: a byte-order mark, as spreadsheet programs write, is dropped
        with path.open(newline="", encoding="utf-8-sig") as handle:
            first = handle.readline(MAX_HEADER_BYTES + 1)
            if len(first) > MAX_HEADER_BYTES:
                raise LimprobError(
                    f"{path}: the header line is longer than "
                    f"{MAX_HEADER_BYTES:,} characters; a table has at most "
                    f"{MAX_COLUMNS:,} columns"
                )
            header = next(csv.reader([first]), None)
            if header is None:
                raise LimprobError(f"{path}: the file is empty")
            names, label_col = _csv_header(path, header)
            from limprob.validation import check_memory  # the header first: it is quick

            check_memory(
                CSV_BYTES_PER_BYTE * path.stat().st_size, f"{path}: reading this table", max_memory
            )
            values, n_rows = array("d"), 0
            for line, row in enumerate(csv.reader(handle), start=2):
                if not row:
                    continue
                if len(row) != len(header):
                    raise LimprobError(
                        f"{path}: line {line} has {len(row) - 1} features, expected {len(names)}"
                    )
                try:
                    values.extend(float(v) for v in row)
                except ValueError:
                    raise LimprobError(
                        f"{path}: line {line} holds a value that is not a number"
                    ) from None
                n_rows += 1
    except UnicodeDecodeError as error:
        raise LimprobError(
            f"{path}: not UTF-8 text (byte {error.start} is "
            f"0x{error.object[error.start]:02x}); save the CSV as UTF-8"
        ) from None
    except csv.Error as error:
        raise LimprobError(f"{path}: not a readable CSV ({error})") from None
    table = np.frombuffer(values, dtype=np.float64).reshape(n_rows, len(header))
    labels = table[:, label_col]
    features = np.delete(table, label_col, axis=1)
    return _table(features, labels, names, _class_names(labels, path), str(path))


def _csv_header(path: Path, header: list[str]) -> tuple[list[str], int]:
    """The feature names and the label's column of a CSV header: at most
    :data:`MAX_COLUMNS` distinct names (counted in one pass), one of them ``label``."""
    header = [name.strip() for name in header]
    if len(header) > MAX_COLUMNS:
        raise LimprobError(f"{path}: {len(header):,} columns; a table has at most {MAX_COLUMNS:,}")
    counts = Counter(header)
    repeated = sorted(name for name, n in counts.items() if n > 1)
    if repeated:
        raise LimprobError(
            f"{path}: the column name(s) {', '.join(map(repr, repeated[:5]))} "
            "repeat (a second 'label' would leak the labels into the features)"
        )
    if "label" not in counts:
        raise LimprobError(f"{path}: no column named 'label' in the header")
    label_col = header.index("label")
    return [name for i, name in enumerate(header) if i != label_col], label_col


def _load_netcdf(path: Path, max_memory: float | None = None) -> xr.Dataset:
    from limprob.io import read_netcdf

    raw = read_netcdf(path, "table", max_memory=max_memory)
    if "features" not in raw or "labels" not in raw:
        raise LimprobError(f"{path}: needs variables 'features' (obs, feature) and 'labels' (obs)")
    if raw["features"].ndim != 2 or "obs" not in raw["features"].dims:
        raise LimprobError(
            f"{path}: 'features' must have dims (obs, feature), not {raw['features'].dims}"
        )
    if raw["labels"].dims != ("obs",):
        raise LimprobError(f"{path}: 'labels' must have the one dim obs, not {raw['labels'].dims}")
    if raw["features"].dtype.kind not in "iuf":
        raise LimprobError(f"{path}: 'features' must be numbers, not {raw['features'].dtype}")
    features = raw["features"].transpose("obs", ...).values
    if features.shape[1] + 1 > MAX_COLUMNS:
        raise LimprobError(
            f"{path}: {features.shape[1]:,} features; a table has at most {MAX_COLUMNS - 1:,}"
        )
    feature_dim = raw["features"].transpose("obs", ...).dims[1]
    names = raw[feature_dim].values if feature_dim in raw.coords else range(features.shape[1])
    labels = raw["labels"].values
    classes = raw["class"].values if "class" in raw.coords else _class_names(labels, path)
    if len(names) != features.shape[1] or np.ndim(classes) != 1:
        raise LimprobError(f"{path}: the feature or class names do not fit the features")
    feature_names, class_names = [str(n) for n in names], [str(c) for c in classes]
    for what, values in (("feature", feature_names), ("class", class_names)):
        if len(set(values)) != len(values):
            raise LimprobError(f"{path}: the {what} names repeat")
    return _table(features.astype(np.float64), labels, feature_names, class_names, str(path))


def load_table(path: str | Path | None = None, *, max_memory: float | None = None) -> xr.Dataset:
    """Load and check a table: the Wisconsin set when ``path`` is None, else a CSV or NetCDF
    whose classes (one output neuron each) are its ``class`` coordinate or, without one, the
    label values 0 .. K - 1. The memory reading it takes is estimated from the file's size
    (CSV) or header (NetCDF) and checked against ``max_memory`` (default: the memory
    available) before it is read."""
    from limprob.io import check_input_file

    if path is None:
        return load_wisconsin()
    path = check_input_file(path, "data file")
    if path.suffix.lower() == ".csv":
        table = _load_csv(path, max_memory)
    elif path.suffix.lower() in (".nc", ".netcdf", ".nc4"):
        table = _load_netcdf(path, max_memory)
    else:
        raise LimprobError(f"{path}: data must be a .csv or .nc file")
    with np.errstate(all="ignore"):
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
    test_fraction: float | None = None,
    train_fraction: float = 1.0,
) -> Split:
    """Stratified train/test split, min-max scaling fitted on the training part only, then a
    stratified subsample of the training part to ``train_fraction`` of its size.

    Without ``test_fraction`` the test part is the table's ``test_size`` samples (Yin-Yang:
    1,000) or, for a table without one, 0.2 of the samples. The test part never depends on
    ``train_fraction``, so runs with different fractions are scored on the same samples.
    """
    train_fraction = check_fraction(train_fraction)
    if test_fraction is None:
        test_fraction = table.attrs.get("test_size", 0.2)
    labels = table["labels"].values
    source = table.attrs.get("source", "data")
    counts = np.bincount(labels, minlength=table.sizes["class"])
    present = np.where(counts > 0, counts, np.iinfo(counts.dtype).max)
    if present.min() < 2:
        rare = int(np.argmin(present))
        raise LimprobError(
            f"{source}: class {str(table['class'].values[rare])!r} has {counts[rare]} sample(s); "
            "a stratified train/test split needs at least 2 of every class"
        )
    try:
        train_obs, test_obs = train_test_split(
            table["obs"].values, test_size=test_fraction, stratify=labels, random_state=seed
        )
    except ValueError as error:
        raise LimprobError(
            f"{source}: cannot split {labels.size} samples of "
            f"{np.count_nonzero(counts)} classes into train and test "
            f"({error})"
        ) from None
    train, test = table.sel(obs=np.sort(train_obs)), table.sel(obs=np.sort(test_obs))
    scaler = MinMaxScaler().fit(train["features"].values)
    train = train.copy(
        data={
            "features": scaler.transform(train["features"].values),
            "labels": train["labels"].values,
        }
    )
    test = test.copy(
        data={
            "features": scaler.transform(test["features"].values),
            "labels": test["labels"].values,
        }
    )
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
