"""The surrogate-gradient twin: it reproduces a chip's probes and recovers its distortion, the
same seed gives the same fit, ``--init twin`` spends exactly the queries it reports, and bad
input is refused."""

from dataclasses import replace

import numpy as np
import pytest
import xarray as xr

from limprob.chip import SimulatedChip
from limprob.chip.distortion import Distortion
from limprob.chip.probes import record_probes
from limprob.chip.simulated import ParametricChip
from limprob.errors import LimprobError
from limprob.inference import starts as starts_module
from limprob.inference import surrogate_twin as surrogate_twin_module
from limprob.inference.screening import screen_chip
from limprob.inference.starts import PRIOR_CANDIDATES
from limprob.inference.surrogate_twin import (
    MODEL,
    SurrogateTwinConfig,
    fit_surrogate_twin,
    fitted_distortion,
    restart_distortions,
)
from limprob.io import save_trace
from limprob.snn import Network
from test_starts import starts

NETWORK = Network(n_hidden=4)
"""One network for every fit here: the loss compiles once per process and network."""
FIT = SurrogateTwinConfig(steps=200)


def chip_of(strength: float) -> SimulatedChip:
    return SimulatedChip(30, 2, NETWORK, strength=strength, seed=0)


def probe_error(chip, probes: xr.Dataset) -> float:
    """Mean squared difference (spikes^2) between ``chip``'s counts for the probes' weights and
    inputs and the counts the probes recorded."""
    x = probes["x"].values
    counts = np.stack(
        [
            chip.run(w_in, w_out, x)
            for w_in, w_out in zip(probes["W_in"].values, probes["W_out"].values)
        ]
    )
    return float(np.mean((counts - probes["counts"].values) ** 2))


@pytest.fixture(scope="module")
def probes(data):
    """16 probe queries of 32 training inputs on a chip of strength 1."""
    return record_probes(chip_of(1.0), data.train["features"].values[:32], n_probes=16, seed=0)


@pytest.fixture(scope="module")
def fit(probes):
    return fit_surrogate_twin(NETWORK, probes, FIT)


def test_the_fit_reproduces_the_probes_and_predicts_weights_it_never_saw(fit, probes, data):
    attrs = fit.attrs
    assert attrs["model"] == MODEL and attrs["training_chip_queries"] == 16
    # the ideal chip misses the probes by tens of spikes^2; the fit by a fraction of one
    assert attrs["identity_probe_mse"] > 10.0
    assert attrs["probe_mse"] < 0.05 * attrs["identity_probe_mse"]
    assert attrs["explained_fraction"] >= 0.9
    history = fit["fit_history"]["probe_mse"]
    assert history.dims == ("restart", "check")
    assert float(history.min()) == pytest.approx(attrs["probe_mse"])
    assert list(fit["fit_history"]["saturation_start"].values) == [1.0, 4.0]
    assert fit["distortion"]["log_gain_in"].dims == ("feature", "hidden")
    assert fit["restarts"]["log_gain_in"].dims == ("restart", "feature", "hidden")
    best = int(history.isel(check=slice(1, None)).min("check").argmin())  # after a step
    assert attrs["best_restart"] == best
    np.testing.assert_array_equal(
        fit["restarts"]["log_gain_in"].values[best], fit["distortion"]["log_gain_in"].values
    )
    assert len(restart_distortions(fit)) == 2
    assert fit["distortion"]["log_threshold"].dims == ("neuron",)
    # held out: other probe weights on other inputs of the same chip
    fresh = record_probes(chip_of(1.0), data.train["features"].values[32:64], 16, seed=1)
    fitted = fitted_distortion(fit["distortion"].to_dataset())
    errors = {
        name: probe_error(ParametricChip(distortion, 30, 2, NETWORK), fresh)
        for name, distortion in (("fitted", fitted), ("ideal", Distortion()))
    }
    assert errors["fitted"] < 0.1 * errors["ideal"], errors


def test_an_ideal_chip_is_fitted_too(data):
    probes = record_probes(chip_of(0.0), data.train["features"].values[:32], n_probes=16, seed=0)
    tree = fit_surrogate_twin(NETWORK, probes, FIT)
    assert tree.attrs["explained_fraction"] >= 0.9


def test_same_seed_same_fit_bit_for_bit(fit, probes):
    again = fit_surrogate_twin(NETWORK, probes, FIT)
    for name, value in fit["distortion"].to_dataset().items():
        np.testing.assert_array_equal(again["distortion"][name].values, value.values)
    other = fit_surrogate_twin(NETWORK, probes, replace(FIT, seed=1))
    assert not np.array_equal(
        other["distortion"]["log_gain_in"].values, fit["distortion"]["log_gain_in"].values
    )


def test_the_fit_is_read_back_through_the_chips_own_equations():
    """Written in the fit's parameters, a design distortion (no leak spread) gives the same
    arrays as itself, with one global leak; with each neuron's leak, so does a distortion
    with leak mismatch."""
    rng = np.random.default_rng(0)
    truth = Distortion(
        inverse_w_sat=1.5,
        log_gain=0.2,
        log_leak=-0.03,
        gain_spread=0.7,
        threshold_spread=0.4,
        gain_z_in=rng.standard_normal((30, 4)),
        gain_z_out=rng.standard_normal((4, 2)),
        threshold_z=rng.standard_normal(6),
    )
    distortion = xr.Dataset(
        {
            "log_gain_in": (("feature", "hidden"), 0.2 + 0.7 * truth.gain_z_in),
            "log_gain_out": (("hidden", "class"), 0.2 + 0.7 * truth.gain_z_out),
            "log_threshold": ("neuron", 0.4 * truth.threshold_z),
            "log_inverse_w_sat": ((), np.log(1.5)),
            "log_leak": ((), -0.03),
        }
    )
    leak_mismatch = replace(truth, leak_spread=0.3, leak_z=rng.standard_normal(6))
    per_neuron = distortion.assign(log_leak=("neuron", -0.03 + 0.3 * leak_mismatch.leak_z))
    for fitted, expected in ((distortion, truth), (per_neuron, leak_mismatch)):
        ours = fitted_distortion(fitted).arrays(NETWORK, 30, 2)
        theirs = expected.arrays(NETWORK, 30, 2)
        for name, value in theirs._asdict().items():
            np.testing.assert_allclose(getattr(ours, name), value, rtol=1e-12, err_msg=name)
    with pytest.raises(LimprobError, match="log_leak has shape"):
        fitted_distortion(distortion.assign(log_leak=("hidden", np.zeros(4))))


def test_each_neurons_leak_fits_a_chip_with_leak_mismatch_better(data):
    """A chip whose neurons leak differently (leak spread 0.3, nothing else distorted): the fit
    of each neuron's leak reproduces its probes more closely than one global leak does, the
    same seed gives the same fit bit for bit, and the trace reads back to that chip."""
    rng = np.random.default_rng(1)
    truth = Distortion(leak_spread=0.3, leak_z=rng.standard_normal(6))
    chip = ParametricChip(truth, 30, 2, NETWORK)
    probes = record_probes(chip, data.train["features"].values[:32], n_probes=16, seed=0)
    global_leak = fit_surrogate_twin(NETWORK, probes, FIT)
    config = replace(FIT, leak_per_neuron=True)
    each = fit_surrogate_twin(NETWORK, probes, config)
    assert each["distortion"]["log_leak"].dims == ("neuron",)
    assert each.attrs["probe_mse"] < 0.9 * global_leak.attrs["probe_mse"], (
        each.attrs["probe_mse"],
        global_leak.attrs["probe_mse"],
    )
    software = ParametricChip(fitted_distortion(each["distortion"].to_dataset()), 30, 2, NETWORK)
    assert probe_error(software, probes) == pytest.approx(each.attrs["probe_mse"])
    again = fit_surrogate_twin(NETWORK, probes, config)
    for name, value in each["distortion"].to_dataset().items():
        np.testing.assert_array_equal(again["distortion"][name].values, value.values)
    with pytest.raises(LimprobError, match="leak per neuron must be true or false"):
        SurrogateTwinConfig(leak_per_neuron=1)  # type: ignore[arg-type]


def test_bad_fits_and_probes_are_refused(fit, probes):
    distortion = fit["distortion"].to_dataset()
    with pytest.raises(LimprobError, match="lacks log_leak"):
        fitted_distortion(distortion.drop_vars("log_leak"))
    with pytest.raises(LimprobError, match="not finite"):
        fitted_distortion(distortion.assign(log_leak=np.nan))
    with pytest.raises(LimprobError, match="4 hidden neurons, the network 8"):
        fit_surrogate_twin(Network(n_hidden=8), probes, FIT)
    with pytest.raises(LimprobError, match="resets by subtraction"):
        fit_surrogate_twin(Network(n_hidden=4, reset="zero"), probes, FIT)
    with pytest.raises(LimprobError, match="steps"):
        SurrogateTwinConfig(steps=0)
    with pytest.raises(LimprobError, match="at least one saturation start"):
        SurrogateTwinConfig(saturation_starts=())
    with pytest.raises(LimprobError, match="saturation start"):
        SurrogateTwinConfig(saturation_starts=(1.0, -2.0))


def test_a_surrogate_twin_trace_is_a_screen_and_a_start(fit, probes, data, tmp_path):
    path = tmp_path / "fit.nc"
    save_trace(fit, path)
    software = screen_chip(str(path), NETWORK, 30, 2)
    # the software chip is the fitted one: its counts miss the probes by the fit's error
    assert probe_error(software, probes) == pytest.approx(fit.attrs["probe_mse"])
    with pytest.raises(LimprobError, match="fitted for 4 hidden neurons"):
        screen_chip(str(path), Network(n_hidden=8), 30, 2)
    with pytest.raises(LimprobError, match="fitted for 30 inputs, the chip has 13"):
        screen_chip(str(path), NETWORK, 13, 2)
    with pytest.raises(LimprobError, match="fitted for 2 outputs, the chip has 3"):
        screen_chip(str(path), NETWORK, 30, 3)
    _, attrs, _ = starts(chip_of(1.0), data, f"twin:{path}", chains=1)
    assert attrs["start_twin_probe_chip_queries"] == 16
    # a candidate per restart, one from the ideal model (one chain), the prior draws
    assert attrs["start_selection_chip_queries"] == 2 + 1 + PRIOR_CANDIDATES
    assert attrs["start_candidates"].startswith("twin_r0_seed")


def test_init_twin_probes_fits_and_spends_exactly_what_it_reports(data, monkeypatch):
    monkeypatch.setattr(starts_module, "TWIN_PROBES", 8)
    monkeypatch.setattr(starts_module, "TWIN_PROBE_OBS", 32)

    def run():
        return starts(chip_of(1.0), data, "twin", chains=2)

    initvals, attrs, queries = run()
    assert attrs["start_twin_probe_chip_queries"] == 8 and attrs["start_twin_probe_obs"] == 32
    # one candidate per restart of the fit (2) and chain (2), one ideal-model candidate per
    # chain, and the prior draws
    assert attrs["start_selection_chip_queries"] == 4 + 2 + PRIOR_CANDIDATES
    assert queries == 8 + 4 + 2 + PRIOR_CANDIDATES
    assert attrs["start_candidates"].split(", ")[:6] == [
        f"twin_r{r}_seed{s}" for r in (0, 1) for s in attrs["init_seeds_used"]
    ] + [f"ideal_seed{s}" for s in attrs["init_seeds_used"]]
    assert attrs["start_twin_explained_fraction"] >= 0.9
    assert attrs["start_digital_training_flops"] > 0
    again, again_attrs, _ = run()
    for ours, theirs in zip(initvals, again):
        for name in ("W_in", "W_out"):
            np.testing.assert_array_equal(ours[name], theirs[name])
    np.testing.assert_array_equal(
        attrs["start_candidate_log_posteriors"], again_attrs["start_candidate_log_posteriors"]
    )


def test_train_init_twin_on_the_command_line(data, tmp_path, capsys, monkeypatch):
    from limprob.cli import main
    from limprob.io import load_trace

    monkeypatch.setattr(starts_module, "TWIN_PROBES", 4)
    monkeypatch.setattr(starts_module, "TWIN_PROBE_OBS", 16)
    out = tmp_path / "run.nc"
    argv = ["train", "--hidden", "4", "--draws", "5", "--tune", "5", "--train-fraction", "0.2"]
    assert main([*argv, "--init", "twin", "--no-progress", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "twin fitted to 4 probe queries:" in printed
    tree = load_trace(out)
    assert tree.attrs["init"] == "twin" and tree.attrs["start_twin_probe_chip_queries"] == 4
    assert tree.attrs["start_per_chain"].count(",") == 1  # two chains, each with its start


def test_init_twin_fits_with_the_settings_it_is_given(data, monkeypatch):
    """``choose_starts(twin_fit=...)`` reaches the fit, with the run's first backprop seed."""
    monkeypatch.setattr(starts_module, "TWIN_PROBES", 8)
    monkeypatch.setattr(starts_module, "TWIN_PROBE_OBS", 32)
    seen, real = [], surrogate_twin_module.fit_surrogate_twin

    def spy(network, probes, config):
        seen.append(config)
        return real(network, probes, config)

    monkeypatch.setattr(surrogate_twin_module, "fit_surrogate_twin", spy)
    settings = replace(FIT, leak_per_neuron=True)
    _, attrs, _ = starts(chip_of(1.0), data, "twin", chains=1, twin_fit=settings)
    assert seen == [replace(settings, seed=int(attrs["init_seeds_used"][0]))]
