"""Training on a noisy, quantised chip through the CLI and the API: the trace says what the
chip was and what the sampler targets, and bad noise settings are refused before any work."""

from __future__ import annotations

import numpy as np
import pytest

from limprob.chip.settings import ChipSettings
from limprob.cli import main
from limprob.errors import LimprobError
from limprob.inference.training import MCMCSettings, TrainConfig
from limprob.io import load_trace
from limprob.models.defaults import ModelSettings

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


def test_train_on_a_noisy_quantised_chip_records_chip_and_estimator(tmp_path, capsys):
    out = tmp_path / "noisy.nc"
    args = [
        "train",
        "--hidden",
        "4",
        "--draws",
        "30",
        "--tune",
        "30",
        "--chains",
        "1",
        "--noise",
        "0.1",
        "--weight-bits",
        "6",
        "--repeats",
        "auto",
        "--predictive-draws",
        "5",
        "--dataset",
        "wine",
        "--no-progress",
        "--init",
        "prior",
        "--out",
        str(out),
    ]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "pseudo-marginal" in printed
    tree = load_trace(out)
    attrs = tree.attrs
    assert (attrs["chip_noise"], attrs["chip_weight_bits"]) == (0.1, 6)
    assert attrs["predictive_draws"] == 5 and tree["predictions"].sizes["draw"] <= 5
    assert attrs["repeats"] == "auto" and attrs["likelihood_estimate"].startswith("exact")
    stats = tree["sample_stats"]
    chosen = int(np.atleast_1d(attrs["repeats_per_chain"])[0])
    assert chosen >= 1 and int(stats["repeats"].values[0, -1]) == chosen
    variance = float(np.atleast_1d(attrs["pilot_log_likelihood_variance_per_chain"])[0])
    assert variance > 0
    # every query is counted: after the pilot's draw, each step spends R queries
    evaluations = stats["evaluations"].values[0]
    assert np.all(evaluations[1:] == chosen)


def test_re_estimating_the_current_point_is_labelled_approximate():
    config = TrainConfig(
        chip=ChipSettings(noise=0.1), mcmc=MCMCSettings(repeats=2, re_estimate_current=True)
    )
    assert config.likelihood_estimate.startswith("approximate")
    assert TrainConfig().likelihood_estimate == "exact: a deterministic chip"


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--noise", "-0.1"], "noise must be"),
        (["--noise", "nan"], "noise must be"),
        (["--noise", "inf"], "noise must be"),
        (["--weight-bits", "17"], "weight bits must be in 1..16"),
        (["--weight-bits", "-2"], "weight bits must be"),
        (["--weight-bits", "six"], "must be an integer 1..16 or 'none'"),
        (["--repeats", "0", "--noise", "0.1"], "repeats must be a positive integer"),
        (["--repeats", "many"], "must be a positive integer or 'auto'"),
        (["--repeats", "auto"], "need a noisy chip"),
        (["--re-estimate-current"], "need a noisy chip"),
        (["--noise", "0.1", "--sampler", "slice"], "not exact on a noisy chip"),
        (["--noise", "0.1", "--repeats", "2", "--sampler", "metropolis"], "apply to limprob's"),
        (["--noise", "0.1", "--repeats", "auto", "--blocks", "layers"], "needs joint blocks"),
        (["--predictive-draws", "0"], "predictive draws must be a positive integer"),
    ],
)
def test_bad_noise_settings_are_one_line_and_exit_2(flags, message, tmp_path, capsys):
    out = tmp_path / "x.nc"
    assert main(["train", *flags, "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err, err
    assert not out.exists()


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--noise", "-1"], "noise must be"),
        (["--weight-bits", "17"], "weight bits must be"),
    ],
)
def test_probe_refuses_bad_noise_settings(flags, message, tmp_path, capsys):
    out = tmp_path / "p.nc"
    assert main(["probe", *flags, "--out", str(out)]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()


def test_api_refuses_bad_repeats():
    with pytest.raises(LimprobError, match="repeats must be a positive integer"):
        TrainConfig(chip=ChipSettings(noise=0.1), mcmc=MCMCSettings(repeats=1.5))


def test_each_data_set_brings_its_measured_network_unless_one_is_given(tmp_path, capsys):
    from limprob.models.defaults import DATASET_NETWORKS

    out = tmp_path / "wine.nc"
    tiny = [
        "--draws",
        "5",
        "--tune",
        "5",
        "--chains",
        "1",
        "--predictive-draws",
        "2",
        "--no-progress",
        "--time-steps",
        "4",
        "--init",
        "prior",
    ]
    assert main(["train", "--dataset", "wine", *tiny, "--out", str(out)]) == 0
    attrs = load_trace(out).attrs
    assert (attrs["network_n_hidden"], attrs["kappa"]) == (
        DATASET_NETWORKS["wine"]["n_hidden"],
        DATASET_NETWORKS["wine"]["kappa"],
    )
    out.unlink()
    assert (
        main(
            [
                "train",
                "--dataset",
                "wine",
                "--hidden",
                "3",
                "--kappa",
                "2.5",
                *tiny,
                "--out",
                str(out),
            ]
        )
        == 0
    )
    attrs = load_trace(out).attrs
    assert (attrs["network_n_hidden"], attrs["kappa"]) == (3, 2.5) and "hidden" not in attrs
    capsys.readouterr()
    config = TrainConfig.for_dataset("digits", mcmc=MCMCSettings(draws=7))
    assert (config.network.n_hidden, config.model.kappa, config.mcmc.draws) == (
        DATASET_NETWORKS["digits"]["n_hidden"],
        DATASET_NETWORKS["digits"]["kappa"],
        7,
    )
    given = TrainConfig.for_dataset("digits", model=ModelSettings(kappa=1.5))
    assert given.model.kappa == 1.5
