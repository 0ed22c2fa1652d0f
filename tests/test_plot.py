"""``limprob plot``: a valid PNG of a training trace; bad input is one line, exit 2, no PNG."""

import matplotlib.image
import numpy as np
import xarray as xr

from limprob.cli import main
from limprob.inference.diagnostics import function_space_draws
from limprob.inference.plots import draw_accuracies
from limprob.io import load_trace, save_trace
from test_cli import assert_refused, run_cli

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


def test_one_chain_gets_the_envelope_rank_plot(small_trace, tmp_path, capsys):
    tree = load_trace(small_trace)
    one = xr.DataTree.from_dict({path: node.to_dataset().isel(chain=[0])
                                 if "chain" in node.dims else node.to_dataset()
                                 for path, node in tree.subtree_with_keys if path != "."})
    one.attrs.update(tree.attrs)
    save_trace(one, tmp_path / "one.nc")
    out = tmp_path / "one.png"
    assert run_cli(["plot", str(tmp_path / "one.nc"), "--out", str(out)], capsys)[0] == 0
    assert_png(out)


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
    assert main(["probe", "--hidden", "2", "--probes", "2", "--obs", "4", "--out",
                 str(probes)]) == 0
    weights_only = inputs / "backprop.nc"
    tree = xr.DataTree.from_dict({"weights": xr.Dataset({"W_in": (("input", "hidden"),
                                                                  np.zeros((3, 2)))})})
    tree.attrs.update(limprob_trace=1, method="backprop")
    save_trace(tree, weights_only)
    capsys.readouterr()
    out = tmp_path / "plot.png"
    for trace, words in [(inputs / "notes.nc", "not a NetCDF"), (inputs / "absent.nc",
                                                                 "no such file"),
                         (probes, "not a limprob trace"),
                         (weights_only, "no log_likelihood group")]:
        assert_refused(["plot", str(trace), "--out", str(out)], capsys, words, tmp_path)
    assert_refused(["plot", str(small_trace), "--out", str(tmp_path / "no" / "x.png")], capsys,
                   "does not exist", tmp_path)
