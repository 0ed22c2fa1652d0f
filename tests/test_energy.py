"""Energy bounds of learning-in-memory: calculator, PyTensor path, posterior model, report."""

import math

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest

from limprob import energy_limits as limits
from limprob.energy.report import energy_report
from limprob.errors import LimprobError
from limprob.models import lim_energy

BRAIN = limits.brain_scale_scenario()


@pytest.fixture(scope="module")
def posterior():
    return lim_energy.device_posterior(seed=0)


@pytest.fixture(scope="module")
def brain_report():
    return energy_report(BRAIN["n_params"], BRAIN["tokens"], BRAIN["bits"], seed=0)


def test_constants_and_single_bit_landauer():
    assert limits.K_B_J_PER_K == 1.380649e-23
    assert limits.thermal_energy_joules(300.0) == pytest.approx(4.141947e-21, rel=1e-7)
    assert limits.landauer_joules(1, 1, 300.0) == pytest.approx(2.870979e-21, rel=1e-7)
    assert limits.DEFAULT_ACCELERATOR_J_PER_FLOP == pytest.approx(7.07e-13, rel=1e-3)
    assert limits.DEFAULT_RETENTION_S == pytest.approx(3.156e8, rel=1e-3)
    barrier = limits.retention_barrier_kt(limits.DEFAULT_RETENTION_S, 1e-9, 1e-9)
    assert 60 < barrier < 62
    assert limits.training_flops(1e15, 3e11) == pytest.approx(1.8e27)


def test_retention_barrier_inverts_retention_time():
    barrier = limits.retention_barrier_joules(300.0, 1e3, 1e-9, 1.0)
    assert limits.retention_time_s(barrier, 300.0, 1e-9) == pytest.approx(1e3, rel=1e-12)


def test_design_note_table_is_reproduced():
    """The defaults give the numbers of the design note's brain-scale table (2-3 digits)."""
    for bits, lim1, lim10, landauer in ((16, 9.0e7, 1.57e8, 8.3e7), (32, 1.73e8, 2.40e8, 1.65e8)):
        slow = limits.bounds(1e15, 3e11, bits=bits, time_ratio=1.0)
        fast = limits.bounds(1e15, 3e11, bits=bits, time_ratio=10.0)
        assert slow["landauer_joules"] == pytest.approx(landauer, rel=0.01)
        assert slow["lim_joules"] == pytest.approx(lim1, rel=0.01)
        assert fast["lim_joules"] == pytest.approx(lim10, rel=0.01)
        assert slow["accelerator_joules"] == pytest.approx(1.27e15, rel=0.01)
    assert limits.bounds(1e15, 3e11, bits=32)["static_joules"] == pytest.approx(1.46e10, rel=0.01)


@pytest.mark.parametrize(
    "changed",
    [{"n_params": 1e16}, {"tokens": 3e12}, {"bits": 64}, {"time_ratio": 10.0}, {"flops": 1e28}],
)
def test_bounds_never_decrease_when_the_run_grows_or_speeds_up(changed):
    base_args = {"n_params": 1e12, "tokens": 1e11, "bits": 16, "time_ratio": 1.0, "flops": 1e27}
    if "n_params" in changed or "tokens" in changed:
        base_args["flops"] = None
    base = limits.bounds(**base_args)
    grown = limits.bounds(**{**base_args, **changed})
    strictly_increasing = 0
    for name in limits.BOUND_NAMES:
        assert grown[name] >= base[name], name
        strictly_increasing += grown[name] > base[name]
    assert strictly_increasing >= 1


def test_monotone_over_a_sweep_of_model_sizes():
    n = np.logspace(6, 15, 10)
    result = limits.bounds(n, 300e9)
    for name in limits.BOUND_NAMES:
        assert np.all(np.diff(result[name]) > 0), name


def test_numpy_and_pytensor_paths_agree():
    values = {
        "ops": np.array([1e20, 1.8e27]),
        "n_params": np.array([1e9, 1e15]),
        "bits": np.array([16.0, 32.0]),
        "temperature_k": np.array([290.0, 310.0]),
        "time_ratio": np.array([0.3, 10.0]),
        "retention_s": np.array([1e3, 3.2e8]),
        "attempt_time_s": np.array([1e-10, 2e-9]),
        "flip_tolerance": np.array([1e-6, 1e-12]),
    }
    symbols = {name: pt.dvector(name) for name in values}

    def all_bounds(v):
        memory = (v["retention_s"], v["attempt_time_s"], v["flip_tolerance"])
        return [
            limits.landauer_joules(v["ops"], v["bits"], v["temperature_k"]),
            limits.lim_joules(
                v["ops"], v["n_params"], v["bits"], v["temperature_k"], v["time_ratio"], *memory
            ),
            limits.static_joules(v["ops"], v["bits"], v["temperature_k"], v["time_ratio"], *memory),
            limits.accelerator_joules(v["ops"], v["temperature_k"] * 1e-15),
            limits.retention_barrier_kt(*memory),
        ]

    graphs = all_bounds(symbols)
    assert all(isinstance(graph, pt.TensorVariable) for graph in graphs)
    compiled = pytensor.function(list(symbols.values()), graphs)(*values.values())
    for numeric, symbolic in zip(all_bounds(values), compiled, strict=True):
        np.testing.assert_allclose(symbolic, numeric, rtol=1e-12, atol=0)


def test_update_operations_scale_with_ops_per_flop_and_nothing_else():
    """OPS = r C: every per-update term (Landauer, the LIM update wall, static-barrier writes)
    scales linearly with r; the consolidation term and the accelerator (C e_flop) do not."""
    base = limits.bounds(1e12, 1e11, bits=16, time_ratio=3.0)
    for ratio in (1e-6, 0.5, 3.0):
        scaled = limits.bounds(1e12, 1e11, bits=16, time_ratio=3.0, ops_per_flop=ratio)
        assert scaled["ops_per_flop"] == ratio
        assert scaled["flops"] == base["flops"]
        assert scaled["ops"] == pytest.approx(ratio * base["flops"], rel=1e-15)
        for name in ("landauer_joules", "static_joules"):
            assert scaled[name] == pytest.approx(ratio * base[name], rel=1e-12), name
        consolidation = limits.lim_consolidation_joules(
            1e12,
            limits.DEFAULT_TEMPERATURE_K,
            limits.DEFAULT_RETENTION_S,
            limits.DEFAULT_ATTEMPT_TIME_S,
            limits.DEFAULT_FLIP_TOLERANCE,
        )
        assert scaled["lim_joules"] - consolidation == pytest.approx(
            ratio * (base["lim_joules"] - consolidation), rel=1e-9
        )
        assert scaled["accelerator_joules"] == base["accelerator_joules"]


def test_default_ops_per_flop_keeps_ops_equal_to_flops_bit_for_bit():
    """The default r = 1 is the model before the ratio existed: OPS = C exactly, and every
    bound equals the formula evaluated on C itself."""
    assert limits.DEFAULT_OPS_PER_FLOP == 1.0
    result = limits.bounds(1e15, 3e11)
    assert result == limits.bounds(1e15, 3e11, ops_per_flop=1.0)
    flops, T = result["flops"], limits.DEFAULT_TEMPERATURE_K
    assert result["ops"] == flops and result["ops_per_flop"] == 1.0
    assert result["landauer_joules"] == limits.landauer_joules(flops, 32.0, T)
    memory = (
        limits.DEFAULT_RETENTION_S,
        limits.DEFAULT_ATTEMPT_TIME_S,
        limits.DEFAULT_FLIP_TOLERANCE,
    )
    assert result["lim_joules"] == limits.lim_joules(flops, 1e15, 32.0, T, 1.0, *memory)
    assert result["static_joules"] == limits.static_joules(flops, 32.0, T, 1.0, *memory)


def test_scenarios_record_ops_per_flop_and_the_report_scales_with_it(brain_report):
    from limprob.models import energy_draws

    scenarios = energy_draws.scenario_dataset([1e9, 1e15], tokens=3e11, ops_per_flop=[1.0, 0.25])
    np.testing.assert_array_equal(scenarios["ops_per_flop"], [1.0, 0.25])
    np.testing.assert_array_equal(scenarios["ops"], [1.0, 0.25] * scenarios["flops"].values)
    default = energy_draws.scenario_dataset([1e9], tokens=3e11)
    np.testing.assert_array_equal(default["ops"], default["flops"])
    assert (
        energy_report(BRAIN["n_params"], BRAIN["tokens"], BRAIN["bits"], ops_per_flop=1.0)
        == brain_report
    )
    halved = energy_report(BRAIN["n_params"], BRAIN["tokens"], BRAIN["bits"], ops_per_flop=0.5)
    for key in ("median", "low", "high"):
        assert halved["landauer_joules"][key] == pytest.approx(
            0.5 * brain_report["landauer_joules"][key], rel=1e-12
        )
    assert halved["accelerator_joules"] == brain_report["accelerator_joules"]


@pytest.mark.parametrize(
    "kwargs",
    [
        {"n_params": 1e9, "tokens": 1e9, "ops_per_flop": 0.0},
        {"n_params": 1e9, "tokens": 1e9, "ops_per_flop": -1.0},
        {"n_params": 1e9, "tokens": 1e9, "ops_per_flop": float("nan")},
        {"n_params": 1e9, "tokens": 1e9, "ops_per_flop": float("inf")},
        {"n_params": 0, "tokens": 1e9},
        {"n_params": -1e9, "tokens": 1e9},
        {"n_params": float("nan"), "tokens": 1e9},
        {"n_params": 1e9, "tokens": float("inf")},
        {"n_params": 1e9, "tokens": 1e9, "bits": 0},
        {"n_params": 1e9, "tokens": 1e9, "bits": -16},
        {"n_params": 1e9, "tokens": 1e9, "temperature_k": 0.0},
        {"n_params": 1e9, "tokens": 1e9, "temperature_k": -300.0},
        {"n_params": 1e9, "tokens": 1e9, "time_ratio": 0.0},
        {"n_params": 1e9, "tokens": 1e9, "attempt_time_s": -1e-9},
        {"n_params": 1e9, "tokens": 1e9, "retention_s": float("nan")},
        {"n_params": 1e9, "tokens": 1e9, "flip_tolerance": 1.5},
        {"n_params": 1e9, "flops": -1.0},
        {"n_params": 1e9},
        {"n_params": "many", "tokens": 1e9},
        {"n_params": [1e9, 0.0], "tokens": 1e9},
    ],
)
def test_bad_input_raises_limprob_error(kwargs):
    with pytest.raises(LimprobError):
        limits.bounds(**kwargs)


def test_validate_positive_returns_clean_numbers_and_names_the_input():
    assert limits.validate_positive("bits", 32) == 32.0
    np.testing.assert_array_equal(limits.validate_positive("n", [1, 2]), [1.0, 2.0])
    with pytest.raises(LimprobError, match="temperature"):
        limits.validate_positive("temperature", float("nan"))
    with pytest.raises(LimprobError):
        limits.validate_positive("bits", True)


def test_energy_report_rejects_bad_input_before_sampling():
    with pytest.raises(LimprobError):
        energy_report(1e15, 3e11, bits=0)
    with pytest.raises(LimprobError):
        energy_report(-1.0, 3e11)
    with pytest.raises(LimprobError):
        energy_report(1e15, float("nan"))


def test_posterior_covers_the_synthetic_device_truth(posterior):
    truth = lim_energy.load_characterisation().attrs
    summary = lim_energy.summarise(
        posterior["posterior"].to_dataset()[["temperature_k", "attempt_time_s", "noise_sd"]]
    )
    for name in ("temperature_k", "attempt_time_s", "noise_sd"):
        low, high = (float(summary[name].sel(statistic=s)) for s in ("low", "high"))
        assert low < truth[f"truth_{name}"] < high, name
    # the data, not the prior, fix T: the posterior is narrower than the prior (sd ~ 30 K)
    assert float(posterior["posterior"]["temperature_k"].std()) < 10.0


def test_posterior_converged(posterior):
    import arviz_stats as azs

    rhat = azs.rhat(posterior, var_names=list(lim_energy.DEVICE_VARS))
    assert all(float(rhat[name]) < 1.02 for name in lim_energy.DEVICE_VARS)
    assert int(posterior["sample_stats"]["diverging"].sum()) == 0


def test_same_seed_gives_bit_identical_posterior():
    scenarios = lim_energy.scenario_dataset([1e9], tokens=[1e10])
    model = lim_energy.build_model(scenarios)
    first = lim_energy.sample_posterior(model, seed=3, draws=100, tune=100)
    second = lim_energy.sample_posterior(model, seed=3, draws=100, tune=100)
    other = lim_energy.sample_posterior(model, seed=4, draws=100, tune=100)
    a, b, c = (t["posterior"].to_dataset() for t in (first, second, other))
    assert a.equals(b)  # values and coords, bit for bit (attrs hold the wall-clock time)
    assert not np.array_equal(a["temperature_k"].values, c["temperature_k"].values)


def test_model_bounds_have_scenario_dims_and_match_the_calculator(posterior):
    scenarios = lim_energy.scenario_dataset(
        [1e6, 1e15], tokens=[1e9, 3e11], bits=[16, 32], names=["small", "brain"]
    )
    draws = lim_energy.scenario_energies(scenarios, posterior=posterior)
    assert draws["lim_joules"].dims == ("chain", "draw", "scenario")
    assert list(draws["scenario"].values) == ["small", "brain"]
    one = draws.isel(chain=1, draw=7)
    expected = limits.bounds(
        [1e6, 1e15],
        [1e9, 3e11],
        bits=[16, 32],
        temperature_k=float(one["temperature_k"]),
        time_ratio=float(one["relaxation_scale"]),
        attempt_time_s=float(one["attempt_time_s"]),
        flip_tolerance=float(one["flip_tolerance"]),
        joules_per_flop=float(one["accelerator_j_per_flop"]),
    )
    for name in limits.BOUND_NAMES:
        np.testing.assert_allclose(one[name].values, expected[name], rtol=1e-12)


def test_brain_scale_headline_targets(posterior):
    scenarios = lim_energy.scenario_dataset(
        BRAIN["n_params"], tokens=BRAIN["tokens"], bits=BRAIN["bits"]
    )
    median = lim_energy.summarise(lim_energy.scenario_energies(scenarios, posterior=posterior))
    median = median.sel(statistic="median").isel(scenario=0)
    assert 1e8 <= float(median["lim_joules"]) <= 1e9
    assert 1 <= float(median["lim_over_landauer"]) < 10
    assert 1e6 <= float(median["accelerator_over_lim"]) < 1e8


def test_energy_report_shape_and_order(brain_report):
    assert set(brain_report) == set(limits.BOUND_NAMES)
    for name, stats in brain_report.items():
        assert set(stats) == {"median", "low", "high"}
        assert 0 < stats["low"] < stats["median"] < stats["high"], name
    assert 1e8 <= brain_report["lim_joules"]["median"] <= 1e9
    assert (
        brain_report["landauer_joules"]["median"]
        < brain_report["lim_joules"]["median"]
        < brain_report["static_joules"]["median"]
        < brain_report["accelerator_joules"]["median"]
    )
    ratio = brain_report["accelerator_joules"]["median"] / brain_report["lim_joules"]["median"]
    assert 6 <= math.log10(ratio) < 8


def test_energy_report_accepts_published_flops_and_is_reproducible(brain_report):
    gpt3 = energy_report(175e9, flops=3.14e23)
    assert gpt3["accelerator_joules"]["median"] == pytest.approx(
        3.14e23 * brain_report["accelerator_joules"]["median"] / 1.8e27, rel=1e-12
    )
    again = energy_report(BRAIN["n_params"], BRAIN["tokens"], BRAIN["bits"], seed=0)
    assert again == brain_report


def test_device_posterior_is_cached_on_disk_and_a_corrupt_entry_is_recomputed(
    tmp_path, monkeypatch
):
    import xarray as xr

    from limprob.io import CACHE_ENV

    monkeypatch.setenv(CACHE_ENV, str(tmp_path))
    small = dict(seed=5, draws=30, tune=30, chains=1)
    lim_energy._default_device_posterior.cache_clear()
    first = lim_energy.device_posterior(**small)
    entries = list(tmp_path.iterdir())
    assert len(entries) == 1 and entries[0].name.startswith("device_posterior-")

    def no_sampling(*args, **kwargs):
        raise AssertionError("sampled although the posterior is cached")

    lim_energy._default_device_posterior.cache_clear()
    with monkeypatch.context() as patch:  # a new process: the posterior comes from disk
        patch.setattr(lim_energy, "sample_posterior", no_sampling)
        cached = lim_energy.device_posterior(**small)
    xr.testing.assert_identical(cached["posterior"], first["posterior"])

    entries[0].write_bytes(entries[0].read_bytes()[:200])  # truncated: corrupt
    lim_energy._default_device_posterior.cache_clear()
    again = lim_energy.device_posterior(**small)
    xr.testing.assert_equal(again["posterior"], first["posterior"])  # a new sampling time
    lim_energy._default_device_posterior.cache_clear()
    with monkeypatch.context() as patch:  # and the entry was rewritten whole
        patch.setattr(lim_energy, "sample_posterior", no_sampling)
        lim_energy.device_posterior(**small)
    lim_energy._default_device_posterior.cache_clear()
    assert lim_energy.device_posterior_inputs(6, 30, 30, 1) != lim_energy.device_posterior_inputs(
        5, 30, 30, 1
    )


def test_numpy_bounds_equal_the_models_deterministics_and_arviz_intervals(posterior):
    import arviz_stats as azs

    from limprob.models import energy_draws

    scenarios = lim_energy.scenario_dataset(
        BRAIN["n_params"], tokens=BRAIN["tokens"], bits=BRAIN["bits"]
    )
    draws = energy_draws.bound_draws(posterior["posterior"].to_dataset(), scenarios)
    for name in lim_energy.ENERGY_VARS:  # the model sampled the brain-scale scenario
        np.testing.assert_allclose(
            draws[name].values, posterior["posterior"][name].values, rtol=1e-12
        )
    summary = energy_draws.summarise(draws, prob=0.9)
    interval = azs.eti(draws, prob=0.9, dim=["chain", "draw"])
    for name in lim_energy.ENERGY_VARS:
        np.testing.assert_array_equal(
            summary[name].sel(statistic="low"), interval[name].sel(ci_bound="lower")
        )
        np.testing.assert_array_equal(
            summary[name].sel(statistic="high"), interval[name].sel(ci_bound="upper")
        )


def test_a_report_from_the_cached_posterior_imports_no_pymc(posterior):
    import subprocess
    import sys

    script = (
        "import sys; from limprob.energy.report import energy_report; "
        "report = energy_report(1e15, 3e11); "
        "print(report['lim_joules']['median'], 'pymc' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    median, imported = result.stdout.split()
    assert imported == "False"
    assert float(median) == energy_report(1e15, 3e11)["lim_joules"]["median"]
