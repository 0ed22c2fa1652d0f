"""SIGINT and SIGTERM never look like success: exit 130 / 143 with one line, the completed draws
kept consistently (or nothing, on request), and no temporary file left behind."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

from conftest import SMALL_RUN_ARGS
from limprob import interruption
from limprob.chip import SimulatedChip
from limprob.cli import main
from limprob.data import split
from limprob.inference import EvaluationSettings, MCMCSettings, TrainConfig
from limprob.inference.training import train_on_chip
from limprob.io import write_atomically
from limprob.snn import Network
from user_chips import SIGNAL_ENV, SignallingChip

pytestmark = pytest.mark.filterwarnings("ignore:Numba will use object mode")

TINY = SMALL_RUN_ARGS


def limprob_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("limprob")]


def start_training(out: Path, *extra):
    """``limprob train`` in a subprocess with many draws; returns the process and the stderr
    lines read so far."""
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "limprob",
            "train",
            *TINY,
            "--draws",
            "100000",
            "--tune",
            "0",
            "--chains",
            "2",
            "--out",
            str(out),
            *extra,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=out.parent,
    )
    return process, []


def wait_for_sampling(process, lines):
    """Read stderr until PyMC says it starts sampling, then give it a second."""
    for line in process.stderr:
        lines.append(line)
        if "Sequential sampling" in line:
            break
    else:
        pytest.fail("sampling never started: " + "".join(lines))
    time.sleep(1.0)


def test_sigint_keeps_the_draws_and_sigterm_with_discard_writes_nothing(tmp_path):
    keep, discard = tmp_path / "keep", tmp_path / "discard"
    keep.mkdir()
    discard.mkdir()
    kept, dropped = keep / "run.nc", discard / "run.nc"
    dropped.write_bytes(b"an earlier result")
    runs = [start_training(kept), start_training(dropped, "--on-interrupt", "discard")]
    for (process, _), signum in zip(runs, (signal.SIGINT, signal.SIGTERM)):
        wait_for_sampling(process, _)
        process.send_signal(signum)
    (first, first_lines), (second, second_lines) = runs
    stdout, rest = first.communicate(timeout=120)
    err = "".join(first_lines) + rest
    assert first.returncode == 130
    assert "Traceback" not in err and stdout == ""
    [line] = limprob_lines(err)
    assert line.startswith("limprob: interrupted by SIGINT: kept ") and str(kept) in line
    assert sorted(p.name for p in keep.iterdir()) == ["run.nc"]  # no temporary, no lock
    tree = xr.open_datatree(kept)
    attrs = tree.attrs
    assert attrs["interrupted"] == 1 and attrs["signal"] == "SIGINT"
    assert 1 <= attrs["draws_completed"] < attrs["draws"] == 100000
    assert attrs["chains_completed"] <= 2
    for group in ("posterior", "sample_stats", "log_likelihood"):
        assert tree[group].sizes["draw"] == attrs["draws_completed"]
        assert tree[group].sizes["chain"] == attrs["chains_completed"]
    assert np.isfinite(tree["posterior"]["W_in"].values).all()
    assert f"{attrs['chains_completed']} chain(s) x {attrs['draws_completed']} draws" in line

    stdout, rest = second.communicate(timeout=120)
    err = "".join(second_lines) + rest
    assert second.returncode == 143
    assert "Traceback" not in err and stdout == ""
    assert limprob_lines(err) == [
        f"limprob: interrupted by SIGTERM: --on-interrupt discard: {dropped} not written"
    ]
    assert dropped.read_bytes() == b"an earlier result"
    assert sorted(p.name for p in discard.iterdir()) == ["run.nc"]


@pytest.fixture(scope="module")
def tiny_data(wisconsin):
    return split(wisconsin, seed=0, train_fraction=0.2)


def test_an_interrupted_api_run_says_what_it_holds(tiny_data):
    network = Network(4, 8)
    config = TrainConfig(
        network=network,
        mcmc=MCMCSettings(draws=200, tune=10, chains=2),
        evaluation=EvaluationSettings(predictive_draws=10),
    )
    chip = SignallingChip(SimulatedChip(30, 2, network, 1.0, 0), after=60, signum=signal.SIGINT)
    tree = train_on_chip(chip, tiny_data, config, progressbar=False)
    attrs = tree.attrs
    # chain 0 stops after its 60th query (tuning 10 + 50 draws); chain 1 at its first draw
    assert attrs["interrupted"] == 1 and attrs["signal"] == "SIGINT"
    assert (attrs["chains_completed"], attrs["draws_completed"]) == (1, 50)
    assert tree["posterior"].sizes == {
        "chain": 1,
        "draw": 50,
        "feature": 30,
        "hidden": 4,
        "class": 2,
    }
    assert tree["log_likelihood"].sizes["draw"] == 50


def test_a_signal_during_tuning_writes_nothing(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv(SIGNAL_ENV, "5:SIGTERM")
    out = tmp_path / "run.nc"
    assert (
        main(
            [
                "train",
                *TINY,
                "--draws",
                "20",
                "--tune",
                "50",
                "--chains",
                "1",
                "--chip",
                "user_chips:signalling",
                "--out",
                str(out),
            ]
        )
        == 143
    )
    err = capsys.readouterr().err
    assert limprob_lines(err) == [
        "limprob: interrupted by SIGTERM: nothing written: no draw after tuning was completed"
    ]
    assert list(tmp_path.iterdir()) == []


def test_a_signal_while_writing_leaves_no_temporary(tmp_path):
    target = tmp_path / "out.txt"

    def write(name):
        Path(name).write_text("half")
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(1)  # the handler raises here

    with pytest.raises(interruption.Interrupted) as stopped:
        with interruption.handled():
            write_atomically(target, write)
    assert stopped.value.exit_code == 143
    assert list(tmp_path.iterdir()) == []


def test_a_signal_while_finishing_lets_the_work_complete_and_is_reported():
    with interruption.handled():
        with interruption.deferred():
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(0.1)
            finished = True
        assert finished and interruption.received() == signal.SIGINT
        with pytest.raises(interruption.Interrupted):
            interruption.stop_if_received()


SIGNAL_WHILE_IMPORTING = """
import os, signal, sys

class SignalOnImport:
    def find_spec(self, name, path=None, target=None):
        if name == "limprob.cli":
            os.kill(os.getpid(), signal.{name})
        return None

sys.meta_path.insert(0, SignalOnImport())
from limprob.console import main
sys.exit(main(["--version"]))
"""


@pytest.mark.parametrize("name, code", [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_signal_while_the_console_script_imports_the_cli_is_one_line(name, code):
    script = SIGNAL_WHILE_IMPORTING.replace("{name}", name)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode == code
    assert result.stderr == f"limprob: interrupted by {name}: nothing written\n"
    assert result.stdout == ""
