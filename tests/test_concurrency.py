"""Two runs never do one job twice: study cells are locked while computed, and a second
``train`` on the same output is refused while the first runs."""

import threading
import time

import pytest

import limprob.study as study_module
from limprob.cli import main
from limprob.io import exclusive, lock_path
from limprob.study import Grid, cache_dir, cell_path, run_study, write_cell
from test_study import TINY

GRID = Grid(methods=("mh",), strengths=(0.0, 1.0), seeds=(0,), train_fractions=(0.5,))
RESULT = {
    "test_accuracy": 0.5,
    "test_accuracy_predictive": 0.5,
    "train_accuracy": 0.5,
    "chip_queries": 1.0,
    "wall_seconds": 0.0,
}


@pytest.fixture
def fake_cells(monkeypatch):
    """Cells that compute instantly, their strength as the accuracy; the calls are recorded."""
    calls = []

    def run_cell(cell, settings):
        calls.append(cell)
        return {**RESULT, "test_accuracy": cell.strength}

    monkeypatch.setattr(study_module, "run_cell", run_cell)
    return calls


def test_a_cell_another_run_is_computing_is_waited_for_not_computed(tmp_path, fake_cells):
    out = tmp_path / "study.nc"
    theirs, ours = GRID.cells()
    path = cell_path(cache_dir(out), theirs, TINY)
    path.parent.mkdir()
    holding, done = threading.Event(), threading.Event()

    def other_run():  # holds the cell's lock, then writes its result
        with exclusive(path):
            holding.set()
            time.sleep(1.0)
            write_cell(path, theirs, TINY, {**RESULT, "test_accuracy": 0.25})
        done.set()

    thread = threading.Thread(target=other_run)
    thread.start()
    holding.wait()
    study = run_study(GRID, TINY, out, in_process=True, progressbar=False)
    thread.join()
    assert fake_cells == [ours]  # the other run's cell was not computed again
    assert done.is_set()
    assert study.attrs["cells_computed"] == 1 and study.attrs["cells_cached"] == 1
    assert sorted(study["test_accuracy"].values.ravel()) == [0.25, 1.0]
    assert sorted(p.name for p in cache_dir(out).iterdir()) == sorted(
        cell_path(cache_dir(out), c, TINY).name for c in GRID.cells()
    )  # no lock file left


def test_a_cell_whose_run_died_is_computed(tmp_path, fake_cells):
    out = tmp_path / "study.nc"
    theirs, _ = GRID.cells()
    path = cell_path(cache_dir(out), theirs, TINY)
    path.parent.mkdir()
    released = threading.Event()

    def dying_run():
        with exclusive(path):
            released.wait(0.5)

    thread = threading.Thread(target=dying_run)
    thread.start()
    time.sleep(0.1)
    study = run_study(GRID, TINY, out, in_process=True, progressbar=False)
    thread.join()
    assert sorted(c.strength for c in fake_cells) == [0.0, 1.0]
    assert study.attrs["cells_computed"] == 2


def test_a_second_train_on_the_same_output_is_refused(tmp_path, capsys):
    out = tmp_path / "run.nc"
    with exclusive(out):
        assert main(["train", "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert err == (
        f"limprob: error: {out}: another limprob run is writing it (it holds "
        f"{lock_path(out)}); wait for it to finish or choose another output"
    )
    assert list(tmp_path.iterdir()) == []


def test_a_study_stopped_by_a_signal_keeps_its_finished_cells_and_no_lock(tmp_path, monkeypatch):
    import os
    import signal

    from limprob import interruption

    calls = []

    def run_cell(cell, settings):
        calls.append(cell)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(1)  # the handler raises here
        return RESULT

    monkeypatch.setattr(study_module, "run_cell", run_cell)
    out = tmp_path / "study.nc"
    with pytest.raises(interruption.Interrupted) as stopped:
        with interruption.handled():
            run_study(GRID, TINY, out, in_process=True, progressbar=False)
    assert stopped.value.exit_code == 143
    assert sorted(p.name for p in tmp_path.iterdir()) == ["study.nc.cells"]
    [cached] = cache_dir(out).iterdir()  # the finished cell, and no lock or temporary
    assert cached.name == cell_path(cache_dir(out), calls[0], TINY).name
