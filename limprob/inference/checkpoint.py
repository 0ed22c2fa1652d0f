"""A training run's checkpoint: its draws and sampler state on disk while it samples.

A run that samples with a checkpoint (``limprob train --checkpoint DIR``) writes each chain's
progress every ``every`` steps, so a run stopped by anything, SIGKILL and power cuts included,
loses at most the steps since the last write, and ``limprob train --resume DIR`` finishes it
(:mod:`limprob.inference.resumable` samples; this module only reads and writes the folder).
A checkpoint is a folder:

    checkpoint.json         the run: its configuration (TrainConfig), the steps between
                            writes, the trace it writes, the package versions, whether the
                            finished trace has been written ("complete"), the SHA-256 of
                            table.nc ("table_sha256") and the run's hash ("run_sha256", of
                            the configuration and the table's hash)
    table.nc                the data table the run splits, so resuming needs no --data
    starts.npz              where each chain starts, as the run chose it when it began
                            (:class:`Starts`; its SHA-256 is the manifest's
                            "starts_sha256"), so resuming chooses no start again
    chain-<c>.state         chain c's progress (pickle): steps done (tuning included), the
                            current point, the step methods' ``sampling_state`` (tuning, the
                            cached evaluation, the random generators), the chip's query count,
                            the draw files that hold its draws with the SHA-256 of each,
                            and the run's hash
    chain-<c>-<s>.npz       chain c's draws after tuning from step s on, each posterior
                            variable and sample stat as the sampler recorded it

Every file is written under a temporary name, flushed to disk and renamed; a chain's draws are
written before the state that names them. So whenever the process dies, the folder describes
the chain as of a write that completed. Tuning steps leave no draws (PyMC discards them), only
the state at the end of them.

``--resume`` trusts nothing it has not checked (:meth:`Checkpoint.open`, before any chip
query): the manifest's fields and types; the run's hash, recomputed from the configuration and
table.nc, against the manifest's (an edited configuration or table is refused); every chain's
state (one that does not unpickle, as a truncated one does not, is refused) against the run's
hash (a state from another run is refused); the stored starts against the manifest's SHA-256,
read without pickle and checked entry by entry (:func:`read_starts`; a checkpoint written
without them resumes by choosing the starts again); and every draw file a state names against
its size and SHA-256 (a missing, truncated or swapped draw file is refused). The draw files'
checksums live in the states, which are replaced atomically with each write, not in the
manifest, so that a process killed between two writes never leaves a manifest and a state
that disagree.

The state files are pickles: open only checkpoints you (or your own runs) wrote, as with any
pickle. A checkpoint is refused when it was written by other versions of limprob, PyMC,
PyTensor, NumPy, numba, ArviZ or xarray (its state may not read back, and the resumed run would
not be the one that started).
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import pickle
import tempfile
from collections.abc import Callable, Iterator, Mapping
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import xarray as xr

from limprob.errors import LimprobError
from limprob.io import ENGINE, write_atomically
from limprob.validation import positive_integer

FORMAT = 2
"""The layout this module writes and reads."""
MANIFEST = "checkpoint.json"
TABLE = "table.nc"
STARTS = "starts.npz"
DEFAULT_EVERY = 100
"""Steps of a chain between two writes (``--checkpoint-every``)."""


@dataclass(frozen=True)
class ChainProgress:
    """Where a chain stood at its last write."""

    steps: int
    """Steps done, tuning included."""
    point: dict
    """The chain's current point (value variables by name)."""
    step_state: object
    """The step methods' ``sampling_state``."""
    chip_queries: int | None
    """The chip's query count then (None: the chip does not count)."""
    draw_files: tuple[str, ...] = ()
    """The files that hold the chain's draws after tuning, in order."""
    draw_checksums: tuple[str, ...] = ()
    """The SHA-256 (hex) of each of ``draw_files``."""
    run_sha256: str = ""
    """The hash of the run whose chain this is (the manifest's ``run_sha256``)."""


@dataclass(frozen=True)
class Starts:
    """Where each chain of a run starts, as the run chose it when it began."""

    initvals: list[dict[str, np.ndarray]]
    """Each chain's initial values (float64 arrays by variable name)."""
    attrs: dict[str, Any]
    """The trace's attributes that say where each chain started and what choosing cost
    (strings, integers, floats and one-dimensional numeric arrays)."""
    chip_queries: int
    """The chip's query count once the starts were chosen: where sampling begins."""


class Checkpoint:
    """A checkpoint folder (module docstring). Make one with :meth:`new` (checked, nothing
    written until :meth:`begin`) or :meth:`open` (an existing one, to resume)."""

    def __init__(self, path: Path, manifest: dict | None, *, every: int, out: str | None) -> None:
        self.path = path
        self._manifest = manifest
        self.every = every
        self.out = out
        self.resuming = manifest is not None
        """Whether this checkpoint was opened to resume a run (:meth:`open`)."""
        self._checksums: dict[int, dict[str, str]] = {}
        """Each chain's draw files and their SHA-256, as verified or written."""
        self._starts: Starts | None = None
        """The stored starts, as verified or written (None: none stored)."""

    @classmethod
    def new(
        cls, path: str | Path, *, every: int = DEFAULT_EVERY, out: str | Path | None = None
    ) -> Checkpoint:
        """A checkpoint to be written in ``path``, a new or empty folder we can write in
        (checked now, by creating and removing a file; refused with :class:`LimprobError`
        otherwise). ``out`` is the trace the run writes, recorded so that resuming writes it
        again."""
        from limprob.io import check_path_name

        path = check_path_name(path, "checkpoint folder")
        positive_integer("checkpoint every", every)
        if path.exists() and not path.is_dir():
            raise LimprobError(f"{path}: is a file, not a folder")
        if (path / MANIFEST).exists():
            raise LimprobError(
                f"{path}: holds a checkpoint already; finish that "
                f"run with limprob train --resume {path}, or choose a new folder"
            )
        if path.is_dir() and any(path.iterdir()):
            raise LimprobError(
                f"{path}: the folder is not empty; a checkpoint needs a new or empty folder"
            )
        folder = path if path.is_dir() else path.parent
        if not folder.is_dir():
            raise LimprobError(f"{path}: the folder {folder} does not exist")
        _check_writable(folder, str(path))
        return cls(path, None, every=every, out=None if out is None else str(Path(out).absolute()))

    @classmethod
    def open(cls, path: str | Path) -> Checkpoint:
        """The checkpoint in ``path``, to resume; :class:`LimprobError` if there is none, if
        its run is complete, or if it was written by other package versions."""
        from limprob.inference.sampling import package_versions

        if not str(path).strip():
            raise LimprobError("--resume: an empty path names no checkpoint folder")
        path = Path(path)
        if not path.is_dir():
            raise LimprobError(f"{path}: no such folder")
        try:
            manifest = json.loads((path / MANIFEST).read_text())
        except (OSError, UnicodeDecodeError, ValueError):
            raise LimprobError(
                f"{path}: not a limprob checkpoint (no readable {MANIFEST})"
            ) from None
        if not isinstance(manifest, dict) or manifest.get("limprob_checkpoint") != FORMAT:
            raise LimprobError(f"{path}: not a limprob checkpoint of format {FORMAT}")
        _check_manifest(path, manifest)
        if manifest.get("complete"):
            raise LimprobError(
                f"{path}: its run is complete (it wrote "
                f"{manifest.get('out')}); there is nothing to resume"
            )
        differ = [
            f"{name.removeprefix('version_')} {manifest['versions'].get(name)} (now {version})"
            for name, version in package_versions().items()
            if manifest["versions"].get(name) != version
        ]
        if differ:
            raise LimprobError(
                f"{path}: written with other package versions: "
                f"{', '.join(differ)}; resume it with the versions it was "
                "written with"
            )
        checkpoint = cls(path, manifest, every=manifest["every"], out=manifest.get("out"))
        _remove_temporaries(path)  # left by a process killed while writing
        checkpoint.verify()
        return checkpoint

    def verify(self) -> None:
        """Check, before anything is sampled, that the folder holds one run, whole: the run's
        hash recomputed from the manifest's configuration and table.nc, each chain's state
        made by that run, and each draw file the state names, by size and SHA-256 (module
        docstring); :class:`LimprobError` naming the first file that fails."""
        manifest = self._manifest
        assert manifest is not None  # open() verifies the manifest it read
        table_hash = None
        if manifest.get("table"):
            if not (self.path / TABLE).is_file():
                raise LimprobError(f"{self.path}: the checkpoint lacks its {TABLE}")
            table_hash = file_sha256(self.path / TABLE)
            if table_hash != manifest["table_sha256"]:
                raise LimprobError(
                    f"{self.path / TABLE}: changed since the run wrote it "
                    "(its SHA-256 differs from the manifest's)"
                )
        if run_sha256(manifest["config"], table_hash) != manifest["run_sha256"]:
            raise LimprobError(
                f"{self.path / MANIFEST}: the configuration was edited since "
                "the run wrote it (its hash differs from the manifest's); a "
                "checkpoint resumes only the run that wrote it"
            )
        for state in sorted(self.path.glob("chain-*.state")):
            try:
                chain = int(state.name.removeprefix("chain-").removesuffix(".state"))
            except ValueError:
                raise LimprobError(f"{state}: not a chain's state file name") from None
            progress = self.progress(chain)
            assert progress is not None  # its state file is there
            if progress.run_sha256 != manifest["run_sha256"]:
                raise LimprobError(
                    f"{state}: the state of another run's chain (its run hash "
                    "differs from the manifest's)"
                )
            if len(progress.draw_checksums) != len(progress.draw_files):
                raise LimprobError(
                    f"{state}: names {len(progress.draw_files)} draw files "
                    f"but holds {len(progress.draw_checksums)} checksums"
                )
            for name, checksum in zip(progress.draw_files, progress.draw_checksums):
                draws = self.path / name
                if not draws.is_file():
                    raise LimprobError(f"{draws}: missing; chain {chain}'s state names it")
                if file_sha256(draws) != checksum:
                    raise LimprobError(
                        f"{draws}: not the file chain {chain} wrote (truncated, "
                        "edited or another run's: its SHA-256 differs)"
                    )
            self._checksums[chain] = dict(zip(progress.draw_files, progress.draw_checksums))
        if manifest.get("starts_sha256") is not None:
            starts = self.path / STARTS
            if not starts.is_file():
                raise LimprobError(f"{starts}: missing; the manifest names it")
            if file_sha256(starts) != manifest["starts_sha256"]:
                raise LimprobError(
                    f"{starts}: not the file the run wrote (truncated, edited or another "
                    "run's: its SHA-256 differs from the manifest's)"
                )
            self._starts = read_starts(starts)

    @property
    def begun(self) -> bool:
        """Whether the folder holds this checkpoint's manifest (a resumed run's does)."""
        return self._manifest is not None

    @property
    def settings(self) -> dict:
        """The run's configuration as written (the fields of its configuration class;
        :func:`limprob.inference.training.checkpointed_config` makes it a ``TrainConfig``)."""
        if self._manifest is None:
            raise LimprobError(f"{self.path}: the checkpoint has not begun")
        return dict(self._manifest["config"])

    def table(self) -> xr.Dataset:
        """The data table the run splits."""
        from limprob.data import check_table
        from limprob.io import read_netcdf

        if not (self.path / TABLE).is_file():
            raise LimprobError(f"{self.path}: the checkpoint lacks its {TABLE}")
        table = read_netcdf(self.path / TABLE, "checkpointed table")
        if not {"features", "labels"} <= set(table.data_vars) or "class" not in table.coords:
            raise LimprobError(f"{self.path / TABLE}: not a data table")
        with np.errstate(all="ignore"):
            return check_table(table)

    def begin(self, config: Any, table: xr.Dataset | None = None) -> None:
        """Write the manifest of a new checkpoint for ``config`` (a dataclass, the run's
        configuration) and ``table`` (the run's data); for a checkpoint that has begun, check
        that ``config`` is its run's."""
        if self._manifest is not None:
            if not _same_run(config, self.settings):
                raise LimprobError(
                    f"{self.path}: the checkpoint belongs to another run configuration"
                )
            return
        from limprob.inference.sampling import package_versions

        self.path.mkdir(exist_ok=True)
        table_hash = None
        if table is not None:
            write_atomically(self.path / TABLE, lambda name: table.to_netcdf(name, engine=ENGINE))
            table_hash = file_sha256(self.path / TABLE)
        settings = json.loads(json.dumps(asdict(config)))
        manifest = {
            "limprob_checkpoint": FORMAT,
            "config": settings,
            "every": self.every,
            "out": self.out,
            "table": table is not None,
            "table_sha256": table_hash,
            "run_sha256": run_sha256(settings, table_hash),
            "versions": package_versions(),
            "complete": False,
        }
        self._write_manifest(manifest)

    def record_starts(self, starts: Starts) -> None:
        """Write where the run's chains start (:class:`Starts`) and name it in the manifest,
        so that a resume reads them instead of choosing again."""
        assert self._manifest is not None  # a run chooses its starts after it has begun
        content = _starts_bytes(starts)
        _write(self.path / STARTS, lambda handle: handle.write(content))
        self._write_manifest(
            {**self._manifest, "starts_sha256": hashlib.sha256(content).hexdigest()}
        )
        self._starts = starts

    def starts(self, shapes: Mapping[str, tuple[int, ...]], chains: int) -> Starts | None:
        """The stored starts (None if the checkpoint holds none, as one written before they
        were stored does not), checked to be ``chains`` chains of the variables ``shapes``
        names, of those shapes; :class:`LimprobError` otherwise."""
        starts = self._starts
        if starts is None:
            return None
        wanted = {name: (chains, *shape) for name, shape in shapes.items()}
        has = {
            name: (len(starts.initvals), *np.shape(value))
            for name, value in starts.initvals[0].items()
        }
        if has != wanted:
            described = ", ".join(f"{name} {shape}" for name, shape in sorted(has.items()))
            expected = ", ".join(f"{name} {shape}" for name, shape in sorted(wanted.items()))
            raise LimprobError(
                f"{self.path / STARTS}: starts of shape {described} (chain first); "
                f"this run's are {expected}"
            )
        return starts

    @property
    def complete(self) -> bool:
        """Whether the run's finished trace has been written (:meth:`mark_complete`)."""
        return bool(self._manifest and self._manifest.get("complete"))

    def mark_complete(self) -> None:
        """Record that the run's finished trace has been written: it is not resumed again."""
        assert self._manifest is not None  # a run that completes has begun
        self._write_manifest({**self._manifest, "complete": True})

    def _write_manifest(self, manifest: dict) -> None:
        text = json.dumps(manifest, indent=1)
        _write(self.path / MANIFEST, lambda handle: handle.write(text.encode()))
        self._manifest = manifest

    def progress(self, chain: int) -> ChainProgress | None:
        """Chain ``chain``'s progress at its last write, or None if it has none."""
        path = self.path / f"chain-{chain}.state"
        if not path.is_file():
            return None
        try:
            progress = pickle.loads(path.read_bytes())
        except Exception as error:  # a truncated or foreign file
            raise LimprobError(
                f"{path}: cannot read the chain's state ({type(error).__name__})"
            ) from None
        if not isinstance(progress, ChainProgress):
            raise LimprobError(f"{path}: not a chain's state")
        return progress

    @property
    def run_hash(self) -> str:
        """The run's hash, as its manifest records it."""
        assert self._manifest is not None  # a run that writes draws has begun
        return self._manifest["run_sha256"]

    def draws(self, chain: int, progress: ChainProgress) -> Iterator[tuple[int, dict]]:
        """Chain ``chain``'s draws after tuning, as ``(first step, {name: array})`` per file."""
        for name in progress.draw_files:
            first = int(name.removesuffix(".npz").rsplit("-", 1)[1])
            with np.load(self.path / name, allow_pickle=False) as stored:
                yield first, {key: stored[key] for key in stored.files}

    def record(
        self,
        chain: int,
        progress: ChainProgress,
        first: int | None = None,
        draws: dict | None = None,
    ) -> ChainProgress:
        """Write chain ``chain``'s ``draws`` (``{name: array}`` from step ``first`` on, if any)
        and then its ``progress``; return the progress as written (naming the new file)."""
        checksums = self._checksums.setdefault(chain, {})
        if draws:
            name = f"chain-{chain}-{first:09d}.npz"
            buffer = io.BytesIO()
            np.savez(buffer, **draws)
            content = buffer.getvalue()
            _write(self.path / name, lambda handle: handle.write(content))
            checksums[name] = hashlib.sha256(content).hexdigest()
            progress = replace(progress, draw_files=(*progress.draw_files, name))
        progress = replace(
            progress,
            run_sha256=self.run_hash,
            draw_checksums=tuple(checksums[name] for name in progress.draw_files),
        )
        state = pickle.dumps(progress, protocol=pickle.HIGHEST_PROTOCOL)
        _write(self.path / f"chain-{chain}.state", lambda handle: handle.write(state))
        return progress


START_PREFIX, ATTR_PREFIX, START_QUERIES = "start:", "attr:", "chip_queries"
"""The entries of starts.npz: ``start:<name>`` (chain, ...) float64 initial values,
``attr:<name>`` the start attributes (zero-dimensional for a scalar), ``chip_queries``."""


def _starts_bytes(starts: Starts) -> bytes:
    """``starts`` as the bytes of starts.npz (:data:`START_PREFIX`)."""
    entries: dict[str, Any] = {
        f"{START_PREFIX}{name}": np.stack(
            [np.asarray(chain[name], dtype=np.float64) for chain in starts.initvals]
        )
        for name in starts.initvals[0]
    }
    entries.update({f"{ATTR_PREFIX}{name}": np.asarray(v) for name, v in starts.attrs.items()})
    entries[START_QUERIES] = np.asarray(starts.chip_queries, dtype=np.int64)
    buffer = io.BytesIO()
    np.savez(buffer, **entries)
    return buffer.getvalue()


def read_starts(path: Path) -> Starts:
    """The :class:`Starts` of starts.npz ``path``, read without pickle and checked: finite
    float64 starts with one leading chain axis shared by every variable, attributes that are
    strings or numbers (scalars or one-dimensional), a query count that is a non-negative
    integer; :class:`LimprobError` (one line) otherwise."""

    def malformed(why: str) -> LimprobError:
        return LimprobError(f"{path}: malformed stored starts ({why})")

    try:
        with np.load(path, allow_pickle=False) as stored:
            entries = {key: stored[key] for key in stored.files}
    except Exception as error:  # a truncated, foreign or pickled file
        raise malformed(f"unreadable: {type(error).__name__}") from None
    values = {
        k.removeprefix(START_PREFIX): v for k, v in entries.items() if k.startswith(START_PREFIX)
    }
    attrs = {
        k.removeprefix(ATTR_PREFIX): v for k, v in entries.items() if k.startswith(ATTR_PREFIX)
    }
    unknown = sorted(
        set(entries)
        - {START_QUERIES}
        - {START_PREFIX + k for k in values}
        - {ATTR_PREFIX + k for k in attrs}
    )
    if unknown:
        raise malformed(f"unknown entry {unknown[0]!r}")
    for name, value in values.items():
        if value.dtype != np.float64 or value.ndim < 2 or not np.isfinite(value).all():
            raise malformed(f"{name} is not finite float64 values with a chain axis")
    chains = {len(value) for value in values.values()}
    if len(chains) != 1 or 0 in chains:
        raise malformed("no start, or variables with different numbers of chains")
    for name, value in attrs.items():
        if value.dtype.kind not in "biufU" or value.ndim > 1:
            raise malformed(f"attribute {name} is not a string or numbers")
    queries = entries.get(START_QUERIES)
    if queries is None or queries.shape != () or queries.dtype.kind not in "iu" or queries < 0:
        raise malformed("no chip query count")
    (count,) = chains
    return Starts(
        initvals=[{name: value[c] for name, value in values.items()} for c in range(count)],
        attrs={name: value.item() if value.ndim == 0 else value for name, value in attrs.items()},
        chip_queries=int(queries),
    )


def file_sha256(path: Path) -> str:
    """The SHA-256 (hex) of the bytes of ``path``."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _same_run(config: Any, settings: dict) -> bool:
    """Whether ``config`` is the run whose configuration a checkpoint stores as ``settings``:
    written the same, or read by the configuration class's ``from_settings`` (a checkpoint
    written in an older layout of the class) to an equal one."""
    if json.loads(json.dumps(asdict(config))) == settings:
        return True
    read = getattr(type(config), "from_settings", None)
    try:
        return read is not None and read(settings) == config
    except (TypeError, LimprobError):
        return False


def run_sha256(settings: dict, table_sha256: str | None) -> str:
    """The hash of a run: SHA-256 of its configuration written as sorted JSON and of its
    table's SHA-256 (None: the default table)."""
    text = json.dumps({"config": settings, "table": table_sha256}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


MANIFEST_FIELDS = {"config": dict, "every": int, "versions": dict, "run_sha256": str, "table": bool}
"""The manifest's fields a resume reads, with their types."""


def _check_manifest(path: Path, manifest: dict) -> None:
    """:class:`LimprobError` unless ``manifest`` has the fields a resume reads, of their
    types (``out`` a path or null, ``table_sha256`` a hash when there is a table)."""
    for name, kind in MANIFEST_FIELDS.items():
        value = manifest.get(name)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise LimprobError(
                f"{path / MANIFEST}: a malformed manifest ({name} is "
                f"{'missing' if name not in manifest else type(value).__name__},"
                f" not {kind.__name__})"
            )
    positive_integer(f"{path / MANIFEST}: every", manifest["every"])
    if not isinstance(manifest.get("out"), (str, type(None))) or manifest.get("out") == "":
        raise LimprobError(f"{path / MANIFEST}: a malformed manifest (out is not a path)")
    if manifest["table"] and not isinstance(manifest.get("table_sha256"), str):
        raise LimprobError(f"{path / MANIFEST}: a malformed manifest (no table_sha256)")
    if not isinstance(manifest.get("starts_sha256"), (str, type(None))):
        raise LimprobError(f"{path / MANIFEST}: a malformed manifest (starts_sha256 is not a hash)")


def _write(path: Path, write: Callable[[BinaryIO], object]) -> None:
    """``write(handle)`` into ``path`` atomically and durably: a temporary file, flushed to
    disk, renamed over ``path``."""

    def durably(temporary: str) -> None:
        with open(temporary, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())

    write_atomically(path, durably)


def _check_writable(folder: Path, what: str) -> None:
    try:
        handle, probe = tempfile.mkstemp(prefix=".limprob.", suffix=".check", dir=folder)
    except OSError as error:
        raise LimprobError(
            f"{what}: cannot write in {folder} ({error.strerror or type(error).__name__})"
        ) from None
    os.close(handle)
    Path(probe).unlink()


def _remove_temporaries(path: Path) -> None:
    for temporary in path.glob(".*.tmp"):
        temporary.unlink(missing_ok=True)
