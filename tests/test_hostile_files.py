"""Hostile files: no command writes over its own input, and every file limprob reads is
checked before it is trusted (one line, exit code 2, inputs left byte for byte as they were)."""

import os

import pytest

from limprob.cli import main

INPUT = b"label,a\n0,1\n1,2\n0,3\n1,4\n0,5\n1,6\n"
"""The bytes of every input in the same-path tests (a small valid CSV): the command is refused
before it reads them, and they must be unchanged afterwards."""

WRITERS = {
    "train --data": lambda i, o: ["train", "--data", i, "--out", o],
    "train --screen": lambda i, o: ["train", "--screen", i, "--sampler", "pcn", "--out", o],
    "train --checkpoint": lambda i, o: ["train", "--data", i, "--checkpoint", o,
                                        "--out", o + ".nc"],
    "energy --out": lambda i, o: ["energy", i, "--out", o],
    "compare --plot": lambda i, o: ["compare", i + ".other", i, "--plot", o],
    "plot --out": lambda i, o: ["plot", i, "--out", o],
    "export --nir": lambda i, o: ["export", i, "--nir", o],
    "probe --data": lambda i, o: ["probe", "--data", i, "--out", o],
    "twin --out": lambda i, o: ["twin", i, "--out", o],
}
"""Every command that writes a file, with one of its inputs ``i`` and its output ``o``
(``study`` writes but reads no file of the user's)."""


def refused(args, capsys):
    """The one line of a refusal (exit code 2, nothing on stdout)."""
    assert main(args) == 2
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("limprob"), captured.err
    assert captured.out == ""
    return lines[0]


@pytest.mark.parametrize("how", ["same", "symlink", "relative", "hardlink"])
@pytest.mark.parametrize("writer", WRITERS)
def test_no_command_writes_over_its_input(writer, how, tmp_path, monkeypatch, capsys):
    source = tmp_path / "input.csv"
    source.write_bytes(INPUT)
    (tmp_path / "input.csv.other").write_bytes(INPUT)
    output = str(source)
    if how == "symlink":
        (tmp_path / "link.csv").symlink_to(source)
        output = str(tmp_path / "link.csv")
    elif how == "relative":
        (tmp_path / "sub").mkdir()
        monkeypatch.chdir(tmp_path / "sub")
        output = os.path.join("..", "sub", "..", "input.csv")
    elif how == "hardlink":
        os.link(source, tmp_path / "hard.csv")
        output = str(tmp_path / "hard.csv")
    before = sorted(p.name for p in tmp_path.iterdir())
    line = refused(WRITERS[writer](str(source), output), capsys)
    assert "would destroy the input" in line
    assert source.read_bytes() == INPUT
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def test_two_outputs_of_one_command_must_differ(tmp_path, capsys):
    out = str(tmp_path / "run")
    line = refused(["train", "--out", out, "--checkpoint", out], capsys)
    assert "name the same path" in line
    assert list(tmp_path.iterdir()) == []


TINY = ["--hidden", "3", "--steps", "8", "--draws", "6", "--tune", "2", "--chains", "1",
        "--predictive-draws", "2", "--train-fraction", "0.2", "--no-progress"]
TINY_RUN = [*TINY, "--checkpoint-every", "2"]


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    """The checkpoints of two tiny runs that differ only in the chip's strength (1 and 2)."""
    folder = tmp_path_factory.mktemp("checkpoints")
    for strength in ("1", "2"):
        assert main(["train", *TINY_RUN, "--strength", strength,
                     "--checkpoint", str(folder / f"ck{strength}"),
                     "--out", str(folder / f"run{strength}.nc")]) == 0
    return folder / "ck1", folder / "ck2"


def reopened(source, target):
    """A copy of the checkpoint ``source`` in ``target`` marked unfinished, so that it can be
    resumed."""
    import json
    import shutil

    shutil.copytree(source, target)
    manifest = json.loads((target / "checkpoint.json").read_text())
    (target / "checkpoint.json").write_text(json.dumps({**manifest, "complete": False}))
    return target


def edit_json(path, **changes):
    import json

    path.write_text(json.dumps({**json.loads(path.read_text()), **changes}))


def draw_file(folder):
    return sorted(folder.glob("chain-0-*.npz"))[0]


TAMPERING = {
    "edited strength": (lambda ck, other: edit_json(
        ck / "checkpoint.json", config={**__import__("json").loads(
            (ck / "checkpoint.json").read_text())["config"], "strength": 3.0}),
        "configuration was edited"),
    "draw file of another run": (lambda ck, other: draw_file(ck).write_bytes(
        draw_file(other).read_bytes()), "not the file chain 0 wrote"),
    "state of another run": (lambda ck, other: (ck / "chain-0.state").write_bytes(
        (other / "chain-0.state").read_bytes()), "the state of another run's chain"),
    "truncated draw file": (lambda ck, other: draw_file(ck).write_bytes(
        draw_file(ck).read_bytes()[:100]), "not the file chain 0 wrote"),
    "truncated state": (lambda ck, other: (ck / "chain-0.state").write_bytes(
        (ck / "chain-0.state").read_bytes()[:50]), "cannot read the chain's state"),
    "missing draw file": (lambda ck, other: draw_file(ck).unlink(), "missing; chain 0"),
    "edited table": (lambda ck, other: (ck / "table.nc").write_bytes(
        (ck / "table.nc").read_bytes() + b"\0"), "changed since the run wrote it"),
    "malformed manifest": (lambda ck, other: edit_json(ck / "checkpoint.json", every="ten"),
                           "a malformed manifest"),
    "manifest without a hash": (lambda ck, other: edit_json(ck / "checkpoint.json",
                                                           run_sha256=None),
                                "a malformed manifest"),
    "manifest not JSON": (lambda ck, other: (ck / "checkpoint.json").write_text("{"),
                          "not a limprob checkpoint"),
    "manifest a list": (lambda ck, other: (ck / "checkpoint.json").write_text("[1]"),
                        "not a limprob checkpoint"),
}


@pytest.mark.parametrize("case", TAMPERING)
def test_a_tampered_checkpoint_is_refused_before_any_chip_query(case, two_checkpoints,
                                                                 tmp_path, monkeypatch, capsys):
    from limprob.chip import SimulatedChip

    mine, other = two_checkpoints
    checkpoint = reopened(mine, tmp_path / "ck")
    tamper, message = TAMPERING[case]
    tamper(checkpoint, other)
    out = __import__("json").loads((mine / "checkpoint.json").read_text())["out"]
    before = open(out, "rb").read()

    def no_query(*args, **kwargs):
        raise AssertionError("the chip was queried")

    monkeypatch.setattr(SimulatedChip, "run", no_query)
    line = refused(["train", "--resume", str(checkpoint)], capsys)
    assert message in line
    assert open(out, "rb").read() == before


def test_an_untampered_checkpoint_passes_its_checks(two_checkpoints, tmp_path):
    from limprob.inference.checkpoint import Checkpoint

    checkpoint = Checkpoint.open(reopened(two_checkpoints[0], tmp_path / "ck"))
    assert checkpoint.progress(0).steps == 8 and len(checkpoint.progress(0).draw_files) == 3


@pytest.mark.parametrize("checkpointed", [False, True])
def test_a_first_signal_stops_a_long_estimate_at_its_next_chip_query(checkpointed, tmp_path,
                                                                     monkeypatch, capsys):
    import signal

    import limprob.inference.training as training
    from limprob.chip import SimulatedChip

    queried = []

    class SignalAt(SimulatedChip):
        """Sends its own process SIGINT before query 60 of one 5,000-query estimate."""

        numba_run = None  # every query through run()

        def run(self, w_in, w_out, x):
            queried.append(self.queries)
            if self.queries == 60:
                os.kill(os.getpid(), signal.SIGINT)
            return super().run(w_in, w_out, x)

    monkeypatch.setattr(training, "SimulatedChip", SignalAt)
    out = tmp_path / "run.nc"
    checkpoint = ["--checkpoint", str(tmp_path / "ck")] if checkpointed else []
    code = main(["train", *TINY, "--noise", "0.5", "--repeats", "5000", *checkpoint,
                 "--out", str(out)])
    assert code == 130
    assert max(queried) <= 61  # stopped at the next query, not 4,940 queries later
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert line.startswith("limprob: interrupted by SIGINT: nothing written")
    assert not out.exists()


def test_an_interruption_inside_compiled_code_is_one_line(monkeypatch, capsys):
    """A second signal raised as a numba kernel returns surfaces as a ``SystemError`` caused by
    the interruption: the command line reports the interruption, not the SystemError."""
    import signal

    from limprob import interruption
    from limprob.cli import plot

    def stopped_in_a_kernel(args):
        try:
            raise interruption.Interrupted(signal.SIGTERM)
        except interruption.Interrupted as error:
            raise SystemError("<numba dispatcher> returned a result with an exception set"
                              ) from error

    monkeypatch.setattr(plot, "run_plot", stopped_in_a_kernel)
    assert main(["plot", "x.nc", "--out", "x.png"]) == 143
    captured = capsys.readouterr()
    assert captured.err.strip() == "limprob: interrupted by SIGTERM: nothing written"
