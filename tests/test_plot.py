"""Figures: ``limprob plot`` and ``limprob compare --plot`` write valid, labelled PNGs (bad
input is one line, exit 2, no PNG); the shared conventions' intervals lie in [0, 1] and hold
the estimate; an analysis figure redraws from its saved results alone."""

import shutil
import sys
from pathlib import Path

import matplotlib.image
import matplotlib.pyplot as plt
import numpy as np
import pytest
import xarray as xr

from limprob.cli import main
from limprob.inference.compare import compare_traces
from limprob.inference.diagnostics import function_space_draws
from limprob.inference.figure_style import (
    majority_rate,
    method_label,
    seed_interval,
    wilson_interval,
)
from limprob.inference.plots import draw_accuracies, plot_elpd_comparison, plot_training
from limprob.io import load_trace, save_trace
from test_cli import assert_refused, run_cli
from test_compare import fake_trace

ANALYSES = Path(__file__).resolve().parents[1] / "analyses"

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def assert_png(path):
    assert path.read_bytes()[:8] == PNG_SIGNATURE
    image = matplotlib.image.imread(path)
    assert image.ndim == 3 and image.shape[0] > 100 and image.shape[1] > 300
    assert image[..., :3].std() > 0  # not a blank canvas


def test_plot_writes_a_png_of_a_trace(small_trace, tmp_path, capsys):
    out = tmp_path / "run.png"
    code, stdout, err = run_cli(["plot", str(small_trace), "--out", str(out)], capsys)
    assert code == 0, err
    assert stdout.strip() == f"wrote {out}"
    assert_png(out)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run.png"]  # no temporary left


def test_one_chain_gets_a_note_instead_of_a_rank_plot(small_trace, tmp_path, capsys):
    tree = load_trace(small_trace)
    one = xr.DataTree.from_dict(
        {
            path: node.to_dataset().isel(chain=[0]) if "chain" in node.dims else node.to_dataset()
            for path, node in tree.subtree_with_keys
            if path != "."
        }
    )
    one.attrs.update(tree.attrs)
    save_trace(one, tmp_path / "one.nc")
    out = tmp_path / "one.png"
    assert run_cli(["plot", str(tmp_path / "one.nc"), "--out", str(out)], capsys)[0] == 0
    assert_png(out)
    figure = plot_training(one, "one.nc")
    try:
        assert len(visible_axes(figure)) == 2  # ranks within one chain are uniform: no panel
        assert any("one chain" in text.get_text() for ax in figure.axes for text in ax.texts)
    finally:
        plt.close(figure)


def test_what_the_panels_show(small_trace):
    tree = load_trace(small_trace)
    total = function_space_draws(tree)["log_likelihood"]
    assert total.dims == ("chain", "draw")
    np.testing.assert_allclose(total.values, tree["log_likelihood"]["y"].sum("obs").values)
    accuracies = draw_accuracies(tree)
    probability = tree["predictions"]["probability"].values
    labels = tree["predictions_constant_data"]["y"].values
    expected = (probability.argmax(-1) == labels).mean(-1)
    np.testing.assert_array_equal(accuracies.values, expected)


def test_plot_refuses_what_is_not_a_training_trace(small_trace, tmp_path, capsys):
    inputs = tmp_path / "inputs"
    inputs.mkdir()
    (inputs / "notes.nc").write_text("hello")
    probes = inputs / "probes.nc"
    assert (
        main(["probe", "--hidden", "2", "--probes", "2", "--obs", "4", "--out", str(probes)]) == 0
    )
    weights_only = inputs / "backprop.nc"
    tree = xr.DataTree.from_dict(
        {"weights": xr.Dataset({"W_in": (("input", "hidden"), np.zeros((3, 2)))})}
    )
    tree.attrs.update(limprob_trace=1, method="backprop")
    save_trace(tree, weights_only)
    capsys.readouterr()
    out = tmp_path / "plot.png"
    for trace, words in [
        (inputs / "notes.nc", "not a NetCDF"),
        (inputs / "absent.nc", "no such file"),
        (probes, "not a limprob trace"),
        (weights_only, "no log_likelihood group"),
    ]:
        assert_refused(["plot", str(trace), "--out", str(out)], capsys, words, tmp_path)
    assert_refused(
        ["plot", str(small_trace), "--out", str(tmp_path / "no" / "x.png")],
        capsys,
        "does not exist",
        tmp_path,
    )


def visible_axes(figure):
    return [ax for ax in figure.axes if ax.axison and ax.get_visible()]


def test_every_panel_of_the_training_plot_has_axis_labels_and_a_chance_line(small_trace):
    tree = load_trace(small_trace)
    figure = plot_training(tree, "run.nc")
    try:
        panels = visible_axes(figure)
        assert len(panels) == 3
        for ax in panels:
            assert ax.get_xlabel() and ax.get_ylabel(), ax.get_title()
        chance = majority_rate(tree["predictions_constant_data"]["y"].values)
        accuracy_panel = panels[[ax.get_title().startswith("(b)") for ax in panels].index(True)]
        assert any(np.allclose(line.get_ydata(), chance) for line in accuracy_panel.lines)
        assert any(
            text.startswith("chance") for text in accuracy_panel.get_legend_handles_labels()[1]
        )
        assert "tau_" not in figure.get_suptitle() and "MH" in figure.get_suptitle()
    finally:
        plt.close(figure)


@pytest.fixture
def two_traces(tmp_path):
    y = np.random.default_rng(0).normal(1.0, 1.0, 40)
    return [
        save_trace(fake_trace(y, mean, 1.0, seed), tmp_path / f"{name}.nc")
        for name, mean, seed in (("near", 1.0, 1), ("far", -1.0, 2))
    ]


def test_compare_plot_writes_a_labelled_png_of_elpd_differences(two_traces, tmp_path, capsys):
    out = tmp_path / "cmp.png"
    code, stdout, err = run_cli(
        ["compare", *map(str, two_traces), "--names", "near", "far", "--plot", str(out)], capsys
    )
    assert code == 0, err
    assert f"wrote {out}" in stdout
    assert_png(out)
    figure = plot_elpd_comparison(compare_traces(two_traces, ["near", "far"]))
    try:
        (ax,) = visible_axes(figure)
        assert "ELPD" in ax.get_xlabel() and ax.get_ylabel() == "model"
        assert [t.get_text() for t in ax.get_yticklabels()] == ["far", "near"]  # best on top
        assert figure.legends  # the markers are explained
    finally:
        plt.close(figure)


def test_seed_interval_stays_in_unit_range_and_holds_the_mean():
    rng = np.random.default_rng(1)
    values = np.concatenate(
        [rng.uniform(0.9, 1.0, (3, 5)), [[1.0, 1.0, 1.0, 0.2, 1.0], [0.0, 0.0, 0.1, 0.0, 0.0]]]
    )
    values[0, 2] = np.nan
    accuracy = xr.DataArray(
        values, dims=("strength", "seed"), coords={"strength": np.arange(5), "seed": np.arange(5)}
    )
    interval = seed_interval(accuracy)
    assert interval["mean"].dims == ("strength",)
    low, mean, high = (interval[k].values for k in ("low", "mean", "high"))
    assert np.all((0 <= low) & (low <= mean) & (mean <= high) & (high <= 1))
    assert np.all(low >= np.nanmin(values, axis=1)) and np.all(high <= np.nanmax(values, axis=1))
    np.testing.assert_allclose(mean, np.nanmean(values, axis=1))
    assert interval["n"].values.tolist() == [4, 5, 5, 5, 5]  # the NaN is left out
    assert high[3] > low[3] and low[3] < 0.99  # one bad seed of five widens the interval
    again = seed_interval(accuracy)
    np.testing.assert_array_equal(again["low"].values, low)  # seeded: the same every run
    where_empty = seed_interval(accuracy.where(accuracy.strength != 1))
    assert np.isnan(where_empty["mean"].values[1]) and np.isnan(where_empty["low"].values[1])


def test_wilson_interval_stays_in_unit_range_and_holds_the_estimate():
    n = 114
    successes = np.arange(n + 1)
    low, high = wilson_interval(successes, n)
    p = successes / n
    assert np.all((0 <= low) & (low <= p) & (p <= high) & (high <= 1))
    assert low[0] == 0 and high[-1] == 1 and high[0] > 0 and low[-1] < 1
    assert np.all(np.diff(low) > 0) and np.all(high[0] - low[0] < high[n // 2] - low[n // 2])
    with pytest.raises(ValueError):
        wilson_interval(5, 4)


def test_chance_is_the_majority_class_and_methods_read_as_words():
    assert majority_rate([0, 1, 1, 2]) == 0.5
    assert majority_rate([0, 1, 2]) == pytest.approx(1 / 3)
    assert method_label("mh", "pcn") == "MH (pCN)"
    assert method_label("backprop") == "backprop, ideal model"
    assert method_label("in_the_loop_backprop") == "backprop, in the loop"


def test_an_analysis_figure_redraws_from_its_saved_results_alone(tmp_path, monkeypatch):
    shutil.copy(ANALYSES / "results" / "accuracy_vs_distortion.nc", tmp_path)
    monkeypatch.syspath_prepend(str(ANALYSES))
    monkeypatch.setattr(sys, "argv", ["accuracy_vs_distortion.py"])
    import accuracy_vs_distortion

    assert accuracy_vs_distortion.main(["--replot", "--out-dir", str(tmp_path)]) == 0
    assert_png(tmp_path / "accuracy_vs_distortion.png")
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "accuracy_vs_distortion.nc",
        "accuracy_vs_distortion.png",
    ]
