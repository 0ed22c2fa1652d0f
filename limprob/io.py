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
import stat
import tempfile
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Final, Literal, cast, overload

import numpy as np
import xarray as xr

from limprob.errors import LimprobError

ENGINE: Final = "netcdf4"


def check_output_path(path: str | Path) -> Path:
    """An output path must name a file in a folder that exists and that we can write to
    (checked by creating and removing a file there, so a run fails before its work, not after)."""
    path = check_path_name(path, "output file")
    try:
        parent_is_dir, is_dir = path.parent.is_dir(), path.is_dir()
    except OSError as error:
        raise LimprobError(
            f"{_short(str(path))}: not a usable path ({error.strerror or type(error).__name__})"
        ) from None
    if not parent_is_dir:
        raise LimprobError(f"{path}: the folder {path.parent} does not exist")
    if is_dir:
        raise LimprobError(f"{path}: is a folder, not a file name")
    try:
        handle, probe = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".check", dir=path.parent)
    except OSError as error:
        raise LimprobError(
            f"{path}: cannot write in {path.parent} ({error.strerror or type(error).__name__})"
        ) from None
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
                raise LimprobError(
                    f"{output}: {name} is the input {other} ({path}); writing it "
                    "would destroy the input, choose another output"
                )
        for other, path in given_outputs[index + 1 :]:
            if _same_file(output, path):
                raise LimprobError(
                    f"{output}: {name} and {other} name the same path; choose two different outputs"
                )


BESIDE_BYTES = 16
"""Bytes the files limprob writes beside an output add to its name: ``.NAME.XXXXXXXX.tmp``,
``.NAME.lock``."""


def check_path_name(path: str | Path, what: str = "file") -> Path:
    """``path`` as a :class:`Path` if it is not empty and its last name leaves room, within
    the file system's limit on a name, for the temporary and lock files written beside it;
    else :class:`LimprobError`."""
    if not str(path).strip():
        raise LimprobError(f"an empty path names no {what}")
    path = Path(path)
    try:
        limit = os.pathconf(path.parent if path.parent.is_dir() else ".", "PC_NAME_MAX")
    except (OSError, ValueError):
        limit = 255
    length = len(os.fsencode(path.name))
    if length + BESIDE_BYTES > limit:
        raise LimprobError(
            f"{_short(str(path))}: a name of {length} bytes; limprob needs "
            f"{BESIDE_BYTES} more beside it (temporary and lock files) and this "
            f"file system holds {limit}: choose a name of at most "
            f"{limit - BESIDE_BYTES} bytes"
        )
    return path


def write_atomically(path: str | Path, write: Callable[[str], object]) -> Path:
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
    if not path.name:  # "." or "/": name the folder itself
        path = Path(os.path.abspath(path))
    return path.with_name(f".{path.name or 'root'}.lock")


@contextmanager
def exclusive(path: str | Path, *, wait: bool = False) -> Iterator[Path]:
    """Hold the lock of ``path`` (:func:`lock_path`, an ``flock`` the system drops if the
    process dies) for the block, so two limprob runs never write ``path`` at once.

    Without ``wait``, a lock another process holds is refused with :class:`LimprobError`; with
    it, the block waits its turn. The lock file is removed on the way out (before the lock is
    released, so a waiter that opened it retries on a fresh one).
    """
    from filelock import FileLock, Timeout

    lock_file = lock_path(check_path_name(path))
    if lock_file.is_symlink() or (lock_file.exists() and not lock_file.is_file()):
        kind = "a symbolic link" if lock_file.is_symlink() else "not a file"
        raise LimprobError(
            f"{lock_file}: the lock file of {path} is {kind}; remove it if no "
            "limprob run is writing there"
        )
    lock = FileLock(lock_file, timeout=-1 if wait else 0)
    try:
        lock.acquire()
    except Timeout:
        raise LimprobError(
            f"{path}: another limprob run is writing it (it holds {lock_file}); "
            "wait for it to finish or choose another output"
        ) from None
    except OSError as error:
        raise LimprobError(
            f"{lock_file}: cannot take the lock of {path} "
            f"({error.strerror or type(error).__name__})"
        ) from None
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
    return {
        name: dict(COMPRESSION)
        for name, variable in dataset.data_vars.items()
        if variable.dtype.kind in "fiub"
    }


def save_trace(tree: xr.DataTree, path: str | Path) -> Path:
    """Write ``tree`` to ``path`` as compressed NetCDF-4, atomically."""
    encoding = {node.path: compressed(node.to_dataset()) for node in tree.subtree}
    return write_atomically(
        check_output_path(path), lambda name: tree.to_netcdf(name, engine=ENGINE, encoding=encoding)
    )


def save_dataset(dataset: xr.Dataset, path: str | Path) -> Path:
    """Write ``dataset`` to ``path`` as compressed NetCDF-4, atomically."""
    return write_atomically(
        check_output_path(path),
        lambda name: dataset.to_netcdf(name, engine=ENGINE, encoding=compressed(dataset)),
    )


def check_input_file(path: str | Path, what: str = "file") -> Path:
    """``path`` as a :class:`Path` if it names a regular, non-empty file; else
    :class:`LimprobError` (a missing file, a folder, a pipe or device, an empty file, a name
    the file system cannot hold)."""
    text = str(path)
    if not text.strip():
        raise LimprobError(f"an empty path names no {what}")
    path = Path(path)
    try:
        status = path.stat()
    except FileNotFoundError:
        raise LimprobError(f"{path}: no such {what}") from None
    except OSError as error:
        raise LimprobError(
            f"{_short(text)}: cannot read it ({error.strerror or type(error).__name__})"
        ) from None
    if stat.S_ISDIR(status.st_mode):
        raise LimprobError(f"{path}: is a folder, not a {what}")
    if not stat.S_ISREG(status.st_mode):
        raise LimprobError(f"{path}: not a regular file (a pipe or device cannot be read twice)")
    if status.st_size == 0:
        raise LimprobError(f"{path}: the file is empty")
    return path


def _short(text: str, width: int = 80) -> str:
    """A path as an error line shows it: at most ``width`` characters."""
    return text if len(text) <= width else f"{text[: width // 2]}...{text[-width // 2 :]}"


@contextmanager
def quiet() -> Iterator[None]:
    """Neither Python nor NumPy warnings printed inside (a refusal is one line, not a line
    after a library's warnings)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"):
        warnings.simplefilter("ignore")
        yield


def netcdf_bytes(node: xr.Dataset | xr.DataTree) -> int:
    """Bytes the variables of ``node`` (an opened, not yet loaded Dataset or DataTree) take
    once read: sum of size x item size, from the file's header (strings count 64 bytes)."""
    datasets = [n.to_dataset() for n in node.subtree] if isinstance(node, xr.DataTree) else [node]
    total = 0
    for dataset in datasets:
        for variable in dataset.variables.values():
            itemsize = variable.dtype.itemsize if variable.dtype.kind in "biufcmM" else 64
            total += int(np.prod(variable.shape, dtype=np.float64)) * itemsize
    return total


@overload
def read_netcdf(
    path: str | Path, what: str, *, tree: Literal[False] = False, max_memory: float | None = None
) -> xr.Dataset: ...
@overload
def read_netcdf(
    path: str | Path, what: str, *, tree: Literal[True], max_memory: float | None = None
) -> xr.DataTree: ...
def read_netcdf(
    path: str | Path, what: str, *, tree: bool = False, max_memory: float | None = None
) -> xr.Dataset | xr.DataTree:
    """The NetCDF file at ``path`` (a Dataset, or with ``tree`` a DataTree), loaded into memory,
    or :class:`LimprobError` naming ``path``.

    The file must be a regular, non-empty file; its header is read first, and the variables'
    size once decompressed (:func:`netcdf_bytes`, twice: the copy a loader makes) is checked
    against ``max_memory`` (default: the memory available) before any is read. Whatever the
    netCDF and HDF5 libraries raise for a corrupt file (OSError, RuntimeError, KeyError,
    ValueError, ...) becomes one line.
    """
    from limprob.validation import check_memory

    path = check_input_file(path)
    opener = xr.open_datatree if tree else xr.open_dataset
    with quiet():
        try:
            stored = opener(path, engine=ENGINE)
        except Exception as error:  # the netCDF/HDF5 libraries raise many kinds
            raise LimprobError(f"{path}: not a NetCDF file ({_reason(error, path)})") from None
        with stored:
            check_memory(2 * netcdf_bytes(stored), f"{path}: reading this {what}", max_memory)
            try:
                return stored.load()
            except Exception as error:
                reason = _reason(error, path)
                raise LimprobError(f"{path}: a corrupt NetCDF file ({reason})") from None


def _reason(error: Exception, path: str | Path | None = None) -> str:
    """A library's error in a few words: its type and its message (without the file's name,
    which the line gives already)."""
    text = str(error)
    if path is not None:
        for name in (os.path.abspath(path), str(path)):
            text = text.replace(f": '{name}'", "").replace(name, "the file")
    text = " ".join(text.split())[:120]
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


TRACE_ATTRIBUTES = ("training_chip_queries",)
"""Numeric attributes every training trace carries (a trace of a user's chip has no
``chip_strength`` or ``chip_seed``: its chip describes itself)."""

EVALUATE_ATTRIBUTES = (*TRACE_ATTRIBUTES, "evaluation_chip_queries")
"""Numeric attributes ``limprob evaluate`` reports."""


def load_trace(
    path: str | Path,
    needs: set[str] | None = None,
    *,
    attributes: tuple[str, ...] | None = None,
    max_memory: float | None = None,
) -> xr.DataTree:
    """Read a limprob trace and check it (:func:`check_trace`); raise :class:`LimprobError`
    naming ``path`` and what is wrong if it is not one.

    ``needs`` names the groups the caller requires; by default those of a training run (MH:
    posterior and sample_stats; backprop: weights; both: the point estimates' test
    predictions), and then also the numeric attributes :data:`TRACE_ATTRIBUTES` unless
    ``attributes`` names others. A trace of an older layout (attributes of older names, the
    point estimates in ``predictions``) is read in today's (:func:`upgrade`).
    """
    tree = read_netcdf(path, "trace", tree=True, max_memory=max_memory)
    if not tree.attrs.get("limprob_trace"):
        raise LimprobError(f"{path}: not a limprob trace (no limprob_trace attribute)")
    with quiet():
        try:
            tree = upgrade(tree)
        except Exception as error:  # a layout upgrade cannot read
            reason = _reason(error, path)
            raise LimprobError(f"{path}: not a trace of a known layout ({reason})") from None
    if needs is None:
        needs = (
            {"posterior", "sample_stats"} if tree.attrs.get("method", "mh") == "mh" else {"weights"}
        ) | {"point_estimates", "predictions_constant_data"}
        attributes = TRACE_ATTRIBUTES if attributes is None else attributes
    missing = set(needs) - set(tree.children)
    if missing:
        raise LimprobError(f"{path}: limprob trace lacks the group(s) {', '.join(sorted(missing))}")
    check_trace(tree, path, attributes or ())
    return tree


FINITE_GROUPS = ("posterior", "weights", "point_estimates", "predictions")
"""Groups whose every number must be finite (weights and measured probabilities)."""


def check_trace(tree: xr.DataTree, path: str | Path, attributes: Iterable[str] = ()) -> xr.DataTree:
    """Raise :class:`LimprobError` unless the groups limprob reads of ``tree`` hold what it
    computes from: numeric, finite weights and probabilities, probabilities in [0, 1] over a
    ``class`` dim, test labels that are class indices, no NaN log-likelihood, and each of
    ``attributes`` a finite number."""
    for name in attributes:
        value = tree.attrs.get(name)
        if not _finite_number(value):
            raise LimprobError(
                f"{path}: the trace's attribute {name} is "
                f"{'missing' if value is None else repr(value)}, not a number"
            )
    with quiet():
        for group in FINITE_GROUPS:
            if group not in tree.children:
                continue
            for key, variable in tree[group].to_dataset().data_vars.items():
                if variable.dtype.kind not in "biuf":
                    raise LimprobError(f"{path}: {group}/{key} holds {variable.dtype}, not numbers")
                if not np.all(np.isfinite(variable.values)):
                    raise LimprobError(f"{path}: {group}/{key} holds NaN or infinite values")
        for group in ("point_estimates", "predictions"):
            if group in tree.children and "probability" in tree[group].data_vars:
                _check_probability(
                    cast(xr.DataArray, tree[group]["probability"]), f"{path}: {group}/probability"
                )
        if "log_likelihood" in tree.children:
            for key, variable in tree["log_likelihood"].to_dataset().data_vars.items():
                if variable.dtype.kind != "f" or np.any(np.isnan(variable.values)):
                    raise LimprobError(
                        f"{path}: log_likelihood/{key} is not a number "
                        "everywhere (NaN or not floating point)"
                    )
        if "predictions_constant_data" in tree.children:
            _check_labels(tree, path)
    return tree


def _finite_number(value: object) -> bool:
    if isinstance(value, (bool, str, bytes)) or value is None:
        return False
    try:
        return bool(np.all(np.isfinite(np.asarray(value, dtype=np.float64))))
    except (TypeError, ValueError):
        return False


def _check_probability(probability: xr.DataArray, where: str) -> None:
    if "class" not in probability.dims or probability.sizes["class"] < 2:
        raise LimprobError(f"{where} has no class dim of two or more classes")
    values = probability.values
    if np.any((values < 0) | (values > 1)):
        raise LimprobError(f"{where} holds values outside [0, 1], not probabilities")


def _check_labels(tree: xr.DataTree, path: str | Path) -> None:
    data = tree["predictions_constant_data"]
    if "y" not in data.data_vars:
        raise LimprobError(f"{path}: predictions_constant_data lacks the test labels y")
    labels = cast(xr.DataArray, data["y"]).values
    n_classes = (
        tree["point_estimates"].sizes.get("class") if "point_estimates" in tree.children else None
    )
    if (
        labels.dtype.kind not in "iu"
        or labels.ndim != 1
        or (n_classes is not None and np.any((labels < 0) | (labels >= n_classes)))
    ):
        raise LimprobError(
            f"{path}: predictions_constant_data/y holds {labels.dtype} "
            f"values that are not class indices"
        )
    if "point_estimates" in tree.children:
        n_obs = tree["point_estimates"].sizes.get("obs")
        if n_obs != labels.size:
            raise LimprobError(f"{path}: {labels.size} test labels for {n_obs} predictions")


def netcdf_attribute(value: Any) -> Any:
    """A configuration value as a NetCDF attribute can hold it: None (for example continuous
    weights) as 0, booleans as 0 or 1, everything else as it is."""
    if value is None:
        return 0
    return int(value) if isinstance(value, bool) else value


OLD_POINT_NAMES = {"probability_point": None, "probability_posterior_mean": ["mean"]}
"""Variables of ``predictions`` that held point estimates in older traces (``None``: with their
own ``point_estimate`` dim), and, for backprop traces, ``probability`` without chain and draw."""


OLD_ATTRIBUTES = {
    "hidden": "network_n_hidden",
    "time_steps": "network_n_steps",
    "beta": "network_beta",
    "theta": "network_theta",
    "reset": "network_reset",
    "strength": "chip_strength",
    "noise": "chip_noise",
    "weight_bits": "chip_weight_bits",
}
"""Attributes of a chip-in-the-loop training trace written before its configuration was
composed of parts (:class:`~limprob.inference.training.TrainConfig`), and their names now."""


def upgrade(tree: xr.DataTree) -> xr.DataTree:
    """``tree`` in today's layout: a training trace's attributes of an older name
    (:data:`OLD_ATTRIBUTES`) under today's (an old name whose value today's already holds
    goes), and point-estimate predictions of an older layout moved from ``predictions`` into
    ``point_estimates`` (``probability (point_estimate, obs, class)``); ``predictions`` keeps
    only the per-draw probabilities, and goes if it held nothing else."""
    return _upgrade_points(_upgrade_attributes(tree))


def _upgrade_attributes(tree: xr.DataTree) -> xr.DataTree:
    attrs = tree.attrs
    if attrs.get("model") != "chip_in_the_loop" or not set(OLD_ATTRIBUTES) & set(attrs):
        return tree
    upgraded = {OLD_ATTRIBUTES.get(str(key), key): value for key, value in attrs.items()}
    upgraded.update({key: value for key, value in attrs.items() if key not in OLD_ATTRIBUTES})
    tree = tree.copy()
    tree.attrs = upgraded
    return tree


def _upgrade_points(tree: xr.DataTree) -> xr.DataTree:
    if "point_estimates" in tree.children or "predictions" not in tree.children:
        return tree
    predictions = tree["predictions"].to_dataset()
    if "probability" in predictions and "chain" not in predictions["probability"].dims:
        old: str | None = "probability"
        names: list[str] | None = ["mean"]  # a backprop trace: its trained weights
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


def cached_trace(name: str, inputs: dict, compute: Callable[[], xr.DataTree]) -> xr.DataTree:
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
        write_atomically(
            path, lambda temporary: tree.to_netcdf(temporary, engine=ENGINE, encoding=encoding)
        )
    except OSError:  # a read-only or full disk costs the cache, not the result
        pass
    return tree
