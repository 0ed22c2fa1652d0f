"""A run says what it will cost before it starts: too much memory is refused at once, a long
sampling time is announced."""

import logging
import time

import pytest

from limprob.chip import SimulatedChip
from limprob.cli import main
from limprob.data import split
from limprob.errors import LimprobError
from limprob.inference import EvaluationSettings, MCMCSettings, TrainConfig, cost, train
from limprob.inference.training import memory_estimate, projected_seconds
from limprob.snn import Network


def test_the_estimate_counts_every_sampled_and_predicted_number(data):
    config = TrainConfig(
        network=Network(n_hidden=4),
        mcmc=MCMCSettings(draws=10, tune=5, chains=2),
        evaluation=EvaluationSettings(predictive_draws=3),
    )
    n_train, n_test = data.train.sizes["obs"], data.test.sizes["obs"]
    per_draw = 4 * (30 + 2) + n_train + cost.SAMPLER_STATS
    expected = 8 * (2 * 15 * 2 * per_draw + 3 * (n_test * 2 + n_train))
    assert memory_estimate(config, data) == expected


def test_too_much_memory_is_refused_before_any_work(wisconsin, capsys, tmp_path):
    started = time.perf_counter()
    with pytest.raises(
        LimprobError, match="needs an estimated .* TB of memory, more than the .* available"
    ):
        train(TrainConfig(mcmc=MCMCSettings(draws=10**9)), wisconsin)
    with pytest.raises(LimprobError, match="more than the 1 kB allowed by --max-memory"):
        train(TrainConfig(mcmc=MCMCSettings(draws=10)), wisconsin, max_memory=1000)
    assert time.perf_counter() - started < 5  # no chip was built, nothing compiled or sampled
    out = tmp_path / "run.nc"
    assert main(["train", "--draws", "1000000000", "--out", str(out)]) == 2
    assert "needs an estimated" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_a_raised_limit_lets_a_run_through(wisconsin):
    config = TrainConfig(network=Network(n_hidden=4), mcmc=MCMCSettings(draws=10**6))
    data = split(wisconsin, seed=0)
    needed = memory_estimate(config, data)
    assert cost.check_memory(needed, "run", limit=needed) == needed
    with pytest.raises(LimprobError):
        cost.check_memory(needed, "run", limit=needed - 1)


def test_a_long_run_is_announced(data, caplog):
    chip = SimulatedChip(30, 2, Network(4, 8), 1.0, 0)
    long = TrainConfig(network=chip.network, mcmc=MCMCSettings(draws=10**8, tune=0, chains=2))
    with caplog.at_level(logging.WARNING, logger="limprob"):
        projected = projected_seconds(chip, data, long)
    assert projected > 60
    [record] = caplog.records
    assert record.getMessage().startswith("limprob: sampling will take at least ")
    caplog.clear()
    short = TrainConfig(network=chip.network, mcmc=MCMCSettings(draws=10, tune=0, chains=1))
    with caplog.at_level(logging.WARNING, logger="limprob"):
        assert projected_seconds(chip, data, short) < 60
    assert caplog.records == []


def test_projection_arithmetic():
    assert cost.projected_seconds(
        draws=900, tune=100, chains=4, cores=2, sampler="pcn", blocks=2, seconds=0.01
    ) == pytest.approx(40.0)
    assert (
        cost.projected_seconds(
            draws=1000, tune=0, chains=1, cores=1, sampler="metropolis", blocks=1, seconds=0.5
        )
        == 1000.0
    )
