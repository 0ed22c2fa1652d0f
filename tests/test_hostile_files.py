"""Hostile files: no command writes over its own input, and every file limprob reads is
checked before it is trusted (one line, exit code 2, inputs left byte for byte as they were)."""

import os

import numpy as np
import pytest
import xarray as xr

from limprob.cli import main

INPUT = b"label,a\n0,1\n1,2\n0,3\n1,4\n0,5\n1,6\n"
"""The bytes of every input in the same-path tests (a small valid CSV): the command is refused
before it reads them, and they must be unchanged afterwards."""

WRITERS = {
    "train --data": lambda i, o: ["train", "--data", i, "--out", o],
    "train --screen": lambda i, o: ["train", "--screen", i, "--sampler", "pcn", "--out", o],
    "train --checkpoint": lambda i, o: [
        "train",
        "--data",
        i,
        "--checkpoint",
        o,
        "--out",
        o + ".nc",
    ],
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


TINY = [
    "--init",
    "prior",
    "--hidden",
    "3",
    "--steps",
    "8",
    "--draws",
    "6",
    "--tune",
    "2",
    "--chains",
    "1",
    "--predictive-draws",
    "2",
    "--train-fraction",
    "0.2",
    "--no-progress",
]
TINY_RUN = [*TINY, "--checkpoint-every", "2"]


@pytest.fixture(scope="module")
def two_checkpoints(tmp_path_factory):
    """The checkpoints of two tiny runs that differ only in the chip's strength (1 and 2)."""
    folder = tmp_path_factory.mktemp("checkpoints")
    for strength in ("1", "2"):
        assert (
            main(
                [
                    "train",
                    *TINY_RUN,
                    "--strength",
                    strength,
                    "--checkpoint",
                    str(folder / f"ck{strength}"),
                    "--out",
                    str(folder / f"run{strength}.nc"),
                ]
            )
            == 0
        )
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
    "edited strength": (
        lambda ck, other: edit_json(
            ck / "checkpoint.json",
            config={
                **__import__("json").loads((ck / "checkpoint.json").read_text())["config"],
                "strength": 3.0,
            },
        ),
        "configuration was edited",
    ),
    "draw file of another run": (
        lambda ck, other: draw_file(ck).write_bytes(draw_file(other).read_bytes()),
        "not the file chain 0 wrote",
    ),
    "state of another run": (
        lambda ck, other: (ck / "chain-0.state").write_bytes(
            (other / "chain-0.state").read_bytes()
        ),
        "the state of another run's chain",
    ),
    "truncated draw file": (
        lambda ck, other: draw_file(ck).write_bytes(draw_file(ck).read_bytes()[:100]),
        "not the file chain 0 wrote",
    ),
    "truncated state": (
        lambda ck, other: (ck / "chain-0.state").write_bytes(
            (ck / "chain-0.state").read_bytes()[:50]
        ),
        "cannot read the chain's state",
    ),
    "missing draw file": (lambda ck, other: draw_file(ck).unlink(), "missing; chain 0"),
    "edited table": (
        lambda ck, other: (ck / "table.nc").write_bytes((ck / "table.nc").read_bytes() + b"\0"),
        "changed since the run wrote it",
    ),
    "malformed manifest": (
        lambda ck, other: edit_json(ck / "checkpoint.json", every="ten"),
        "a malformed manifest",
    ),
    "manifest without a hash": (
        lambda ck, other: edit_json(ck / "checkpoint.json", run_sha256=None),
        "a malformed manifest",
    ),
    "manifest not JSON": (
        lambda ck, other: (ck / "checkpoint.json").write_text("{"),
        "not a limprob checkpoint",
    ),
    "manifest a list": (
        lambda ck, other: (ck / "checkpoint.json").write_text("[1]"),
        "not a limprob checkpoint",
    ),
}


@pytest.mark.parametrize("case", TAMPERING)
def test_a_tampered_checkpoint_is_refused_before_any_chip_query(
    case, two_checkpoints, tmp_path, monkeypatch, capsys
):
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
def test_a_first_signal_stops_a_long_estimate_at_its_next_chip_query(
    checkpointed, tmp_path, monkeypatch, capsys
):
    import user_chips

    monkeypatch.setenv(user_chips.SIGNAL_ENV, "60:SIGINT")
    user_chips.QUERIED.clear()
    out = tmp_path / "run.nc"
    checkpoint = ["--checkpoint", str(tmp_path / "ck")] if checkpointed else []
    code = main(
        [
            "train",
            *TINY,
            "--chip",
            "user_chips:very_noisy_signalling",
            "--repeats",
            "5000",
            *checkpoint,
            "--out",
            str(out),
        ]
    )
    assert code == 130
    assert max(user_chips.QUERIED) <= 61  # stopped at the next query, not 4,940 queries later
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
            raise SystemError(
                "<numba dispatcher> returned a result with an exception set"
            ) from error

    monkeypatch.setattr(plot, "run_plot", stopped_in_a_kernel)
    assert main(["plot", "x.nc", "--out", "x.png"]) == 143
    captured = capsys.readouterr()
    assert captured.err.strip() == "limprob: interrupted by SIGTERM: nothing written"


@pytest.fixture(scope="module")
def trace(two_checkpoints):
    """A tiny training trace (of the strength-1 checkpointed run)."""
    return two_checkpoints[0].parent / "run1.nc"


def edited_trace(source, target, edit):
    """``source`` read, changed by ``edit(tree)`` and written to ``target``."""
    from limprob.io import save_trace

    with xr.open_datatree(source) as stored:
        tree = stored.load().copy(deep=True)
    edit(tree)
    save_trace(tree, target)
    return target


def nan_predictions(tree):
    tree["point_estimates"]["probability"] = tree["point_estimates"]["probability"] * np.nan


def drop_attribute(name):
    return lambda tree: tree.attrs.pop(name)


def labels_off(tree):
    tree["predictions_constant_data"]["y"] = tree["predictions_constant_data"]["y"] + 5


def text_posterior(tree):
    weights = tree["posterior"]["W_out"]
    tree["posterior"]["W_out"] = weights.astype(str)


TRACES = {
    "predictions all NaN": (nan_predictions, ["evaluate"], "point_estimates/probability holds NaN"),
    "no query count": (
        drop_attribute("training_chip_queries"),
        ["evaluate"],
        "attribute training_chip_queries is missing",
    ),
    "no hidden size": (
        drop_attribute("network_n_hidden"),
        ["export", "--nir", "{out}"],
        "attribute network_n_hidden is missing",
    ),
    "no readout gain": (
        drop_attribute("kappa"),
        ["export", "--nir", "{out}"],
        "attribute kappa is missing",
    ),
    "labels out of range": (labels_off, ["evaluate"], "not class indices"),
    "text weights": (text_posterior, ["export", "--nir", "{out}"], "not numbers"),
}


@pytest.mark.parametrize("case", TRACES)
def test_a_broken_trace_is_refused_and_nothing_is_computed_from_it(case, trace, tmp_path, capsys):
    edit, command, message = TRACES[case]
    broken = edited_trace(trace, tmp_path / "broken.nc", edit)
    out = str(tmp_path / "net.nir")
    args = [command[0], str(broken), *(part.format(out=out) for part in command[1:])]
    assert message in refused(args, capsys)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.nc"]


@pytest.mark.parametrize("cut", [0.3, 0.7, 0.99])
def test_a_truncated_trace_is_one_line(cut, trace, tmp_path, capsys):
    data = trace.read_bytes()
    broken = tmp_path / "cut.nc"
    broken.write_bytes(data[: int(len(data) * cut)])
    line = refused(["evaluate", str(broken)], capsys)
    assert "NetCDF file" in line


def edited_graph(source, target, edit):
    import nir

    graph = nir.read(source, type_check=False)
    edit(graph)
    nir.write(target, graph)
    return target


def set_node(node, attribute, value):
    def edit(graph):
        setattr(graph.nodes[node], attribute, value)

    return edit


def set_metadata(**values):
    def edit(graph):
        graph.metadata.update(values)

    return edit


GRAPHS = {
    "NaN weights": (set_node("W_in", "weight", np.full((3, 30), np.nan)), "NaN or infinite"),
    "text weights": (
        set_node("W_in", "weight", np.array([[b"a"] * 30] * 3)),
        "cannot read as a number",
    ),
    "NaN readout gain": (set_metadata(kappa=float("nan")), "kappa must be a positive number"),
    "negative readout gain": (set_metadata(kappa=-8.0), "kappa must be a positive number"),
    "text readout gain": (set_metadata(kappa="eight"), "kappa must be a positive number"),
    "a billion time steps": (set_metadata(time_steps=10**9), "time steps must be at most 100,000"),
    "negative data seed": (set_metadata(data_seed=-1), "data_seed must be a non-negative"),
}


@pytest.mark.parametrize("case", GRAPHS)
def test_a_broken_nir_graph_is_refused_in_one_line(case, trace, tmp_path, capsys):
    exported = tmp_path / "net.nir"
    assert main(["export", str(trace), "--nir", str(exported)]) == 0
    capsys.readouterr()
    edit, message = GRAPHS[case]
    broken = edited_graph(exported, tmp_path / "broken.nir", edit)
    line = refused(["evaluate", "--network", str(broken)], capsys)
    assert message in line and str(broken) in line


def test_a_probe_dataset_of_text_is_refused(tmp_path, capsys):
    probes = xr.Dataset(
        {
            "counts": (("probe", "obs", "output"), np.ones((2, 3, 2))),
            "W_in": (("probe", "input", "hidden"), np.array(["w"] * 12).reshape(2, 3, 2)),
            "W_out": (("probe", "hidden", "output"), np.ones((2, 2, 2))),
            "x": (("obs", "input"), np.ones((3, 3))),
        },
        attrs={"network_n_steps": 10**9},
    )
    probes.to_netcdf(tmp_path / "probes.nc")
    assert "W_in holds <U1, not numbers" in refused(
        ["twin", str(tmp_path / "probes.nc"), "--out", str(tmp_path / "t.nc")], capsys
    )
    probes["W_in"] = probes["W_in"].copy(data=np.ones((2, 3, 2)))
    probes.to_netcdf(tmp_path / "steps.nc")
    assert "time steps must be at most" in refused(
        ["twin", str(tmp_path / "steps.nc"), "--out", str(tmp_path / "t.nc")], capsys
    )


def test_a_million_column_csv_is_refused_within_seconds_without_reading_it(tmp_path, capsys):
    wide = tmp_path / "wide.csv"
    with wide.open("w") as handle:
        handle.write(",".join(f"c{i}" for i in range(10**6)) + ",label\n")
        handle.write(",".join("1" for _ in range(10**6)) + ",0\n")
    started = __import__("time").perf_counter()
    line = refused(["train", "--data", str(wide), "--out", str(tmp_path / "x.nc")], capsys)
    assert "header line is longer than" in line
    assert __import__("time").perf_counter() - started < 5


def test_inputs_larger_than_the_memory_allowed_are_refused_before_reading(trace, tmp_path, capsys):
    table = tmp_path / "table.csv"
    table.write_text("a,label\n" + "1,0\n1,1\n" * 50)
    line = refused(
        ["train", "--data", str(table), "--max-memory", "1000", "--out", str(tmp_path / "x.nc")],
        capsys,
    )
    assert "reading this table needs an estimated" in line
    line = refused(["evaluate", str(trace), "--max-memory", "1000"], capsys)
    assert "reading this trace needs an estimated" in line


def test_refusals_print_no_library_warning(tmp_path, capfd):
    """A table of a feature too large to scale once made NumPy warn of an overflow before the
    refusal (captured at the file-descriptor level, where warnings go)."""
    table = tmp_path / "huge.csv"
    table.write_text("a,b,label\n1e308,1,0\n-1e308,2,1\n" + "1,2,0\n3,4,1\n" * 4)
    assert main(["train", "--data", str(table), "--out", str(tmp_path / "x.nc")]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "max - min overflows" in err[0], err


def test_a_signal_after_a_checkpointed_run_finished_offers_no_resume(tmp_path, monkeypatch, capsys):
    import signal

    import limprob.io

    save_trace = limprob.io.save_trace

    def signalled_while_saving(tree, path):
        os.kill(os.getpid(), signal.SIGINT)  # deferred: the write and the checkpoint finish
        return save_trace(tree, path)

    monkeypatch.setattr(limprob.io, "save_trace", signalled_while_saving)
    out = tmp_path / "run.nc"
    assert (
        main(["train", *TINY_RUN, "--checkpoint", str(tmp_path / "ck"), "--out", str(out)]) == 130
    )
    line = capsys.readouterr().err.strip().splitlines()[-1]
    assert (
        line.startswith(
            "limprob: interrupted by SIGINT: sampling had finished; wrote the complete trace"
        )
        and "--resume" not in line
    ), line
    assert out.exists()


def test_evaluate_network_checks_its_memory_first(trace, tmp_path, capsys):
    network = tmp_path / "net.nir"
    assert main(["export", str(trace), "--nir", str(network)]) == 0
    capsys.readouterr()
    line = refused(["evaluate", "--network", str(network), "--max-memory", "1000"], capsys)
    assert "this evaluation needs an estimated" in line
