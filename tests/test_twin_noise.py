"""The population twin on noisy, quantised chips: its member chips are the simulated chips,
it learns the noise level, and it chooses a weight resolution by evidence."""

import numpy as np
import pytest
import xarray as xr

from limprob.chip import SimulatedChip, hidden_distortion
from limprob.chip.distortion import GLOBALS
from limprob.chip.kernels import member_counts
from limprob.chip.probes import probe_weights, record_probes_from_table
from limprob.cli import main
from limprob.data import load_table, split
from limprob.errors import LimprobError
from limprob.likelihood.synthetic import SUMMARY_FLOOR, SyntheticLogLikelihood, standard_draws
from limprob.models.chip_population import observed_summaries
from limprob.snn import Network
from limprob.twin import PopulationConfig, fit_population
from limprob.twin.weight_bits import check_candidates

NET = Network(n_hidden=4, n_steps=16)


@pytest.mark.parametrize("noise, bits", [(0.3, 6), (0.1, None), (0.0, 4)])
def test_the_population_contains_every_noisy_quantised_chip_exactly(noise, bits):
    chip = SimulatedChip(30, 2, NET, 1.0, seed=7, noise=noise, weight_bits=bits)
    distortion = hidden_distortion(chip)
    w_in, w_out, _ = probe_weights(3, 30, NET.n_hidden, 2, seed=1)
    x = np.random.default_rng(2).uniform(size=(10, 30))
    chip.run(w_in[0], w_out[0], x)  # the member's streams start at the chip's next query
    counts = np.stack([chip.run(w_in[p], w_out[p], x) for p in range(3)])
    member = member_counts(
        w_in,
        w_out,
        x,
        distortion.mismatch(30, NET.n_hidden, 2),
        distortion.global_values(),
        NET.beta,
        NET.theta,
        NET.n_steps,
        chip.weight_range,
        bits or 0,
        noise,
        chip.seed,
        1,
    )
    np.testing.assert_array_equal(member, counts)


def small_probes(noise, bits, seed):
    chip = SimulatedChip(30, 2, NET, 1.0, seed, noise=noise, weight_bits=bits)
    return record_probes_from_table(
        chip, split(load_table(), seed=0).train, n_probes=6, n_obs=12, seed=seed
    )


SMALL = {"n_chips": 16, "n_groups": 2, "learn_noise": True, "chains": 2}


def test_the_twin_learns_noise_with_its_prior_support_and_orders_noisy_chips():
    """Two small fits: a chip with noise 0.5 and a noiseless one (both 6-bit). The noise has
    the prior's support, the fit records the likelihood the evidence is estimated with, and
    the noisy chip's posterior mean of the noise is the larger, by a margin."""
    trees, probes = {}, {}
    for level in (0.0, 0.5):
        probes[level] = small_probes(noise=level, bits=6, seed=2)
        trees[level] = fit_population(
            NET, probes[level], PopulationConfig(**SMALL, weight_bits=6, draws=60, tune=60, seed=2)
        )
    means = {level: float(tree["posterior"]["noise"].mean()) for level, tree in trees.items()}
    assert means[0.5] > means[0.0] + 0.1, means
    tree = trees[0.5]
    noise = tree["posterior"]["noise"]
    assert noise.dims == ("chain", "draw") and np.all(noise.values > 0)  # HalfNormal support
    assert tree.attrs["distortion_parameters"].split(",") == [*GLOBALS, "noise"]
    assert tree.attrs["learn_noise"] == 1 and tree.attrs["weight_bits"] == 6
    op = SyntheticLogLikelihood(
        NET.n_steps, NET.beta, NET.theta, 2, SUMMARY_FLOOR, 6, tree.attrs["weight_range"], 2
    )
    z = standard_draws(16, 30, NET.n_hidden, 2, 2).values()
    arrays = [probes[0.5][n].values for n in ("W_in", "W_out", "x")]
    posterior = tree["posterior"].to_dataset()
    for chain, draw in [(0, 0), (1, 59)]:
        point = [float(posterior[n].values[chain, draw]) for n in (*GLOBALS, "noise")]
        assert (
            op.log_likelihood(observed_summaries(probes[0.5], 2), point, *arrays, *z)
            == tree["sample_stats"]["synthetic_log_likelihood"].values[chain, draw]
        )


@pytest.mark.parametrize(
    "candidates, message",
    [
        ((4, 17), "must be in 1..16"),
        ((6, 6), "repeat"),
        ((8,), "at least two"),
        ((4, "six"), "positive integer"),
    ],
)
def test_bad_weight_bits_candidates_are_refused(candidates, message):
    with pytest.raises(LimprobError, match=message):
        check_candidates(candidates)


@pytest.mark.parametrize(
    "bad", [{"weight_bits": 0}, {"weight_bits": 17}, {"learn_noise": "yes"}, {"weight_range": -2.0}]
)
def test_population_config_refuses_bad_chip_settings(bad):
    with pytest.raises(LimprobError):
        PopulationConfig(**bad)


def test_twin_cli_chooses_weight_bits_among_the_candidates_in_a_labelled_table(tmp_path, capsys):
    probes = tmp_path / "probes.nc"
    assert (
        main(
            [
                "probe",
                "--hidden",
                "4",
                "--steps",
                "16",
                "--probes",
                "4",
                "--obs",
                "8",
                "--noise",
                "0.1",
                "--weight-bits",
                "4",
                "--out",
                str(probes),
            ]
        )
        == 0
    )
    out = tmp_path / "twin.nc"
    assert (
        main(
            [
                "twin",
                str(probes),
                "--population",
                "--learn-noise",
                "--weight-bits",
                "auto",
                "--weight-bits-candidates",
                "4,none",
                "--chips",
                "16",
                "--draws",
                "15",
                "--tune",
                "15",
                "--no-progress",
                "--out",
                str(out),
            ]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert "chosen:" in printed and "noise" in printed
    with xr.open_datatree(out, engine="netcdf4") as stored:
        tree = stored.load()
    table = tree["weight_bits_comparison"].to_dataset()
    assert list(table.dims) == ["weight_bits"]
    assert set(table["weight_bits"].values) == {"4", "none"}
    assert table.attrs["chosen"] == table["weight_bits"].values[0]
    assert tree.attrs["weight_bits"] == (0 if table.attrs["chosen"] == "none" else 4)
    assert table["log10_bayes_factor"].values[0] == 0
    assert np.all(table["log10_bayes_factor"].values >= 0)
    assert float(table["posterior_probability"].sum()) == pytest.approx(1.0)
    assert np.all(np.isfinite(table["log_evidence"].values))
    assert "noise" in tree["posterior"].data_vars
