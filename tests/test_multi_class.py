"""Multi-class tables end to end through the CLI: a 3-class CSV and the 10-class digits train,
evaluate and compare; the trace's ``class`` coordinate carries the classes' names."""

from __future__ import annotations

import json

import numpy as np
import pytest

from limprob.cli import main
from limprob.data import load_dataset
from limprob.io import load_trace

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")

TINY = [
    "--hidden",
    "3",
    "--steps",
    "4",
    "--draws",
    "20",
    "--tune",
    "10",
    "--chains",
    "2",
    "--predictive-draws",
    "4",
    "--no-progress",
    "--init",
    "prior",
]
"""Tiny runs from prior draws (digits' own default start, ideal-model backprop, is tested in
test_starts.py)."""


def _train(capsys, out, *table):
    assert main(["train", *table, *TINY, "--out", str(out)]) == 0
    capsys.readouterr()
    return load_trace(out)


def test_ten_classes_train_evaluate_and_compare(tmp_path, capsys):
    runs = [tmp_path / "a.nc", tmp_path / "b.nc"]
    tree = _train(capsys, runs[0], "--dataset", "digits", "--train-fraction", "0.1")
    names = [str(c) for c in load_dataset("digits")["class"].values]
    assert [str(c) for c in tree["posterior"]["class"].values] == names
    assert tree["posterior"]["W_out"].sizes["class"] == 10
    assert tree["point_estimates"]["probability"].sizes["class"] == 10
    labels = tree["predictions_constant_data"]["y"].values
    assert set(np.unique(labels)) <= set(range(10)) and len(np.unique(labels)) == 10

    assert main(["evaluate", str(runs[0]), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 0.0 <= report["test_accuracy_predictive"] <= 1.0

    assert (
        main(
            [
                "train",
                "--dataset",
                "digits",
                "--train-fraction",
                "0.1",
                *TINY,
                "--kappa",
                "4",
                "--out",
                str(runs[1]),
            ]
        )
        == 0
    )
    capsys.readouterr()
    assert main(["compare", *map(str, runs), "--json"]) == 0
    compared = json.loads(capsys.readouterr().out)
    assert compared["var_name"] == "y" and set(compared["models"]) == {"a", "b"}


def test_a_three_class_csv_names_its_classes(tmp_path, capsys):
    rng = np.random.default_rng(0)
    labels = np.repeat([0, 1, 2], 20)
    features = rng.normal(labels[:, None], 0.5, (60, 4))
    path = tmp_path / "three.csv"
    rows = ["f0,f1,f2,f3,label"] + [
        ",".join(f"{v:.4f}" for v in row) + f",{label}" for row, label in zip(features, labels)
    ]
    path.write_text("\n".join(rows) + "\n")
    tree = _train(capsys, tmp_path / "three.nc", "--data", str(path))
    assert [str(c) for c in tree["posterior"]["class"].values] == ["class_0", "class_1", "class_2"]
    assert tree.attrs["kappa"] == 8.0 and tree.attrs["network_n_hidden"] == 3
