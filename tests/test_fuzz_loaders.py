"""Fuzzing the loaders: every file kind limprob reads, mutated at random, gives a checked
result or one :class:`LimprobError` line, never another exception.

Each kind starts from one small valid file (built once): a trace, a probe dataset, a NIR graph,
a CSV table and a checkpoint manifest. Hypothesis feeds its loader random bytes and mutations
of the valid file (bytes flipped, overwritten, inserted, deleted, the file cut short; for the
text kinds also characters and JSON values); ``derandomize`` makes the run the same every time.
The suite runs :data:`EXAMPLES` files per kind (2,200 in all); ``benchmarks/fuzz_loaders.py``
runs 100,000.
"""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from limprob.errors import LimprobError

EXAMPLES = {"trace": 300, "probes": 400, "nir": 400, "csv": 600, "manifest": 500}
"""Mutated files per kind in the test suite."""


def build_trace(path: Path) -> None:
    """A small limprob training trace: the groups and attributes ``limprob evaluate`` reads."""
    from limprob.io import TRACE_ATTRIBUTES, save_trace

    rng = np.random.default_rng(0)
    probability = rng.dirichlet([1, 1], size=(3, 5))
    tree = xr.DataTree.from_dict(
        {
            "posterior": xr.Dataset(
                {"W_in": (("chain", "draw", "input", "hidden"), rng.normal(size=(1, 4, 2, 2)))}
            ),
            "sample_stats": xr.Dataset({"accepted": (("chain", "draw"), np.ones((1, 4), bool))}),
            "log_likelihood": xr.Dataset({"y": (("chain", "draw", "obs"), -rng.random((1, 4, 5)))}),
            "point_estimates": xr.Dataset(
                {"probability": (("point_estimate", "obs", "class"), probability)},
                coords={"point_estimate": ["mean", "best", "last"], "class": ["a", "b"]},
            ),
            "predictions_constant_data": xr.Dataset({"y": ("obs", np.arange(5) % 2)}),
        }
    )
    tree.attrs.update(
        {name: 1 for name in TRACE_ATTRIBUTES},
        limprob_trace=1,
        model="chip_in_the_loop",
        method="mh",
    )
    save_trace(tree, path)


def build_probes(path: Path) -> None:
    from limprob.chip.probes import record_probes
    from limprob.chip.simulated import SimulatedChip
    from limprob.io import save_dataset
    from limprob.snn import Network

    chip = SimulatedChip(3, 2, Network(n_hidden=2, n_steps=4), 1.0)
    save_dataset(record_probes(chip, np.random.default_rng(0).random((3, 3)), n_probes=2), path)


def build_nir(path: Path) -> None:
    from limprob.chip.nir import to_nir, write_nir
    from limprob.snn import Network

    rng = np.random.default_rng(0)
    write_nir(
        to_nir(
            rng.normal(size=(3, 2)),
            rng.normal(size=(2, 2)),
            Network(n_hidden=2, n_steps=4),
            {"kappa": 8.0, "data_seed": 0},
        ),
        path,
    )


def build_csv(path: Path) -> None:
    path.write_text("a,b,label\n" + "".join(f"{i},{i % 3}.5,{i % 2}\n" for i in range(8)))


def build_manifest(folder: Path) -> None:
    """A checkpoint that has begun (manifest and table), as ``limprob train --checkpoint``
    leaves it before its first draw."""
    from limprob.data import _table
    from limprob.inference import TrainConfig
    from limprob.inference.checkpoint import Checkpoint
    from limprob.snn import Network

    table = _table(np.arange(16.0).reshape(8, 2), np.arange(8) % 2, ["a", "b"], ["x", "y"], "t")
    Checkpoint.new(folder, out=folder.parent / "run.nc").begin(
        TrainConfig(network=Network(n_hidden=2)), table
    )


def load_manifest(path: Path):
    """What ``limprob train --resume`` reads of a checkpoint: the folder, its configuration and
    its table."""
    from limprob.inference.checkpoint import Checkpoint
    from limprob.inference.training import checkpointed_config

    checkpoint = Checkpoint.open(path.parent)
    return checkpointed_config(checkpoint), checkpoint.table()


def loaders():
    from limprob.chip.nir import from_nir
    from limprob.chip.probes import load_probes
    from limprob.data import load_table
    from limprob.io import load_trace

    return {
        "trace": load_trace,
        "probes": load_probes,
        "nir": from_nir,
        "csv": load_table,
        "manifest": load_manifest,
    }


NAMES = {
    "trace": "run.nc",
    "probes": "probes.nc",
    "nir": "net.nir",
    "csv": "table.csv",
    "manifest": "ck/checkpoint.json",
}


def build_corpus(folder: Path) -> dict[str, Path]:
    """The valid file of every kind in ``folder``, by kind."""
    builders = {
        "trace": build_trace,
        "probes": build_probes,
        "nir": build_nir,
        "csv": build_csv,
        "manifest": lambda path: build_manifest(path.parent),
    }
    paths = {}
    for kind, builder in builders.items():
        paths[kind] = folder / NAMES[kind]
        builder(paths[kind])
    return paths


def apply(valid: bytes, edits) -> bytes:
    """``valid`` with each edit ``(what, where, data)`` applied in turn."""
    data = bytearray(valid)
    for what, where, chunk in edits:
        where = where % (len(data) + 1)
        if what == "flip" and data:
            data[where % len(data)] ^= chunk[0] or 1
        elif what == "overwrite":
            data[where : where + len(chunk)] = chunk
        elif what == "insert":
            data[where:where] = chunk
        elif what == "delete":
            del data[where : where + len(chunk) * 37]
        elif what == "truncate":
            del data[where:]
    return bytes(data)


TEXT = ",\n\r\"' 0123456789.-+eEnaifINFlbl\x00\ufeff\xe9"
JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(TEXT, max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(TEXT, max_size=5), inner, max_size=3)
    ),
    max_leaves=6,
)


def mutations(kind: str, valid: bytes):
    """Random bytes, or byte edits of ``valid``; for the text kinds also text edits, and for
    the manifest JSON values put in place of its fields (and of the configuration's)."""
    edit = st.tuples(
        st.sampled_from(["flip", "overwrite", "insert", "delete", "truncate"]),
        st.integers(0, len(valid)),
        st.binary(min_size=1, max_size=16),
    )
    choices = [
        st.binary(max_size=600),
        st.lists(edit, min_size=1, max_size=4).map(lambda edits: apply(valid, edits)),
    ]
    if kind in ("csv", "manifest"):
        text_edit = st.tuples(
            st.sampled_from(["overwrite", "insert", "delete"]),
            st.integers(0, len(valid)),
            st.text(TEXT, min_size=1, max_size=6).map(str.encode),
        )
        choices.append(
            st.lists(text_edit, min_size=1, max_size=3).map(lambda edits: apply(valid, edits))
        )
    if kind == "manifest":
        manifest = json.loads(valid)
        keys = sorted(manifest) + [f"config.{key}" for key in sorted(manifest["config"])]
        choices.append(
            st.tuples(st.sampled_from(keys), JSON_VALUES).map(
                lambda change: replace_field(manifest, *change)
            )
        )
    return st.one_of(choices)


def replace_field(manifest: dict, key: str, value) -> bytes:
    """``manifest`` as JSON with ``key`` (``config.NAME``: a field of the configuration) set to
    ``value``."""
    changed = {**manifest, "config": dict(manifest["config"])}
    if key.startswith("config."):
        changed["config"][key.removeprefix("config.")] = value
    else:
        changed[key] = value
    return json.dumps(changed).encode()


def check_outcome(load, path: Path) -> str:
    """Load ``path``: ``"valid"`` or ``"refused"`` (one-line :class:`LimprobError`); any
    other exception fails."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            load(path)
    except LimprobError as error:
        assert "\n" not in str(error).strip(), str(error)
        return "refused"
    return "valid"


def fuzz(
    kind: str, corpus: dict[str, Path], folder: Path, examples: int, outcomes: dict | None = None
) -> None:
    """Run ``examples`` mutated files of ``kind`` through its loader in ``folder`` (a copy of
    the valid file's own folder for the manifest, whose table the loader reads too)."""
    load = loaders()[kind]
    valid = corpus[kind].read_bytes()
    if kind == "manifest":
        shutil.copytree(corpus[kind].parent, folder / "ck", dirs_exist_ok=True)
    outcomes = {} if outcomes is None else outcomes
    count = iter(range(10**9))

    @settings(
        max_examples=examples,
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )
    @given(mutations(kind, valid))
    def property_(content):
        # a new name for every file: the HDF5 library may keep a file it failed to read open,
        # and reads a file rewritten under it as garbage
        target = (
            folder / "ck" / "checkpoint.json"
            if kind == "manifest"
            else folder / f"{next(count)}-{NAMES[kind]}"
        )
        target.write_bytes(content)
        outcome = check_outcome(load, target)
        if kind != "manifest":
            target.unlink()
        outcomes[outcome] = outcomes.get(outcome, 0) + 1

    property_()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    return build_corpus(tmp_path_factory.mktemp("corpus"))


def test_the_valid_files_load(corpus):
    for kind, load in loaders().items():
        assert check_outcome(load, corpus[kind]) == "valid", kind


@pytest.mark.parametrize("kind", EXAMPLES)
def test_mutated_files_are_loaded_or_refused_in_one_line(kind, corpus, tmp_path):
    outcomes = {}
    fuzz(kind, corpus, tmp_path, EXAMPLES[kind], outcomes)
    assert sum(outcomes.values()) >= EXAMPLES[kind] * 0.9  # Hypothesis ran (nearly) them all
    assert outcomes.get("refused", 0) > 0
