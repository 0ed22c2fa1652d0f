import socket
from dataclasses import replace

import numpy as np
import pytest

import limprob.study as study_module
from limprob.errors import LimprobError
from limprob.inference.backprop import BackpropConfig
from limprob.inference.training import EvaluationSettings, MCMCSettings, TrainConfig
from limprob.snn import Network
from limprob.study import (
    VARIABLES,
    Grid,
    StudySettings,
    cache_dir,
    load_study,
    pending_cells,
    run_study,
)

TINY = StudySettings(
    mh=TrainConfig(
        network=Network(n_hidden=8, n_steps=32),
        mcmc=MCMCSettings(draws=200, tune=100, chains=1),
        evaluation=EvaluationSettings(predictive_draws=5),
    ),
    backprop=BackpropConfig(epochs=5),
)
GRID = Grid(methods=("mh",), strengths=(0.0, 1.0), seeds=(0, 1), train_fractions=(0.5,))


@pytest.fixture
def counted(monkeypatch):
    """Count the cells computed in this process (the in-process path)."""
    calls = []
    original = study_module.run_cell

    def run_cell(cell, settings):
        calls.append(cell)
        return original(cell, settings)

    monkeypatch.setattr(study_module, "run_cell", run_cell)
    return calls


def test_grid_on_dask_then_rerun_computes_nothing(tmp_path, counted):
    from distributed import Client, LocalCluster

    out = tmp_path / "study.nc"
    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=False, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        first = run_study(GRID, TINY, out, client=client, progressbar=False)
    assert first.attrs["cells_computed"] == 4 and first.attrs["cells_cached"] == 0
    assert len(list(cache_dir(out).glob("*.json"))) == 4

    study = load_study(out)
    assert dict(study.sizes) == {
        "method": 1,
        "dataset": 1,
        "strength": 2,
        "noise": 1,
        "weight_bits": 1,
        "seed": 2,
        "train_fraction": 1,
    }
    assert set(VARIABLES) <= set(study.data_vars)
    for name in ("test_accuracy", "test_accuracy_predictive", "train_accuracy"):
        values = study[name].values
        assert np.all((values >= 0) & (values <= 1)), name
    assert np.all(study["chip_queries"].values >= TINY.mh.mcmc.draws + TINY.mh.mcmc.tune)
    assert study.attrs["setting_mh_draws"] == TINY.mh.mcmc.draws
    assert study.attrs["setting_backprop_epochs"] == TINY.backprop.epochs
    assert "version_pymc" in study.attrs

    before = {p.name: p.stat().st_mtime_ns for p in cache_dir(out).glob("*.json")}
    second = run_study(GRID, TINY, out, in_process=True, progressbar=False)
    assert counted == []
    assert second.attrs["cells_computed"] == 0 and second.attrs["cells_cached"] == 4
    assert before == {p.name: p.stat().st_mtime_ns for p in cache_dir(out).glob("*.json")}
    np.testing.assert_array_equal(second["test_accuracy"].values, first["test_accuracy"].values)


def test_interrupted_study_resumes_with_the_missing_cells(tmp_path, counted):
    out = tmp_path / "study.nc"
    grid = Grid(methods=("mh",), strengths=(0.0, 1.0), seeds=(3,), train_fractions=(0.5,))
    partial = run_study(grid, TINY, out, in_process=True, max_cells=1, progressbar=False)
    assert len(counted) == 1
    assert int(partial["test_accuracy"].isnull().sum()) == 1  # the absent cell is NaN
    missing = pending_cells(grid, TINY, out)
    assert len(missing) == 1 and missing[0] != counted[0]

    resumed = run_study(grid, TINY, out, in_process=True, progressbar=False)
    assert counted[1:] == missing
    assert resumed.attrs["cells_computed"] == 1 and resumed.attrs["cells_cached"] == 1
    assert not resumed["test_accuracy"].isnull().any()

    # other MH settings are other cells; a torn cache file counts as absent
    longer = replace(TINY, mh=replace(TINY.mh, mcmc=replace(TINY.mh.mcmc, draws=300)))
    assert len(pending_cells(grid, longer, out)) == 2
    next(cache_dir(out).glob("*.json")).write_text("{not json")
    assert len(pending_cells(grid, TINY, out)) == 1


def _unused_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_scheduler_that_does_not_answer_is_one_error_line(tmp_path, capsys):
    import limprob.cli as cli

    out = tmp_path / "study.nc"
    address = f"tcp://127.0.0.1:{_unused_port()}"
    with pytest.raises(LimprobError, match="no Dask scheduler answers"):
        run_study(GRID, TINY, out, scheduler=address, progressbar=False)

    code = cli.main(
        [
            "study",
            "--out",
            str(out),
            "--scheduler",
            address,
            "--methods",
            "mh",
            "--strengths",
            "0",
            "--seeds",
            "0",
            "--no-progress",
        ]
    )
    assert code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and "no Dask scheduler answers" in lines[0]
    assert not out.exists() and not cache_dir(out).exists()


def test_bad_grid_is_a_limprob_error():
    with pytest.raises(LimprobError, match="unknown method"):
        Grid(methods=("sgd",))
    with pytest.raises(LimprobError, match="training fraction"):
        Grid(train_fractions=(0.0,))
    with pytest.raises(LimprobError, match="unknown dataset"):
        Grid(datasets=("mnist",))
    with pytest.raises(LimprobError, match="noise must be"):
        Grid(noises=(-0.1,))
    with pytest.raises(LimprobError, match="weight bits must be in 1..16"):
        Grid(weight_bits=(17,))


def test_a_noisy_multi_class_grid_has_a_cell_per_combination(tmp_path):
    """Wine (3 classes) on a noisy 4-bit chip: every method, backprop cells only (fast)."""
    grid = Grid(
        methods=("backprop", "noise_aware_backprop"),
        datasets=("wine",),
        strengths=(1.0,),
        noises=(0.0, 0.2),
        weight_bits=(0, 4),
        seeds=(0,),
    )
    settings = StudySettings(backprop=BackpropConfig(epochs=3))
    study = run_study(grid, settings, tmp_path / "noisy.nc", in_process=True, progressbar=False)
    assert study.attrs["cells_computed"] == 8
    accuracy = study["test_accuracy"].squeeze(["dataset", "strength", "seed", "train_fraction"])
    assert accuracy.dims == ("method", "noise", "weight_bits")
    assert np.all((accuracy >= 0) & (accuracy <= 1))
    # with no noise and continuous weights noise-aware backprop is plain backprop
    plain = accuracy.sel(noise=0.0, weight_bits=0)
    assert float(plain[0]) == float(plain[1])


def test_cache_round_trip_keeps_nan(tmp_path):
    from limprob.study import Cell, cell_path, read_cell, write_cell

    cell = Cell("backprop", "wisconsin", 1.0, 0.0, 0, 0, 1.0)
    path = cell_path(tmp_path / "s.nc.cells", cell, TINY)
    result = {
        "test_accuracy": 0.9,
        "test_accuracy_predictive": float("nan"),
        "train_accuracy": 0.95,
        "chip_queries": 0.0,
        "wall_seconds": 1.5,
        "acceptance_rate": 0.25,
        "ess_bulk_log_likelihood": 12.0,
        "repeats": 3.0,
    }
    write_cell(path, cell, TINY, result)
    back = read_cell(path)
    assert np.isnan(back.pop("test_accuracy_predictive"))
    assert back == {k: v for k, v in result.items() if k != "test_accuracy_predictive"}


def test_mh_settings_are_checked_per_cell_before_any_work(tmp_path):
    """A template that only fails on a noisy chip (elliptical slice) serves deterministic
    grids, and a noisy grid with it is refused before a cell runs."""
    mh = StudySettings().mh
    settings = StudySettings(mh=replace(mh, mcmc=replace(mh.mcmc, sampler="slice")))
    out = tmp_path / "noisy.nc"
    with pytest.raises(LimprobError, match="not exact on a noisy chip"):
        run_study(
            Grid(methods=("mh",), strengths=(1.0,), noises=(0.0, 0.1), seeds=(0,)),
            settings,
            out,
            in_process=True,
            progressbar=False,
        )
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(LimprobError, match="repeats must be a positive integer"):
        StudySettings(repeats=0)


def test_each_data_set_may_train_its_own_network(tmp_path):
    """With dataset_networks a data set's cells run with its default network and gain; a data
    set whose default is the template's shares the template's cached cells."""
    import json

    from limprob.models.defaults import DATASET_NETWORKS
    from limprob.study import Cell, cell_path

    template = StudySettings(backprop=BackpropConfig(epochs=2))
    own = replace(template, dataset_networks=True)
    digits = own.for_dataset("digits")
    assert digits.mh.model.kappa == digits.backprop.kappa == DATASET_NETWORKS["digits"]["kappa"]
    assert digits.mh.network.n_hidden == DATASET_NETWORKS["digits"]["n_hidden"]
    assert own.for_dataset("wisconsin") == template
    folder = tmp_path / "s.nc.cells"
    for method in ("mh", "backprop"):
        wisconsin = Cell(method, "wisconsin", 1.0, 0.0, 0, 0, 1.0)
        assert cell_path(folder, wisconsin, own) == cell_path(folder, wisconsin, template)
        on_digits = replace(wisconsin, dataset="digits")
        assert cell_path(folder, on_digits, own) != cell_path(folder, on_digits, template)
    # a backprop cell on digits records, and trains with, digits' gain
    grid = Grid(
        methods=("backprop",),
        datasets=("digits",),
        strengths=(1.0,),
        seeds=(0,),
        train_fractions=(0.1,),
    )
    study = run_study(grid, own, tmp_path / "s.nc", in_process=True, progressbar=False)
    assert study.attrs["setting_dataset_networks"] == 1
    record = json.loads(next(folder.glob("backprop_digits_*.json")).read_text())
    assert record["config"]["kappa"] == DATASET_NETWORKS["digits"]["kappa"]


def test_the_oracle_row_is_labelled_and_every_method_is_a_fraction_of_it(tmp_path):
    """Cells written to the cache (no training): the study divides each method's accuracy by
    the oracle's of the same chip and split, and every output names the oracle a
    simulation-only reference."""
    from limprob.study import (
        REFERENCE_LABEL,
        Cell,
        assemble,
        cell_path,
        pick,
        summary_table,
        write_cell,
    )

    grid = Grid(methods=("mh", "mh_ideal_start", "oracle"), strengths=(1.0,), seeds=(0, 1))
    out = tmp_path / "s.nc"
    accuracy = {
        ("mh", 0): 0.6,
        ("mh", 1): 0.7,
        ("mh_ideal_start", 0): 0.9,
        ("mh_ideal_start", 1): 0.85,
        ("oracle", 0): 0.96,
        ("oracle", 1): 0.94,
    }
    for (method, seed), value in accuracy.items():
        cell = Cell(method, "wisconsin", 1.0, 0.0, 0, seed, 1.0)
        write_cell(
            cell_path(cache_dir(out), cell, TINY),
            cell,
            TINY,
            {name: value if name == "test_accuracy" else 0.0 for name in VARIABLES},
        )
    study = assemble(grid, TINY, out)
    fraction = study["fraction_of_oracle"].squeeze()
    for (method, seed), value in accuracy.items():
        got = pick(fraction, method=method, seed=seed).item()
        assert got == pytest.approx(value / accuracy["oracle", seed])
    assert REFERENCE_LABEL in study["method"].attrs["description"]
    table = summary_table(study)
    oracle_rows = [row for row in table.splitlines() if row.startswith("| oracle")]
    assert len(oracle_rows) == 1 and REFERENCE_LABEL in oracle_rows[0]
    mh_row = next(row for row in table.splitlines() if row.startswith("| mh |"))
    assert f"{np.mean([0.6 / 0.96, 0.7 / 0.94]):.3f} of oracle" in mh_row


def test_a_cell_is_keyed_by_the_configuration_it_trains_with(tmp_path):
    """Any field of the MH template a cell does not set itself changes the cell's cache key;
    the fields the cell sets are the cell's own, whatever the template says."""
    from limprob.study import Cell, cell_path

    cell = Cell("mh", "wisconsin", 1.0, 0.0, 0, 0, 1.0)
    folder = tmp_path / "s.nc.cells"
    template = StudySettings()
    config = template.cell_config(cell)
    chip, mcmc, evaluation = config.chip, config.mcmc, config.evaluation
    assert (chip.strength, chip.seed, mcmc.seed, evaluation.train_fraction) == (
        cell.strength,
        cell.seed,
        cell.seed,
        cell.train_fraction,
    )
    mh = template.mh
    for change in (
        {"model": replace(mh.model, sigma_w=2.0)},
        {"evaluation": replace(mh.evaluation, predictive_draws=7)},
        {"evaluation": replace(mh.evaluation, point_estimate="best")},
        {"mcmc": replace(mh.mcmc, blocks="layers")},
        {"network": replace(mh.network, reset="zero")},
    ):
        other = replace(template, mh=replace(mh, **change))
        assert cell_path(folder, cell, other) != cell_path(folder, cell, template), change
    overridden = replace(
        template,
        mh=replace(
            mh,
            chip=replace(mh.chip, strength=0.5),
            mcmc=replace(mh.mcmc, seed=9),
            evaluation=replace(mh.evaluation, train_fraction=0.5),
        ),
    )
    assert cell_path(folder, cell, overridden) == cell_path(folder, cell, template)
