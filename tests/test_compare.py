"""limprob compare: ArviZ's LOO table for saved traces, and refusal of different data."""

import argparse
import json

import numpy as np
import pytest
import xarray as xr

from limprob.cli import compare as compare_command
from limprob.errors import LimprobError
from limprob.inference.compare import compare_traces
from limprob.io import save_trace


def fake_trace(y, mean, sd, seed, method="mh", lml=None):
    """A trace of the normal model y ~ N(mu, sd) with mu's posterior draws around ``mean``."""
    rng = np.random.default_rng(seed)
    mu = mean + 0.1 * rng.standard_normal((2, 200))
    loglik = -0.5 * ((y[None, None] - mu[..., None]) / sd) ** 2 - np.log(sd * np.sqrt(2 * np.pi))
    coords = {"chain": [0, 1], "draw": np.arange(200), "obs": np.arange(y.size)}
    tree = xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset({"mu": (("chain", "draw"), mu)}, coords=coords),
            "log_likelihood": xr.Dataset({"y": (("chain", "draw", "obs"), loglik)}, coords=coords),
            "observed_data": xr.Dataset({"y": ("obs", y)}, coords={"obs": coords["obs"]}),
            "sample_stats": xr.Dataset(
                {"log_marginal_likelihood": ("chain", np.full(2, lml if lml is not None else 0.0))},
                coords={"chain": [0, 1]},
            ),
        }
    )
    tree.attrs.update(limprob_trace=1, method=method)
    return tree


@pytest.fixture
def traces(tmp_path):
    y = np.random.default_rng(0).normal(1.0, 1.0, 40)
    paths = {}
    for name, (mean, lml) in {"good": (1.0, -60.0), "bad": (-1.0, -90.0)}.items():
        paths[name] = save_trace(fake_trace(y, mean, 1.0, 1, "smc", lml), tmp_path / f"{name}.nc")
    other = save_trace(fake_trace(y + 1.0, 1.0, 1.0, 2), tmp_path / "other.nc")
    return paths, other


def test_compare_gives_arviz_table_with_pareto_k_and_bayes_factor(traces):
    import arviz as az

    paths, _ = traces
    table = compare_traces([paths["good"], paths["bad"]])
    assert list(table.index) == ["good", "bad"]
    for column in (
        "rank",
        "elpd",
        "p",
        "elpd_diff",
        "weight",
        "se",
        "dse",
        "pareto_k_max",
        "pareto_k_bad",
        "log10_bayes_factor",
    ):
        assert column in table.columns
    with xr.open_datatree(paths["good"]) as good, xr.open_datatree(paths["bad"]) as bad:
        expected = az.compare({"good": good.load(), "bad": bad.load()}, round_to="none")
    np.testing.assert_allclose(table["elpd"], expected["elpd"])
    np.testing.assert_allclose(table.loc["bad", "log10_bayes_factor"], 30 / np.log(10))
    # ArviZ 1.x: elpd_diff is relative to the best model
    assert table.loc["good", "elpd_diff"] == 0 and table.loc["bad", "elpd_diff"] < 0


def test_comparing_different_observations_is_refused(traces):
    paths, other = traces
    with pytest.raises(LimprobError, match="different observations"):
        compare_traces([paths["good"], other])


def harness():
    parser = argparse.ArgumentParser()
    compare_command.register(parser.add_subparsers(dest="command"))
    return parser


def test_compare_command_prints_json_and_writes_plot(traces, tmp_path, capsys):
    paths, _ = traces
    args = harness().parse_args(
        [
            "compare",
            str(paths["good"]),
            str(paths["bad"]),
            "--json",
            "--plot",
            str(tmp_path / "cmp.png"),
        ]
    )
    args.run(args)
    report = json.loads(capsys.readouterr().out)
    assert report["var_name"] == "y" and set(report["models"]) == {"good", "bad"}
    assert (tmp_path / "cmp.png").stat().st_size > 0


def test_compare_command_on_different_data_exits_2(traces, capsys):
    from limprob import cli

    paths, other = traces
    assert cli.main(["compare", str(paths["good"]), str(other)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("limprob: error:") and "different observations" in err
    assert len(err.splitlines()) == 1
