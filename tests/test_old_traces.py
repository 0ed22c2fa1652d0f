"""A trace written before the configuration was restructured (tests/fixtures/main_trace.nc,
written by ``limprob train`` at commit 2beade6) still loads, evaluates to the same report and
exports to NIR."""

import json
import math
from pathlib import Path

import numpy as np

from limprob.chip.nir import from_nir
from limprob.cli import main
from limprob.io import load_trace

FIXTURES = Path(__file__).resolve().parent / "fixtures"
OLD_TRACE = FIXTURES / "main_trace.nc"


def same_number(left, right) -> bool:
    if isinstance(left, str) or isinstance(right, str):
        return left == right
    return (math.isnan(left) and math.isnan(right)) or left == right


def test_an_old_trace_loads_with_its_network_and_groups():
    tree = load_trace(OLD_TRACE)
    assert {"posterior", "log_likelihood", "point_estimates", "predictions_constant_data"} <= set(
        tree.children
    )
    assert tree["posterior"]["W_in"].sizes["hidden"] == 4


def test_an_old_trace_evaluates_to_the_report_it_gave_when_written(capsys):
    assert main(["evaluate", str(OLD_TRACE), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    expected = json.loads((FIXTURES / "main_trace_evaluate.json").read_text())
    assert set(report) >= set(expected)
    different = {
        key: (report[key], value)
        for key, value in expected.items()
        if not same_number(report[key], value)
    }
    assert different == {}


def test_an_old_trace_exports_its_network_to_nir(tmp_path, capsys):
    out = tmp_path / "net.nir"
    assert main(["export", str(OLD_TRACE), "--nir", str(out)]) == 0
    capsys.readouterr()
    loaded = from_nir(out)
    assert (loaded.network.n_hidden, loaded.network.n_steps) == (4, 8)
    tree = load_trace(OLD_TRACE)
    best_chain = int(tree.attrs["posterior_mean_chain"])
    w_in = tree["posterior"]["W_in"].isel(chain=best_chain).mean("draw").values
    np.testing.assert_allclose(loaded.w_in, w_in, rtol=1e-6)
    assert main(["evaluate", "--network", str(out), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["network"] == "30-4-2" and report["time_steps"] == 8
