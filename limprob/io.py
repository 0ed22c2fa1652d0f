"""Traces on disk: compressed NetCDF through the DataTree's own writer, written atomically.

A trace is written to a temporary file in the destination folder and renamed over the
destination only when complete, so a crash or a bad input never leaves a half-written trace.
``arviz.from_netcdf`` (``xarray.open_datatree``) reads what :func:`save_trace` writes.
:func:`cached_trace` keeps a trace that is slow to compute and depends only on its inputs
(the energy model's device posterior) in a cache folder, keyed by a hash of those inputs.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path

import xarray as xr

from limprob.errors import LimprobError

ENGINE = "netcdf4"


def check_output_path(path: str | Path) -> Path:
    """An output path must name a file in a folder that exists and that we can write to
    (checked by creating and removing a file there, so a run fails before its work, not after)."""
    path = Path(path)
    if not path.parent.is_dir():
        raise LimprobError(f"{path}: the folder {path.parent} does not exist")
    if path.is_dir():
        raise LimprobError(f"{path}: is a folder, not a file name")
    try:
        handle, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check",
                                         dir=path.parent)
    except OSError as error:
        raise LimprobError(f"{path}: cannot write in {path.parent} "
                           f"({error.strerror or type(error).__name__})") from None
    try:
        os.close(handle)
    finally:
        Path(probe).unlink()
    return path


def _same_file(first: str, second: str) -> bool:
    """Whether two paths name one file: the same path once symlinks, ``..`` and the working
    folder are resolved, or (both existing) the same inode, as hard links are."""
    if os.path.realpath(first) == os.path.realpath(second):
        return True
    try:
        return os.path.samefile(first, second)
    except (OSError, ValueError):  # either is missing, unreadable or not a valid path
        return False


def refuse_overwriting_inputs(outputs: dict, inputs: dict) -> None:
    """Refuse a command whose output would replace one of its inputs (or another of its
    outputs): :class:`LimprobError` naming both, before any work.

    ``outputs`` and ``inputs`` map what the user calls a path (``"--out"``, ``"the trace"``) to
    the path, or to None when it was not given. Paths compare after resolving symlinks and
    relative paths (:func:`os.path.realpath`) and as inodes, so ``RUN.nc``, ``./RUN.nc``,
    ``/abs/RUN.nc``, a symlink to it and a hard link to it are all one file.
    """
    given_outputs = [(name, str(path)) for name, path in outputs.items() if path is not None]
    given_inputs = [(name, str(path)) for name, path in inputs.items() if path is not None]
    for index, (name, output) in enumerate(given_outputs):
        for other, path in given_inputs:
            if _same_file(output, path):
                raise LimprobError(f"{output}: {name} is the input {other} ({path}); writing it "
                                   "would destroy the input, choose another output")
        for other, path in given_outputs[index + 1:]:
            if _same_file(output, path):
                raise LimprobError(f"{output}: {name} and {other} name the same path; choose "
                                   "two different outputs")


def write_atomically(path: str | Path, write) -> Path:
    """Call ``write(temporary_name)`` on a temporary file beside ``path``, then rename it over
    ``path``: a crash or an error inside ``write`` leaves neither a partial file nor the
    temporary behind."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        write(temporary)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path


def lock_path(path: str | Path) -> Path:
    """The lock file of ``path``: ``.NAME.lock`` beside it."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


@contextmanager
def exclusive(path: str | Path, *, wait: bool = False):
    """Hold the lock of ``path`` (:func:`lock_path`, an ``flock`` the system drops if the
    process dies) for the block, so two limprob runs never write ``path`` at once.

    Without ``wait``, a lock another process holds is refused with :class:`LimprobError`; with
    it, the block waits its turn. The lock file is removed on the way out (before the lock is
    released, so a waiter that opened it retries on a fresh one).
    """
    from filelock import FileLock, Timeout

    lock_file = lock_path(path)
    lock = FileLock(lock_file, timeout=-1 if wait else 0)
    try:
        lock.acquire()
    except Timeout:
        raise LimprobError(f"{path}: another limprob run is writing it (it holds {lock_file}); "
                           "wait for it to finish or choose another output") from None
    try:
        yield lock_file
    finally:
        lock_file.unlink(missing_ok=True)
        lock.release()


COMPRESSION = {"zlib": True, "complevel": 4}
"""Lossless zlib compression of every numeric variable (a default 2 x 1,000-draw training trace,
``limprob train --out runs/x.nc``: 23.3 MB uncompressed, 3.5 MB compressed)."""


def compressed(dataset: xr.Dataset) -> dict:
    """The NetCDF encoding that compresses every numeric variable of ``dataset``."""
    return {name: dict(COMPRESSION) for name, variable in dataset.data_vars.items()
            if variable.dtype.kind in "fiub"}


def save_trace(tree: xr.DataTree, path: str | Path) -> Path:
    """Write ``tree`` to ``path`` as compressed NetCDF-4, atomically."""
    encoding = {node.path: compressed(node.to_dataset()) for node in tree.subtree}
    return write_atomically(check_output_path(path),
                            lambda name: tree.to_netcdf(name, engine=ENGINE, encoding=encoding))


def save_dataset(dataset: xr.Dataset, path: str | Path) -> Path:
    """Write ``dataset`` to ``path`` as compressed NetCDF-4, atomically."""
    return write_atomically(check_output_path(path),
                            lambda name: dataset.to_netcdf(name, engine=ENGINE,
                                                           encoding=compressed(dataset)))


def load_trace(path: str | Path, needs: set[str] | None = None) -> xr.DataTree:
    """Read a limprob trace; raise :class:`LimprobError` if ``path`` is not one.

    ``needs`` names the groups the caller requires; by default those of a training run (MH:
    posterior and sample_stats; backprop: weights; both: the point estimates' test
    predictions). A trace written before ``point_estimates`` had a group of its own (the
    point estimates in ``predictions``) is read in today's layout (:func:`upgrade`).
    """
    path = Path(path)
    if not path.is_file():
        raise LimprobError(f"{path}: no such file")
    try:
        with xr.open_datatree(path, engine=ENGINE) as stored:  # closed once loaded
            tree = stored.load()
    except (OSError, ValueError, KeyError) as error:
        raise LimprobError(f"{path}: not a NetCDF file ({type(error).__name__})")
    if not tree.attrs.get("limprob_trace"):
        raise LimprobError(f"{path}: not a limprob trace (no limprob_trace attribute)")
    tree = upgrade(tree)
    if needs is None:
        needs = ({"posterior", "sample_stats"} if tree.attrs.get("method", "mh") == "mh"
                 else {"weights"}) | {"point_estimates", "predictions_constant_data"}
    missing = set(needs) - set(tree.children)
    if missing:
        raise LimprobError(f"{path}: limprob trace lacks the group(s) {', '.join(sorted(missing))}")
    return tree


def netcdf_attribute(value):
    """A configuration value as a NetCDF attribute can hold it: None (for example continuous
    weights) as 0, booleans as 0 or 1, everything else as it is."""
    if value is None:
        return 0
    return int(value) if isinstance(value, bool) else value


OLD_POINT_NAMES = {"probability_point": None, "probability_posterior_mean": ["mean"]}
"""Variables of ``predictions`` that held point estimates in older traces (``None``: with their
own ``point_estimate`` dim), and, for backprop traces, ``probability`` without chain and draw."""


def upgrade(tree: xr.DataTree) -> xr.DataTree:
    """``tree`` with point-estimate predictions of an older layout moved from ``predictions``
    into ``point_estimates`` (``probability (point_estimate, obs, class)``); ``predictions``
    keeps only the per-draw probabilities, and goes if it held nothing else."""
    if "point_estimates" in tree.children or "predictions" not in tree.children:
        return tree
    predictions = tree["predictions"].to_dataset()
    if "probability" in predictions and "chain" not in predictions["probability"].dims:
        old, names = "probability", ["mean"]  # a backprop trace: its trained weights
    else:
        old = next((name for name in OLD_POINT_NAMES if name in predictions), None)
        if old is None:
            return tree
        names = OLD_POINT_NAMES[old]
    points = predictions[old]
    if names is not None:
        points = points.expand_dims(point_estimate=names)
    tree = tree.copy()
    tree["point_estimates"] = xr.Dataset({"probability": points.drop_attrs()})
    rest = predictions.drop_vars([old, "point_estimate"], errors="ignore")
    if rest.data_vars:
        tree["predictions"] = rest
    else:
        del tree["predictions"]
    return tree


CACHE_ENV = "LIMPROB_CACHE_DIR"
"""Environment variable naming the cache folder (default ``$XDG_CACHE_HOME/limprob``, else
``~/.cache/limprob``)."""


def cache_dir() -> Path:
    """The folder :func:`cached_trace` keeps its traces in."""
    if os.environ.get(CACHE_ENV):
        return Path(os.environ[CACHE_ENV])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "limprob"


def cache_key(inputs: dict) -> str:
    """SHA-256 (hex) of ``inputs`` written as sorted JSON (values JSON cannot write are
    written as their ``str``)."""
    text = json.dumps(inputs, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()


def _cache_entry(name: str, inputs: dict) -> tuple[Path, str]:
    key = cache_key(inputs)
    return cache_dir() / f"{name}-{key[:24]}.nc", key


def read_cached_trace(name: str, inputs: dict) -> xr.DataTree | None:
    """The trace cached under ``name`` for ``inputs`` (see :func:`cached_trace`), or None if
    there is none, or if the entry cannot be read or holds another key (a corrupt entry is
    never an error: it is recomputed)."""
    path, key = _cache_entry(name, inputs)
    try:
        with xr.open_datatree(path, engine=ENGINE) as stored:
            tree = stored.load()
    except Exception:  # missing, truncated or not NetCDF
        return None
    return tree if tree.attrs.get("limprob_cache_key") == key else None


def cached_trace(name: str, inputs: dict, compute) -> xr.DataTree:
    """``compute()``'s trace, read from the cache if an entry for ``inputs`` is there.

    The entry is ``<cache_dir>/<name>-<key>.nc`` with ``key`` = :func:`cache_key` of
    ``inputs`` (everything the trace depends on: seeds, settings, a hash of the data, package
    versions). An entry that cannot be read, or that holds another key, is ignored and
    replaced; a cache folder that cannot be written is skipped. The values read back are
    those written (lossless compression), so a cached result equals a computed one, bit for
    bit.
    """
    tree = read_cached_trace(name, inputs)
    if tree is not None:
        return tree
    path, key = _cache_entry(name, inputs)
    tree = compute()
    tree.attrs["limprob_cache_key"] = key
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        encoding = {node.path: compressed(node.to_dataset()) for node in tree.subtree}
        write_atomically(path, lambda temporary: tree.to_netcdf(temporary, engine=ENGINE,
                                                                encoding=encoding))
    except OSError:  # a read-only or full disk costs the cache, not the result
        pass
    return tree
