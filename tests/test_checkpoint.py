"""Checkpoints: a run killed by SIGKILL loses less than one write's worth of steps, and
``--resume`` finishes it to the trace the uninterrupted run writes, bit for bit."""

import json
import os
import pickle
import re
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pymc as pm
import pytest
import xarray as xr

from conftest import SMALL_RUN_ARGS
from limprob.cli import main
from limprob.inference.checkpoint import Checkpoint
from limprob.inference.step_methods import (
    BlockedMetropolis,
    DEMetropolisZCached,
    EllipticalSlice,
    PreconditionedCrankNicolson,
    layer_blocks,
)
from user_chips import SIGNAL_ENV

pytestmark = pytest.mark.filterwarnings("ignore:Numba will use object mode")


def toy_model():
    with pm.Model() as model:
        a = pm.Normal("a", 0.0, 1.0, shape=2)
        b = pm.Normal("b", 0.0, 2.0, shape=3)
        pm.Normal("y", mu=a.sum() - b.sum(), sigma=0.5, observed=np.array([0.3, -0.1, 0.7]))
    return model


STEPS = {
    "pcn": PreconditionedCrankNicolson,
    "slice": EllipticalSlice,
    "demcz": lambda: DEMetropolisZCached(thin=2),
    "blocked, learning its covariance": lambda: BlockedMetropolis(
        adapt_covariance=True, covariance_warmup=4
    ),
    "layers of pcn": lambda: layer_blocks(None, PreconditionedCrankNicolson),
}


def run(step, point, first, stop, tune):
    """Steps ``first`` .. ``stop - 1`` of a chain, as PyMC's loop makes them."""
    visited = []
    for i in range(first, stop):
        if i == tune:
            step.stop_tuning()
        point, stats = step.step(point)
        visited.append((point, stats))
    return point, visited


@pytest.mark.parametrize("name", STEPS)
def test_a_step_method_restored_from_its_pickled_state_continues_exactly(name):
    model, tune, total, cut = toy_model(), 6, 20, 9
    with model:
        start = model.initial_point()

        def fresh(seed):
            step = STEPS[name]()
            step.setup_chain(np.random.default_rng(seed), tune, total - tune)
            if hasattr(step, "reset_tuning"):
                step.reset_tuning()
            return step

        _, straight = run(fresh(1), start, 0, total, tune)
        first = fresh(1)
        point, _ = run(first, start, 0, cut, tune)
        state = pickle.loads(pickle.dumps(first.sampling_state))
        second = fresh(99)  # a new object: all it knows comes from the state
        second.sampling_state = state
        _, rest = run(second, point, cut, total, tune)
    for (expected, expected_stats), (got, got_stats) in zip(straight[cut:], rest, strict=True):
        assert all(np.array_equal(expected[k], got[k]) for k in expected)
        # the same stats, evaluations included: the restored cache spares a query
        for wanted, stats in zip(expected_stats, got_stats, strict=True):
            assert wanted.keys() == stats.keys()
            assert all(np.array_equal(wanted[k], stats[k], equal_nan=True) for k in wanted)


TINY = [
    *SMALL_RUN_ARGS,
    "--draws",
    "40",
    "--tune",
    "20",
    "--chains",
    "2",
    "--predictive-draws",
    "6",
    "--chip",
    "user_chips:noisy_signalling",
    "--repeats",
    "2",
]
"""A noisy chip (noise 0.1: the noise of query k depends on k, so a resumed run must restore
the chip's count) with two queries per estimate (pseudo-marginal: the current estimate is
state). The chip is a user's chip that signals as LIMPROB_TEST_SIGNAL says
(tests/user_chips.py): the checkpoint records its spec, so --resume rebuilds it."""
EVERY = 10


def arrays_equal(a: xr.DataTree, b: xr.DataTree) -> list[str]:
    """The variables (``group:name``) whose values differ between two traces."""
    assert {n.path for n in a.subtree} == {n.path for n in b.subtree}
    return [
        f"{node.path}:{name}"
        for node in a.subtree
        for name, values in node.to_dataset().data_vars.items()
        if not np.array_equal(values.values, b[node.path][name].values, equal_nan=True)
    ]


def test_sigkill_loses_less_than_one_write_and_resumes_bit_for_bit(tmp_path, monkeypatch, capsys):
    checkpoint, killed = tmp_path / "ck", tmp_path / "killed.nc"
    # chain 0 makes 4 + 59 x 2 = 122 queries after the timing query; chain 1 then 4 + 2 per
    # step: query 175 is its 26th step's first
    after = 175
    args = [
        "train",
        *TINY,
        "--checkpoint",
        str(checkpoint),
        "--checkpoint-every",
        str(EVERY),
        "--out",
        str(killed),
    ]
    tests = str(Path(__file__).parent)
    environment = {
        **os.environ,
        SIGNAL_ENV: f"{after}:SIGKILL",
        "PYTHONPATH": os.pathsep.join(filter(None, [tests, os.environ.get("PYTHONPATH")])),
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "limprob", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=environment,
    )
    reference = tmp_path / "reference.nc"
    assert main(["train", *TINY, "--out", str(reference)]) == 0  # meanwhile, uninterrupted
    process.communicate(timeout=300)
    assert process.returncode == -signal.SIGKILL

    with (checkpoint / "chain-0.state").open("rb") as handle:
        assert pickle.load(handle).steps == 60
    with (checkpoint / "chain-1.state").open("rb") as handle:
        progress = pickle.load(handle)
    assert progress.steps % EVERY == 0
    assert 0 < after - progress.chip_queries < 2 * EVERY  # lost: fewer than EVERY steps
    assert not killed.exists()

    # resume, stopped once more by SIGINT between the two queries of a step (--repeats 2):
    # the step is abandoned and the checkpoint written as the chain stood before it
    monkeypatch.setenv(SIGNAL_ENV, f"{after + 13}:SIGINT")
    capsys.readouterr()
    assert main(["train", "--resume", str(checkpoint), "--no-progress"]) == 130
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("limprob: interrupted by SIGINT: kept 1 chain(s) x 40 draws")
    assert f"limprob train --resume {checkpoint} goes on" in line
    with (checkpoint / "chain-1.state").open("rb") as handle:
        stopped = pickle.load(handle)
    assert stopped.steps % EVERY != 0 and stopped.steps > progress.steps
    kept = xr.open_datatree(killed)
    assert (kept.attrs["interrupted"], kept.attrs["resumed"]) == (1, 1)

    monkeypatch.undo()
    assert main(["train", "--resume", str(checkpoint), "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"resumed {checkpoint}: {20 + stopped.steps} draws after tuning" in out
    finished, uninterrupted = xr.open_datatree(killed), xr.open_datatree(reference)
    assert arrays_equal(finished, uninterrupted) == []
    attrs = finished.attrs
    assert (attrs["resumed"], attrs["interrupted"], attrs["checkpoint_every"]) == (1, 0, EVERY)
    assert attrs["resumed_draws"] == 40 + stopped.steps - 20
    assert attrs["resumed_steps"] == 60 + stopped.steps
    for name in (
        "training_chip_queries",
        "setup_chip_queries",
        "evaluation_chip_queries",
        "test_accuracy_predictive",
    ):
        assert attrs[name] == uninterrupted.attrs[name], name
    assert json.loads((checkpoint / "checkpoint.json").read_text())["complete"] is True
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no lock, no tmp

    assert main(["train", "--resume", str(checkpoint)]) == 2
    assert "its run is complete" in capsys.readouterr().err


def test_a_new_checkpoint_writes_nothing_until_the_run_begins(tmp_path):
    folder = tmp_path / "ck"
    checkpoint = Checkpoint.new(folder, every=5, out=tmp_path / "x.nc")
    assert not folder.exists() and not checkpoint.resuming
    assert checkpoint.out == str(Path(tmp_path / "x.nc").absolute())


def test_a_checkpoint_of_the_older_flat_configuration_is_read_as_its_run(tmp_path):
    """A checkpoint written before the configuration had parts stores its fields flat
    (``hidden``, ``strength``, ``draws``, ...): it is read as the same run, and a resume of
    that run is accepted by it."""
    from limprob.chip.settings import ChipSettings
    from limprob.data import load_table
    from limprob.errors import LimprobError
    from limprob.inference.checkpoint import MANIFEST, run_sha256
    from limprob.inference.training import (
        MCMCSettings,
        TrainConfig,
        checkpointed_config,
    )
    from limprob.snn import Network

    config = TrainConfig(
        network=Network(n_hidden=4, n_steps=8, reset="zero"),
        chip=ChipSettings(strength=0.5, seed=3, noise=0.1),
        mcmc=MCMCSettings(draws=40, tune=20, cores=1, repeats=2, init_seeds=(1, 2)),
    )
    folder = tmp_path / "ck"
    Checkpoint.new(folder, out=tmp_path / "run.nc").begin(config, load_table())
    manifest = json.loads((folder / MANIFEST).read_text())
    flat = json.loads(json.dumps(config.flat_fields()))
    assert flat["hidden"] == 4 and flat["strength"] == 0.5 and flat["init_seeds"] == [1, 2]
    manifest["config"] = flat
    manifest["run_sha256"] = run_sha256(flat, manifest["table_sha256"])
    (folder / MANIFEST).write_text(json.dumps(manifest))

    old = Checkpoint.open(folder)
    assert checkpointed_config(old) == config
    old.begin(config)  # the run it holds: no error
    with pytest.raises(LimprobError, match="another run configuration"):
        old.begin(TrainConfig())


class Crash(Exception):
    """A run stopped dead (as by SIGKILL) at a chip query."""


class CrashingChip:
    """A noisy simulated chip through Python only, that counts the queries it is asked
    (``asked``, whatever ``continue_from`` sets its counter to) and raises :class:`Crash`
    before query ``crash_at`` of its counter (None: never)."""

    def __init__(self, crash_at: int | None = None):
        from limprob.chip import SimulatedChip
        from limprob.snn import Network

        self.chip = SimulatedChip(30, 2, Network(n_hidden=4, n_steps=8), 1.0, 0, noise=0.1)
        self.network, self.n_inputs, self.n_outputs = self.chip.network, 30, 2
        self.crash_at, self.asked = crash_at, 0

    queries = property(lambda self: self.chip.queries)
    noise = property(lambda self: self.chip.noise)
    weight_bits = property(lambda self: self.chip.weight_bits)
    weight_range = property(lambda self: self.chip.weight_range)

    def run(self, w_in, w_out, x):
        if self.queries == self.crash_at:
            raise Crash(self.queries)
        self.asked += 1
        return self.chip.run(w_in, w_out, x)

    def describe(self):
        return self.chip.describe()

    def continue_from(self, queries):
        self.chip.continue_from(queries)


def ideal_start_run():
    """Two chains from ideal-model backprop starts (chosen by the chip) on a noisy chip, with
    a checkpoint every 5 steps."""
    from limprob.inference import EvaluationSettings, MCMCSettings, TrainConfig
    from limprob.snn import Network

    return TrainConfig(
        network=Network(n_hidden=4, n_steps=8),
        mcmc=MCMCSettings(draws=12, tune=6, chains=2, sampler="blocked", init="ideal", cores=1),
        evaluation=EvaluationSettings(predictive_draws=4, train_fraction=0.2),
    )


@pytest.fixture(scope="module")
def ideal_start_reference(wisconsin):
    """The uninterrupted run of :func:`ideal_start_run`, without a checkpoint."""
    from limprob.inference.training import train

    return train(ideal_start_run(), wisconsin, chip=CrashingChip(), progressbar=False)


def crashed_checkpoint(folder, table, crash_at):
    """A checkpoint of :func:`ideal_start_run` stopped dead before chip query ``crash_at``."""
    from limprob.inference.training import train

    checkpoint = Checkpoint.new(folder, every=5)
    with pytest.raises(Crash):
        train(
            ideal_start_run(),
            table,
            chip=CrashingChip(crash_at),
            checkpoint=checkpoint,
            progressbar=False,
        )
    return folder


def resumed(folder):
    """The checkpoint in ``folder`` resumed on a fresh chip, and the queries it asked."""
    from limprob.inference.training import resume

    chip = CrashingChip()
    return resume(Checkpoint.open(folder), chip=chip, progressbar=False), chip.asked


# chip queries of the run: 2 timing the chip, 6 choosing the start (2 ideal-model
# candidates, 4 prior draws), then chain 0 from query 8, chain 1 from query 8 + 19
@pytest.mark.parametrize("crash_at", [11, 40], ids=["chain 0 before its first write", "chain 1"])
def test_a_resume_reads_the_chosen_starts_back_and_makes_no_choosing_query(
    crash_at, tmp_path, wisconsin, ideal_start_reference, monkeypatch
):
    from limprob.inference import starts
    from limprob.inference.checkpoint import MANIFEST, STARTS

    reference = ideal_start_reference
    assert reference.attrs["start_selection_chip_queries"] == 6
    assert reference.attrs["start_per_chain"].count("ideal") >= 1  # a start backprop made
    folder = crashed_checkpoint(tmp_path / "ck", wisconsin, crash_at)
    assert (folder / STARTS).is_file()
    old = tmp_path / "old"  # the same checkpoint as written before starts were stored
    old.mkdir()
    for file in folder.iterdir():
        if file.name != STARTS:
            (old / file.name).write_bytes(file.read_bytes())
    manifest = json.loads((old / MANIFEST).read_text())
    del manifest["starts_sha256"]
    (old / MANIFEST).write_text(json.dumps(manifest))

    chosen_again, asked_old = resumed(old)  # chooses again: backprop and queries
    assert arrays_equal(chosen_again, reference) == []

    def forbidden(*args, **kwargs):
        raise AssertionError("a resume chose the starts again")

    monkeypatch.setattr(starts, "_backprop_candidates", forbidden)
    monkeypatch.setattr(starts, "log_likelihood_on_chip", forbidden)
    tree, asked = resumed(folder)
    assert arrays_equal(tree, reference) == []
    assert asked == asked_old - reference.attrs["start_selection_chip_queries"]
    for name, value in reference.attrs.items():
        if name.startswith(("start_", "init")) or name.endswith("chip_queries"):
            assert np.array_equal(tree.attrs[name], value), name


def test_stored_starts_of_the_wrong_shape_are_refused_in_one_line(tmp_path, wisconsin, capsys):
    from limprob.errors import LimprobError
    from limprob.inference.checkpoint import MANIFEST, STARTS, file_sha256
    from limprob.inference.training import resume

    folder = crashed_checkpoint(tmp_path / "ck", wisconsin, 11)
    with np.load(folder / STARTS) as stored:
        entries = {key: stored[key] for key in stored.files}
    entries["start:W_in"] = entries["start:W_in"][:, :, :3]  # a 30-3 layer, not 30-4
    np.savez(folder / STARTS, **entries)
    manifest = json.loads((folder / MANIFEST).read_text())
    manifest["starts_sha256"] = file_sha256(folder / STARTS)  # edited consistently
    manifest["out"] = str(tmp_path / "run.nc")
    (folder / MANIFEST).write_text(json.dumps(manifest))
    refused = r"starts\.npz: starts of shape W_in \(2, 30, 3\)"
    chip = CrashingChip()
    with pytest.raises(LimprobError, match=refused):
        resume(Checkpoint.open(folder), chip=chip, progressbar=False)
    assert chip.asked == 0  # refused before any chip query
    capsys.readouterr()
    assert main(["train", "--resume", str(folder), "--no-progress"]) == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and re.search(refused, error[0]) and "Traceback" not in error[0]
    assert not (tmp_path / "run.nc").exists()

    entries["attr:init"] = np.array([{"a": 1}], dtype=object)  # would need pickle to read
    np.savez(folder / STARTS, **entries)
    manifest["starts_sha256"] = file_sha256(folder / STARTS)
    (folder / MANIFEST).write_text(json.dumps(manifest))
    with pytest.raises(LimprobError, match="malformed stored starts"):
        Checkpoint.open(folder)
    (folder / STARTS).write_bytes(b"not a starts file")
    with pytest.raises(LimprobError, match="not the file the run wrote"):
        Checkpoint.open(folder)
