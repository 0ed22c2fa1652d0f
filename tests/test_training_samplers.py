"""Every sampler through limprob train: it runs, counts its queries, reports its convergence,
and refuses what it cannot do with one line and exit code 2."""

import json
from dataclasses import replace

import numpy as np
import pytest
import xarray as xr

from conftest import untidy_dims
from limprob.chip.settings import ChipSettings
from limprob.cli import main
from limprob.errors import LimprobError
from limprob.inference.training import EvaluationSettings, MCMCSettings, TrainConfig, train
from limprob.snn import Network

SMALL = TrainConfig(
    network=Network(n_hidden=4),
    mcmc=MCMCSettings(draws=60, tune=40, chains=2),
    evaluation=EvaluationSettings(predictive_draws=20, train_fraction=0.3),
)


@pytest.mark.parametrize(
    "sampler,blocks",
    [("pcn", "joint"), ("slice", "joint"), ("demcz", "joint"), ("blocked", "layers")],
)
def test_each_sampler_trains_reproducibly_and_reports_function_space_diagnostics(sampler, blocks):
    config = replace(SMALL, mcmc=replace(SMALL.mcmc, sampler=sampler, blocks=blocks))
    tree = train(config, progressbar=False)
    again = train(config, progressbar=False)
    for name in ("W_in", "W_out"):
        np.testing.assert_array_equal(
            tree["posterior"][name].values, again["posterior"][name].values
        )
    queries = tree["sample_stats"]["chip_queries"].isel(draw=-1).values
    evaluations = tree["sample_stats"]["evaluations"].sum("draw").values
    if blocks == "layers":  # one entry per block, named by the block's variables
        assert list(tree["sample_stats"]["block"].values) == ["W_in", "W_out"]
        evaluations = evaluations.sum(-1)
    assert untidy_dims(tree) == []
    # the kept draws' evaluations are the last part of every chain's queries
    assert np.all(queries >= evaluations) and np.all(evaluations >= SMALL.mcmc.draws)
    for key in ("ess_bulk_log_likelihood", "rhat_log_likelihood", "ess_bulk_predictive_min"):
        assert np.isfinite(tree.attrs[key])
    assert tree.attrs["convergence_verdict"].startswith(("WARNING", "converged"))
    assert tree.attrs["sampler"] == sampler and tree.attrs["blocks"] == blocks


def test_point_estimates_are_named_in_the_trace():
    last = replace(SMALL, evaluation=replace(SMALL.evaluation, point_estimate="last"))
    tree = train(last, progressbar=False)
    points = tree["point_estimates"]["probability"]
    assert points.dims == ("point_estimate", "obs", "class")
    assert list(points["point_estimate"].values) == ["mean", "best", "last"]
    assert tree.attrs["point_estimate"] == "last"
    for key in (
        "test_accuracy_posterior_mean",
        "test_accuracy_best_draw",
        "test_accuracy_last_draw",
    ):
        assert 0 <= tree.attrs[key] <= 1


def test_ideal_screen_runs_delayed_acceptance_and_reports_its_savings():
    tree = train(
        replace(
            SMALL,
            chip=ChipSettings(strength=0.0),
            mcmc=replace(SMALL.mcmc, sampler="pcn", screen="ideal"),
        ),
        progressbar=False,
    )
    stats = tree["sample_stats"]
    screened = stats["screened_out"].values
    # a screened-out proposal costs no chip query
    np.testing.assert_array_equal(stats["evaluations"].values[screened], 0)
    assert tree.attrs["screened_out_fraction"] == pytest.approx(screened.mean())
    assert tree.attrs["chip_queries_saved_per_accepted_move"] >= 0


@pytest.mark.parametrize(
    "settings,message",
    [
        (dict(sampler="nope"), "sampler must be one of"),
        (dict(blocks="rows"), "blocks must be one of"),
        (dict(sampler="slice", screen="ideal"), "a screen works with"),
        (dict(sampler="pcn", blocks="layers", screen="ideal"), "a screen works with"),
        (dict(sampler="metropolis", blocks="layers"), "blocks apply to"),
    ],
)
def test_bad_sampler_settings_are_refused(settings, message):
    with pytest.raises(LimprobError, match=message):
        MCMCSettings(**settings)
    with pytest.raises(LimprobError, match="point estimate must be one of"):
        EvaluationSettings(point_estimate="median")


def run_cli(args, capsys):
    code = main(args)
    captured = capsys.readouterr()
    return code, captured.out, captured.err.strip()


def test_screens_that_cannot_serve_are_refused_before_sampling(tmp_path, capsys):
    probes, twin = tmp_path / "probes.nc", tmp_path / "twin.nc"
    assert (
        run_cli(
            ["probe", "--hidden", "4", "--probes", "4", "--obs", "8", "--out", str(probes)], capsys
        )[0]
        == 0
    )
    assert (
        run_cli(
            [
                "twin",
                str(probes),
                "--families",
                "gain",
                "--draws",
                "20",
                "--tune",
                "20",
                "--chains",
                "1",
                "--no-progress",
                "--out",
                str(twin),
            ],
            capsys,
        )[0]
        == 0
    )
    out = tmp_path / "run.nc"
    for screen, message in (
        (str(probes), "not a limprob trace"),
        (str(twin), "fitted for 4 hidden neurons"),
    ):
        code, _, err = run_cli(
            ["train", "--hidden", "8", "--screen", screen, "--out", str(out), "--no-progress"],
            capsys,
        )
        assert code == 2 and message in err and len(err.splitlines()) == 1
        assert not out.exists()
    code, _, err = run_cli(["train", "--sampler", "nope", "--out", str(out)], capsys)
    assert code == 2 and "invalid choice" in err and not out.exists()
    # a twin of the right size screens a run
    code, stdout, _ = run_cli(
        [
            "train",
            "--hidden",
            "4",
            "--screen",
            str(twin),
            "--draws",
            "30",
            "--tune",
            "20",
            "--train-fraction",
            "0.3",
            "--no-progress",
            "--out",
            str(out),
        ],
        capsys,
    )
    assert code == 0 and out.exists()
    code, stdout, _ = run_cli(["evaluate", str(out), "--json"], capsys)
    report = json.loads(stdout)
    for key in ("ess_bulk_log_likelihood", "rhat_log_likelihood", "ess_bulk_predictive_min"):
        assert key in report


def test_trace_carries_a_posterior_predictive_that_arviz_plots():
    import arviz as az
    import matplotlib

    matplotlib.use("Agg")
    tree = train(SMALL, progressbar=False)
    replicated = tree["posterior_predictive"]["y"]
    assert replicated.dims == ("chain", "draw", "obs")
    # replicated at every draw the log-likelihood has, which LOO-PIT weights them with
    xr.testing.assert_equal(replicated["draw"], tree["log_likelihood"]["draw"])
    # one chip query per replicated draw, counted apart from training and evaluation
    assert (
        tree.attrs["posterior_predictive_chip_queries"]
        == replicated.sizes["chain"] * replicated.sizes["draw"]
    )
    assert set(np.unique(replicated.values)) <= {0, 1}
    az.plot_ppc_dist(tree)
