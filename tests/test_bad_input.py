"""Bad input is refused before any work: one line on stderr, exit code 2, no output file, and an
existing output file left byte for byte as it was."""

import json
import os
import time

import numpy as np
import pytest
import xarray as xr

from limprob.chip import SimulatedChip
from limprob.cli import main
from limprob.errors import LimprobError
from limprob.inference.checkpoint import FORMAT
from limprob.study import Grid

HUGE = "99999999999999999999999"
BALANCED = "".join(f"{i},{i % 3},{i % 2}\n" for i in range(10))


def write_inputs(folder):
    """Bad (and a few good) input files, written once."""
    texts = {
        "latin.csv": b"a,\xe9t\xe9,label\n1,2,0\n",
        "dup.csv": b"a,label,label\n1,0,0\n2,1,1\n",
        "dup_feature.csv": ("a,a,label\n" + BALANCED).encode(),
        "few.csv": b"a,b,label\n1,2,0\n3,4,1\n1,2,0\n3,4,1\n3,4,1\n",
        "single.csv": b"a,b,label\n1,2,0\n3,4,1\n3,4,1\n3,5,1\n",
        "one_class.csv": b"a,b,label\n1,2,0\n3,4,0\n5,6,0\n",
        "huge.csv": ("a,b,label\n1e308,1,0\n-1e308,2,1\n" + BALANCED).encode(),
        "nan.csv": ("a,b,label\nnan,1,0\n" + BALANCED).encode(),
        "inf.csv": ("a,b,label\n1,inf,0\n" + BALANCED).encode(),
        "text.csv": b"a,b,label\n1,x,0\n2,3,1\n",
        "empty.csv": b"",
        "no_label.csv": b"a,b,c\n1,2,0\n",
        "ragged.csv": b"a,b,label\n1,2,0\n1,1\n",
        "gap.csv": ("a,b,label\n" + BALANCED.replace(",1\n", ",2\n")).encode(),
        "fraction.csv": ("a,b,label\n1,2,0.5\n" + BALANCED).encode(),
        "negative.csv": ("a,b,label\n1,2,-1\n" + BALANCED).encode(),
        "nul.csv": b"a,b,label\n1,2\x00,0\n",
        "empty.nc": b"",
        "garbage.nc": b"this is not NetCDF",
        "data.txt": BALANCED.encode(),
    }
    for name, content in texts.items():
        (folder / name).write_bytes(content)
    (folder / "dir.csv").mkdir()
    os.mkfifo(folder / "fifo.csv")
    features = np.arange(12.0).reshape(6, 2)
    datasets = {
        "labels_off_obs.nc": xr.Dataset(
            {"features": (("obs", "feature"), features), "labels": ("row", np.arange(6) % 2)}
        ),
        "string_labels.nc": xr.Dataset(
            {
                "features": (("obs", "feature"), features),
                "labels": ("obs", np.array(["a", "b"] * 3)),
            }
        ),
        "no_features.nc": xr.Dataset({"labels": ("obs", np.arange(6) % 2)}),
        "cube.nc": xr.Dataset(
            {
                "features": (("obs", "feature", "t"), np.ones((6, 2, 2))),
                "labels": ("obs", np.arange(6) % 2),
            }
        ),
        "plain.nc": xr.Dataset({"x": ("a", np.arange(3.0))}),
        "probes.nc": xr.Dataset(
            {
                "counts": (("probe", "obs", "output"), np.ones((4, 3, 2))),
                "W_in": (("probe", "input", "hidden"), np.ones((4, 3, 2))),
                "W_out": (("probe", "hidden", "output"), np.ones((4, 2, 2))),
                "x": (("obs", "input"), np.ones((3, 3))),
            }
        ),
    }
    for name, dataset in datasets.items():
        dataset.to_netcdf(folder / name)
    manifest = {
        "limprob_checkpoint": FORMAT,
        "config": {},
        "every": 10,
        "out": "x.nc",
        "table": False,
        "run_sha256": "0" * 64,
    }
    checkpoints = {
        "complete_ck": {**manifest, "versions": {}, "complete": True},
        "old_ck": {**manifest, "versions": {"version_pymc": "5.0"}},
        "corrupt_ck": None,
    }
    for name, content in checkpoints.items():
        (folder / name).mkdir()
        (folder / name / "checkpoint.json").write_text(json.dumps(content)[:-1])  # corrupt
        if content is not None:
            (folder / name / "checkpoint.json").write_text(json.dumps(content))
    return folder


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return write_inputs(tmp_path_factory.mktemp("inputs"))


def cases(out, inputs):
    """(arguments, a piece of the one line of error) for every subcommand."""

    def data(name):
        return str(inputs / name)

    missing = str(inputs / "no_such_folder" / "x.nc")
    new_checkpoint = os.path.join(os.path.dirname(out), "ck")  # must not be created
    train = ["train", "--out", out]
    probes = data("probes.nc")
    return [
        # train: options
        (["train", "--strength", "11", "--out", out], "strength must be at most 10"),
        (["train", "--strength", "nan", "--out", out], "strength must be"),
        (["train", "--chip-seed", HUGE, "--out", out], "chip seed must be at most"),
        (["train", "--seed", "-1", "--out", out], "seed must be a non-negative integer"),
        (["train", "--seed", str(2**32), "--out", out], "seed must be at most"),
        (["train", "--draws", "0", "--out", out], "draws must be a positive integer"),
        (["train", "--sampler", "nope", "--out", out], "invalid choice"),
        (["train", "--dataset", "wine", "--data", "x.csv", "--out", out], "not allowed with"),
        (["train", "--dataset", "nope", "--out", out], "invalid choice"),
        (["train", "--screen", "ideal", "--sampler", "slice", "--out", out], "a screen works"),
        ([*train, "--draws", "2.5"], "invalid int value"),
        ([*train, "--tune", "-1"], "tune must be a non-negative integer"),
        ([*train, "--chains", "0"], "chains must be a positive integer"),
        ([*train, "--cores", "0"], "cores must be a positive integer"),
        ([*train, "--hidden", "0"], "must be a positive integer"),
        ([*train, "--steps", "0"], "must be a positive integer"),
        ([*train, "--kappa", "0"], "kappa must be"),
        ([*train, "--kappa", "inf"], "kappa must be"),
        ([*train, "--kappa", "x"], "invalid float value"),
        ([*train, "--train-fraction", "0"], "training fraction must be in (0, 1]"),
        ([*train, "--train-fraction", "1.5"], "training fraction must be in (0, 1]"),
        ([*train, "--blocks", "layers", "--sampler", "metropolis"], "blocks apply"),
        ([*train, "--on-interrupt", "maybe"], "invalid choice"),
        ([*train, "--point-estimate", "median"], "invalid choice"),
        ([*train, "--screen", data("plain.nc")], "plain.nc"),
        (["train", "--out", missing], "does not exist"),
        (["train", "--out", str(inputs)], "is a folder"),
        (["train"], "--out is required"),
        # train: checkpoints
        (["train", "--resume", data("no_such_ck")], "no such folder"),
        (["train", "--resume", str(inputs)], "not a limprob checkpoint"),
        (["train", "--resume", data("corrupt_ck")], "not a limprob checkpoint"),
        (["train", "--resume", data("complete_ck")], "its run is complete"),
        (["train", "--resume", data("old_ck")], "written with other package versions"),
        (["train", "--resume", data("old_ck"), "--draws", "5"], "drop --draws"),
        (["train", "--resume", data("old_ck"), "--out", out], "drop --out"),
        (
            ["train", "--resume", data("old_ck"), "--steps", "4", "--data", data("nan.csv")],
            "drop --data, --time-steps",
        ),
        ([*train, "--checkpoint", str(inputs)], "the folder is not empty"),
        ([*train, "--checkpoint", data("complete_ck")], "holds a checkpoint already"),
        ([*train, "--checkpoint", data("data.txt")], "is a file, not a folder"),
        ([*train, "--checkpoint", "/proc/ck"], "cannot write in /proc"),
        ([*train, "--checkpoint", str(inputs / "no_such_folder" / "ck")], "does not exist"),
        ([*train, "--checkpoint", new_checkpoint, "--cores", "2"], "use one core"),
        ([*train, "--checkpoint-every", "5"], "--checkpoint-every goes with --checkpoint"),
        (
            [*train, "--checkpoint", new_checkpoint, "--checkpoint-every", "0"],
            "checkpoint every must be a positive integer",
        ),
        # train: ceilings and paths
        ([*train, "--repeats", "1000000000000", "--noise", "0.1"], "repeats must be at most"),
        ([*train, "--steps", "1000000000"], "time steps must be at most"),
        ([*train, "--hidden", "1000000"], "hidden size must be at most"),
        (["train", "--out", ""], "an empty path names no output file"),
        (["train", "--resume", ""], "an empty path names no checkpoint folder"),
        ([*train, "--checkpoint", ""], "an empty path names no checkpoint folder"),
        (
            ["train", "--out", os.path.join(os.path.dirname(out), "n" * 250)],
            "choose a name of at most",
        ),
        (["study", "--workers", "100000", "--out", out], "workers must be at most"),
        # train: cost
        ([*train, "--draws", "1000000000"], "needs an estimated"),
        ([*train, "--max-memory", "1000"], "allowed by --max-memory"),
        ([*train, "--max-memory", "-1"], "max memory must be a positive number"),
        ([*train, "--max-memory", "inf"], "max memory must be a positive number"),
        # train: data tables
        ([*train, "--data", data("latin.csv")], "not UTF-8 text"),
        ([*train, "--data", data("dup.csv")], "'label' repeat"),
        ([*train, "--data", data("dup_feature.csv")], "'a' repeat"),
        ([*train, "--data", data("few.csv")], "cannot split 5 samples"),
        ([*train, "--data", data("single.csv")], "has 1 sample(s)"),
        ([*train, "--data", data("one_class.csv")], "at least two classes"),
        ([*train, "--data", data("huge.csv")], "max - min overflows"),
        ([*train, "--data", data("nan.csv")], "NaN or infinite"),
        ([*train, "--data", data("inf.csv")], "NaN or infinite"),
        ([*train, "--data", data("text.csv")], "not a number"),
        ([*train, "--data", data("empty.csv")], "the file is empty"),
        ([*train, "--data", data("no_label.csv")], "no column named 'label'"),
        ([*train, "--data", data("ragged.csv")], "line 3 has 1 features"),
        ([*train, "--data", data("gap.csv")], "no sample has label 1"),
        ([*train, "--data", data("fraction.csv")], "labels must be integer class indices"),
        ([*train, "--data", data("negative.csv")], "outside the classes"),
        ([*train, "--data", data("nul.csv")], "line 2 holds a value that is not a number"),
        ([*train, "--data", data("empty.nc")], "the file is empty"),
        ([*train, "--data", data("garbage.nc")], "not a NetCDF file"),
        ([*train, "--data", data("labels_off_obs.nc")], "'labels' must have the one dim obs"),
        ([*train, "--data", data("string_labels.nc")], "labels must be integer class indices"),
        ([*train, "--data", data("no_features.nc")], "needs variables 'features'"),
        ([*train, "--data", data("cube.nc")], "'features' must have dims (obs, feature)"),
        ([*train, "--data", data("fifo.csv")], "not a regular file"),
        ([*train, "--data", data("dir.csv")], "is a folder, not a data file"),
        ([*train, "--data", data("data.txt")], "must be a .csv or .nc file"),
        ([*train, "--data", data("absent.csv")], "no such data file"),
        # evaluate, summary
        (["evaluate", data("absent.nc")], "no such file"),
        (["evaluate", data("garbage.nc")], "not a NetCDF file"),
        (["evaluate", data("plain.nc")], "not a limprob trace"),
        (["evaluate"], "give a trace or --network NET.nir"),
        (["summary", data("plain.nc")], "not a limprob trace"),
        (["summary", data("absent.nc"), "--var-names", "W_out"], "no such file"),
        # energy
        (
            ["energy", "--params", "1e15", "--tokens", "3e11", "--seed", "-3"],
            "seed must be a non-negative integer",
        ),
        (["energy", "--params", "1e200", "--tokens", "1e200"], "overflow a float"),
        (["energy", "--params", "1e15", "--tokens", "3e11", "--flops", "1e20"], "not both"),
        (["energy", "--params", "1e15"], "give --params and --tokens"),
        (["energy", "--params", "-1", "--tokens", "3e11"], "params"),
        (["energy", "--params", "nan", "--tokens", "3e11"], "params"),
        (["energy", "--params", "1e15", "--tokens", "3e11", "--bits", "0"], "bits"),
        (["energy", data("plain.nc"), "--out", out], "not a limprob trace"),
        (["energy", data("plain.nc"), "--time-ratio", "2"], "not a trace"),
        (["energy", data("plain.nc"), "--params", "1e9"], "--params describe a model"),
        (["energy", "--params", "1e15", "--tokens", "3e11", "--time-ratio", "-1"], "--time-ratio"),
        (["energy", data("plain.nc"), "--out", missing], "does not exist"),
        # study
        (["study", "--seeds", "-1", "--out", out], "seed must be a non-negative integer"),
        (["study", "--strengths", "20", "--out", out], "strength must be at most 10"),
        (["study", "--train-fractions", "0", "--out", out], "training fraction must be in"),
        (["study", "--methods", "sgd", "--out", out], "invalid choice"),
        (["study", "--seeds", "1.5", "--out", out], "invalid int value"),
        (["study", "--seeds", "1", "1", "--out", out], "repeat a value"),
        (["study", "--draws", "0", "--out", out], "draws must be a positive integer"),
        (["study", "--out", missing], "does not exist"),
        # compare
        (["compare", data("plain.nc")], "at least two traces"),
        (["compare", data("absent.nc"), data("plain.nc")], "no such file"),
        (["compare", data("plain.nc"), probes], "not a limprob trace"),
        (["compare", data("plain.nc"), data("plain.nc")], "one distinct name per trace"),
        (["compare", data("plain.nc"), data("garbage.nc"), "--names", "a"], "name per trace"),
        (["compare", data("plain.nc"), data("plain.nc"), "--plot", missing], "does not exist"),
        # probe
        (["probe", "--seed", HUGE, "--out", out], "seed must be at most"),
        (["probe", "--strength", "1e300", "--out", out], "strength must be at most 10"),
        (["probe", "--probes", "0", "--out", out], "probes must be a positive integer"),
        (["probe", "--obs", "-2", "--out", out], "obs must be a positive integer"),
        (["probe", "--probes", "10000000000", "--out", out], "needs an estimated"),
        (["probe", "--max-memory", "10", "--out", out], "allowed by --max-memory"),
        (["probe", "--hidden", "0", "--out", out], "must be a positive integer"),
        (["probe", "--data", data("latin.csv"), "--out", out], "not UTF-8 text"),
        # twin
        (["twin", data("absent.nc"), "--out", out], "no such file"),
        (["twin", data("plain.nc"), "--out", out], "not a probe dataset"),
        (["twin", data("garbage.nc"), "--out", out], "not a NetCDF file"),
        (["twin", probes, "--population", "--smc", "--out", out], "cannot be combined"),
        (["twin", probes, "--families", "nope", "--out", out], "nope"),
        (
            ["twin", probes, "--population", "--chips", "10000000000000", "--out", out],
            "needs an estimated",
        ),
        (
            ["twin", probes, "--population", "--chips", "3", "--out", out],
            "n_chips must be at least",
        ),
        (["twin", probes, "--draws", "0", "--out", out], "draws must be a positive integer"),
        (["twin", probes, "--seed", "-1", "--out", out], "seed must be a non-negative"),
        (["twin", probes, "--out", missing], "does not exist"),
        (["twin", probes, "--learn-noise", "--out", out], "population twin only"),
        (["twin", probes, "--weight-bits", "6", "--out", out], "population twin only"),
        (
            ["twin", probes, "--population", "--weight-bits", "17", "--out", out],
            "weight bits must be in 1..16",
        ),
        (
            [
                "twin",
                probes,
                "--population",
                "--weight-bits",
                "auto",
                "--weight-bits-candidates",
                "4,17",
                "--out",
                out,
            ],
            "weight-bits candidate must be in 1..16",
        ),
        (
            [
                "twin",
                probes,
                "--population",
                "--weight-bits",
                "auto",
                "--weight-bits-candidates",
                "4,seven",
                "--out",
                out,
            ],
            "must be an integer 1..16 or 'none'",
        ),
        (
            [
                "twin",
                probes,
                "--population",
                "--weight-bits",
                "auto",
                "--weight-bits-candidates",
                "6,6",
                "--out",
                out,
            ],
            "candidates repeat",
        ),
        (
            ["twin", probes, "--population", "--weight-bits-candidates", "4,6", "--out", out],
            "applies with --weight-bits auto only",
        ),
        (
            ["twin", probes, "--population", "--weight-range", "-1", "--out", out],
            "weight range must be a positive number",
        ),
    ]


N_CASES = 141


def test_the_table_covers_every_subcommand(tmp_path):
    table = cases("out.nc", tmp_path)
    assert len(table) == N_CASES
    assert {args[0] for args, _ in table} == {
        "train",
        "evaluate",
        "summary",
        "energy",
        "study",
        "compare",
        "probe",
        "twin",
    }


@pytest.mark.parametrize("index", range(N_CASES))
def test_bad_cli_input_is_one_line_exit_2_and_leaves_files_alone(index, inputs, tmp_path, capsys):
    existing = tmp_path / "existing.nc"
    existing.write_bytes(b"an earlier result")
    args, message = cases(str(existing), inputs)[index]
    started = time.perf_counter()
    assert main(args) == 2
    assert time.perf_counter() - started < 20  # refused before any sampling
    captured = capsys.readouterr()
    err = captured.err.strip()
    assert len(err.splitlines()) == 1 and err.startswith("limprob") and message in err, err
    assert captured.out == ""
    assert existing.read_bytes() == b"an earlier result"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["existing.nc"]


def test_an_output_folder_that_cannot_be_written_is_refused_before_training(capsys):
    assert main(["train", "--out", "/proc/x.nc"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "cannot write in /proc" in err


@pytest.fixture
def read_only_folder(tmp_path):
    """An empty folder its user may not write to (skipped for a user who can, like root)."""
    folder = tmp_path / "read-only"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        if os.access(folder, os.W_OK):
            pytest.skip("this user can write to a read-only folder (root)")
        yield folder
    finally:
        folder.chmod(0o700)


def test_a_read_only_folder_is_refused(read_only_folder, capsys):
    assert main(["probe", "--out", str(read_only_folder / "probes.nc")]) == 2
    assert "cannot write in" in capsys.readouterr().err


def test_a_read_only_checkpoint_folder_is_refused_and_left_empty(
    read_only_folder, tmp_path, capsys
):
    folder = read_only_folder
    for checkpoint in (folder, folder / "ck"):  # the empty folder itself, or one inside
        assert (
            main(["train", "--checkpoint", str(checkpoint), "--out", str(tmp_path / "x.nc")]) == 2
        )
        assert "cannot write in" in capsys.readouterr().err
    assert list(folder.iterdir()) == []
    assert sorted(p.name for p in tmp_path.iterdir()) == ["read-only"]


@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("which", [0, 1, 2])
def test_a_query_with_non_finite_values_is_refused(bad, which):
    chip = SimulatedChip(3, 2, strength=1.0, seed=0)
    arrays = [np.ones((3, 16)), np.ones((16, 2)), np.ones((4, 3))]
    arrays[which][0, 0] = bad
    with pytest.raises(LimprobError, match="NaN or infinite"):
        chip.run(*arrays)
    assert chip.queries == 0


def test_api_sizes_and_seeds_are_checked():
    with pytest.raises(LimprobError, match="chip inputs must be a positive integer"):
        SimulatedChip(n_inputs=2.5)
    with pytest.raises(LimprobError, match="seed must be a non-negative integer"):
        Grid(seeds=(1.5,))
    with pytest.raises(LimprobError, match="chip seed must be at most"):
        SimulatedChip(seed=2**40)


def api_cases(inputs):
    """(a call, a piece of its error) for the Python API."""
    from limprob.chip.probes import load_probes
    from limprob.chip.settings import ChipSettings
    from limprob.data import load_table, split
    from limprob.energy.report import energy_report
    from limprob.inference import EvaluationSettings, MCMCSettings, TrainConfig, train_on_chip
    from limprob.inference.cost import check_memory
    from limprob.io import load_trace
    from limprob.models.defaults import ModelSettings
    from limprob.snn import Network
    from limprob.study import StudySettings

    def chip_for(hidden=16, inputs=30, steps=32):
        return SimulatedChip(inputs, 2, Network(hidden, steps), 1.0, 0)

    def train_with(chip, network=Network()):
        table = load_table()
        config = TrainConfig(network=network)
        train_on_chip(chip, split(table, seed=0), config, progressbar=False)

    one_member = xr.Dataset(
        {
            "features": (("obs", "feature"), np.arange(10.0).reshape(5, 2)),
            "labels": ("obs", np.array([0, 1, 1, 1, 1])),
        },
        coords={"obs": np.arange(5), "feature": ["a", "b"], "class": ["x", "y"]},
    )
    return [
        (lambda: MCMCSettings(seed=-1), "seed must be a non-negative integer"),
        (lambda: ModelSettings(sigma_w=float("inf")), "sigma_w must be a positive number"),
        (lambda: ModelSettings(kappa=float("inf")), "kappa must be a positive number"),
        (lambda: ModelSettings(kappa=0), "kappa must be a positive number"),
        (lambda: MCMCSettings(draws=0), "draws must be a positive integer"),
        (lambda: ChipSettings(strength=float("nan")), "strength must be"),
        (lambda: MCMCSettings(sampler="hmc"), "sampler must be one of"),
        (lambda: EvaluationSettings(predictive_draws=0), "predictive draws must be a positive"),
        (lambda: TrainConfig(network=16), "the configuration's network must be a Network"),
        (lambda: EvaluationSettings(train_fraction=0), "training fraction must be in (0, 1]"),
        (lambda: ChipSettings(seed=2**40), "chip seed must be at most"),
        (lambda: SimulatedChip(n_inputs=2.5), "chip inputs must be a positive integer"),
        (lambda: SimulatedChip(seed=2**40), "chip seed must be at most"),
        (lambda: Grid(seeds=(1.5,)), "seed must be a non-negative integer"),
        (lambda: Grid(strengths=(11,)), "strength must be at most 10"),
        (lambda: StudySettings(mh=TrainConfig(mcmc=MCMCSettings(cores=2))), "cores=1"),
        (lambda: Network(n_hidden=0), "must be a positive integer"),
        (
            lambda: train_with(chip_for(hidden=16), Network(n_hidden=4)),
            "the chip has 16 hidden neurons, but the data and training configuration need 4",
        ),
        (lambda: train_with(chip_for(inputs=3)), "the chip has 3 inputs"),
        (lambda: train_with(chip_for(steps=8)), "the chip has 8 time steps"),
        (lambda: load_table(inputs / "latin.csv"), "not UTF-8 text"),
        (lambda: load_table(inputs / "dup.csv"), "repeat"),
        (lambda: split(one_member), "class 'x' has 1 sample(s)"),
        (lambda: energy_report(1e200, 1e200), "overflow a float"),
        (lambda: check_memory(10**15, "a run"), "needs an estimated"),
        (lambda: load_trace(inputs / "plain.nc"), "not a limprob trace"),
        (lambda: load_probes(inputs / "plain.nc"), "not a probe dataset"),
    ]


@pytest.mark.parametrize("index", range(27))
def test_bad_api_input_raises_limprob_error(index, inputs):
    call, message = api_cases(inputs)[index]
    with pytest.raises(LimprobError) as error:
        call()
    assert message in str(error.value) and "\n" not in str(error.value)


def test_the_api_table_is_complete(tmp_path):
    assert len(api_cases(tmp_path)) == 27
