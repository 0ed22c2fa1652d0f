"""Training runs end to end: the trace's groups, reproducibility, NetCDF and ArviZ."""

from dataclasses import replace

import arviz as az
import numpy as np
import pytest
import xarray as xr

from limprob.errors import LimprobError
from limprob.inference import MCMCSettings, train
from limprob.inference.loo import robust_loo
from limprob.io import load_trace, save_trace

VOLATILE = {
    "created_at",
    "sampling_time",
    "wall_seconds",
    "projected_sampling_seconds",
}  # wall-clock facts, not results


def strip_volatile(tree):
    tree = tree.copy()
    for node in tree.subtree:
        node.attrs = {k: v for k, v in node.attrs.items() if k not in VOLATILE}
    return tree


@pytest.fixture(scope="module")
def tiny_run():
    from conftest import TINY

    return train(TINY, progressbar=False)


def test_trace_has_the_standard_groups_with_named_dims(tiny_run):
    from conftest import TINY

    assert {
        "posterior",
        "log_likelihood",
        "sample_stats",
        "observed_data",
        "constant_data",
        "predictions",
        "point_estimates",
        "predictions_constant_data",
        "posterior_predictive",
    } <= set(tiny_run.children)
    assert tiny_run["posterior"]["W_in"].dims == ("chain", "draw", "feature", "hidden")
    assert tiny_run["posterior"]["W_out"].dims == ("chain", "draw", "hidden", "class")
    assert tiny_run["log_likelihood"]["y"].dims == ("chain", "draw", "obs")
    assert list(tiny_run["posterior"]["class"].values) == ["malignant", "benign"]
    # one dim per label set: the input neurons are the features, the outputs the classes
    np.testing.assert_array_equal(
        tiny_run["posterior"]["feature"].values, tiny_run["constant_data"]["feature"].values
    )
    np.testing.assert_array_equal(
        tiny_run["posterior"]["class"].values, tiny_run["point_estimates"]["class"].values
    )
    # training and test observations keep their row numbers and never overlap
    train_obs = set(tiny_run["observed_data"]["obs"].values)
    test_obs = set(tiny_run["predictions"]["obs"].values)
    assert train_obs and test_obs and not train_obs & test_obs
    assert tiny_run.attrs["chip_strength"] == 1.0 and tiny_run.attrs["network_n_hidden"] == 8
    # a complete run says so; train() timed two chip queries for its projection first
    assert (
        tiny_run.attrs["interrupted"],
        tiny_run.attrs["draws_completed"],
        tiny_run.attrs["chains_completed"],
    ) == (0, TINY.mcmc.draws, TINY.mcmc.chains)
    assert "signal" not in tiny_run.attrs
    assert tiny_run.attrs["projection_chip_queries"] == 2
    assert tiny_run.attrs["projected_sampling_seconds"] > 0


def test_queries_are_counted_per_chain_and_apart_from_evaluation(tiny_run):
    queries = tiny_run["sample_stats"]["chip_queries"]
    # the default sampler: the start point plus one query per proposal, tuning included
    np.testing.assert_array_equal(queries.isel(draw=-1).values, [1501, 1501])
    assert tiny_run.attrs["training_chip_queries"] == 3002
    # evaluation: the three point estimates on the test set, the reported one on the training
    # set, and one query per thinned draw
    n_thinned = tiny_run["predictions"].sizes["chain"] * tiny_run["predictions"].sizes["draw"]
    assert tiny_run["point_estimates"].sizes["point_estimate"] == 3
    assert tiny_run.attrs["evaluation_chip_queries"] == 3 + 1 + n_thinned


def test_log_likelihood_is_recorded_and_consistent_with_lp(tiny_run):
    assert tiny_run.attrs["log_likelihood_source"] == "recorded while sampling"
    loglik = tiny_run["log_likelihood"]["y"].sum("obs")
    w = tiny_run["posterior"]
    log_prior = sum(
        (-0.5 * w[name] ** 2 - 0.5 * np.log(2 * np.pi)).sum(
            [d for d in w[name].dims if d not in ("chain", "draw")]
        )
        for name in ("W_in", "W_out")
    )
    np.testing.assert_allclose(loglik + log_prior, tiny_run["sample_stats"]["lp"], rtol=1e-9)


def test_same_seeds_give_a_bit_identical_trace(tiny_run):
    from conftest import TINY

    again = train(TINY, progressbar=False)
    xr.testing.assert_identical(strip_volatile(again), strip_volatile(tiny_run))
    other = train(replace(TINY, mcmc=replace(TINY.mcmc, seed=1)), progressbar=False)
    assert not np.array_equal(
        other["posterior"]["W_in"].values, tiny_run["posterior"]["W_in"].values
    )


def test_netcdf_round_trip_and_arviz(tiny_run, tmp_path):
    path = save_trace(tiny_run, tmp_path / "run.nc")
    assert [p.name for p in tmp_path.iterdir()] == ["run.nc"]  # no temporary left behind
    loaded = az.from_netcdf(path)
    for group in tiny_run.children:
        for name, variable in tiny_run[group].data_vars.items():
            assert loaded[group][name].dims == variable.dims
            np.testing.assert_array_equal(loaded[group][name].values, variable.values)
    for key, value in tiny_run.attrs.items():  # some are per-chain arrays
        assert np.array_equal(loaded.attrs[key], value), key
    # a second round trip changes nothing at all
    second = az.from_netcdf(save_trace(loaded, tmp_path / "again.nc"))
    xr.testing.assert_identical(second, loaded)
    # every numeric variable is stored compressed
    assert loaded["posterior"]["W_in"].encoding["zlib"] is True
    assert loaded["log_likelihood"]["y"].encoding["zlib"] is True
    result = robust_loo(loaded)
    assert np.isfinite(result.elpd)
    assert result.n_data_points == tiny_run["observed_data"].sizes["obs"]
    summary = az.summary(loaded, var_names=["W_out"])
    assert len(summary) == 8 * 2


def test_every_group_has_named_dims_and_sampled_groups_have_chain_and_draw(tiny_run):
    from conftest import untidy_dims

    assert untidy_dims(tiny_run) == []
    assert tiny_run["posterior_predictive"]["y"].sizes == tiny_run["log_likelihood"]["y"].sizes


def test_arviz_functions_for_mcmc_run_on_a_trace_as_it_comes(tiny_run):
    """Each ArviZ function that applies to an MCMC trace, with no argument but var_names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from limprob.inference.loo import robust_loo_pit

    n_weights = 30 * 8 + 8 * 2
    assert len(az.summary(tiny_run)) == n_weights
    assert len(az.summary(tiny_run, group="predictions")) == 114 * 2
    for diagnostic in (az.ess, az.rhat, az.mcse):
        values = diagnostic(tiny_run, var_names=["W_out"])["W_out"]  # the posterior node
        assert values.dims == ("hidden", "class") and np.isfinite(values).all()
    loo = az.loo(tiny_run)
    assert abs(loo.elpd - robust_loo(tiny_run).elpd) < 1e-9
    pit = az.loo_pit(tiny_run)["y"]
    assert pit.dims == ("obs",) and ((pit >= 0) & (pit <= 1)).all()
    np.testing.assert_allclose(pit, robust_loo_pit(tiny_run)["y"], rtol=0, atol=1e-12)
    table = az.compare({"run": tiny_run, "same": tiny_run.copy()})
    assert list(table["elpd_diff"]) == [0.0, 0.0]
    for plot in (az.plot_trace, az.plot_rank, az.plot_forest):
        plot(tiny_run, var_names=["W_out"])
    az.plot_ppc_dist(tiny_run)
    az.plot_loo_pit(tiny_run)
    plt.close("all")


def test_pymc_samplers_stay_selectable_and_are_counted(tiny_run):
    from conftest import TINY

    config = replace(TINY, mcmc=MCMCSettings(draws=2, tune=0, chains=1, sampler="demetropolisz"))
    tree = train(config, progressbar=False)
    queries = tree["sample_stats"]["chip_queries"].isel(chain=0).values
    np.testing.assert_array_equal(queries, [2, 4])  # current and proposed point each step
    assert tree.attrs["log_likelihood_source"] == "recomputed after sampling"
    assert tree.attrs["log_likelihood_chip_queries"] == 2
    assert tree["log_likelihood"]["y"].dims == ("chain", "draw", "obs")


def test_load_refuses_files_that_are_not_traces(tmp_path):
    (tmp_path / "text.nc").write_text("not netcdf")
    with pytest.raises(LimprobError, match="not a NetCDF"):
        load_trace(tmp_path / "text.nc")
    xr.Dataset({"a": ("x", [1.0])}).to_netcdf(tmp_path / "plain.nc")
    with pytest.raises(LimprobError, match="not a limprob trace"):
        load_trace(tmp_path / "plain.nc")


def test_traces_of_the_older_layout_are_read_in_todays():
    from limprob.io import upgrade

    rng = np.random.default_rng(0)
    points = rng.random((3, 5, 2))
    draws = rng.random((2, 4, 5, 2))
    old = xr.DataTree.from_dict(
        {
            "predictions": xr.Dataset(
                {
                    "probability_point": (("point_estimate", "obs", "class"), points),
                    "probability": (("chain", "draw", "obs", "class"), draws),
                },
                coords={"point_estimate": ["mean", "best", "last"]},
            )
        }
    )
    new = upgrade(old)
    np.testing.assert_array_equal(new["point_estimates"]["probability"], points)
    assert list(new["point_estimates"]["point_estimate"].values) == ["mean", "best", "last"]
    assert set(new["predictions"].data_vars) == {"probability"}
    assert "point_estimate" not in new["predictions"].dims
    backprop = xr.DataTree.from_dict(
        {"predictions": xr.Dataset({"probability": (("obs", "class"), points[0])})}
    )
    new = upgrade(backprop)
    assert new["point_estimates"]["probability"].dims == ("point_estimate", "obs", "class")
    assert "predictions" not in new.children
