"""Studies: a grid of training runs on simulated chips, one Dask task per cell, cached per cell.

A study is a grid over ``method`` (:data:`METHODS`: ``mh``, ``backprop``,
``in_the_loop_backprop``, ``noise_aware_backprop``, ``mh_ideal_start`` (MH whose chains start
from ideal-model backprop chosen on the chip, :mod:`limprob.inference.starts`) and ``oracle``)
x ``dataset`` (a built-in data set of :mod:`limprob.data`) x chip
``strength`` x chip ``noise`` x ``weight_bits`` (0: continuous) x ``seed`` x
``train_fraction``. A cell builds the chip ``SimulatedChip(strength, seed, noise,
weight_bits)`` with an input per feature and an output per class of its data set, splits the
data with the same seed (so each seed is one replicate: its own chip mismatch *and* its own
train/test split; the spread over seeds covers both), trains with the method and returns a few
scalars:

- ``test_accuracy``: on the chip, for MH's posterior-mean weights W* or backprop's weights
  (on a noisy chip the mean over :data:`NOISY_TEST_QUERIES` queries);
- ``test_accuracy_predictive``: MH's posterior-predictive accuracy (NaN for backprop);
- ``train_accuracy``, ``chip_queries`` (queries made while training), ``wall_seconds``.

``oracle`` is backprop through the simulated chip's own distortion
(:class:`~limprob.inference.backprop.OracleBackprop`): a simulation-only reference, not a
training method, labelled so in the study's ``method`` description and in
:func:`summary_table`. A study with it reports ``fraction_of_oracle``, each cell's test
accuracy over the oracle's on the same chip and split.

Every finished cell is written at once, atomically, as one JSON file in ``OUT.cells/``, named by
its coordinates and a hash of the settings its method depends on. A study run again with the
same output skips the cells found there, so an interrupted study resumes where it stopped, and
changing MH's draws re-runs the MH cells only. A cell is locked while it is computed
(``OUT.cells/.NAME.json.lock``, :func:`limprob.io.exclusive`): a second run of the same study
leaves the cells the first is computing to it, waits for them and takes their results, and
computes a cell itself only if the run that held it died without writing it. :func:`run_study`
then assembles one :class:`xarray.Dataset` with dims :data:`DIMS` (NaN where a cell is absent),
settings and package versions in its attributes, and writes it atomically to NetCDF.

Cells run on Dask distributed: a ``LocalCluster`` of one single-threaded worker process per core
by default, or an existing cluster given by its scheduler address. ``client=None`` with
``workers=0`` runs the cells in this process (for debugging).
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
import time
from contextlib import ExitStack
from dataclasses import asdict, dataclass, replace
from itertools import product
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr

from limprob import validation
from limprob.chip.settings import ChipSettings, build_simulated_chip
from limprob.chip.simulated import SimulatedChip
from limprob.data import DATASETS, load_dataset, split
from limprob.errors import LimprobError
from limprob.inference.backprop import (
    BackpropConfig,
    IdealModelBackprop,
    InTheLoopBackprop,
    NoiseAwareBackprop,
    OracleBackprop,
    train_backprop,
)
from limprob.inference.evaluation import mean_accuracy, point_estimate_weights
from limprob.inference.sampling import package_versions
from limprob.inference.training import (
    EvaluationSettings,
    MCMCSettings,
    TrainConfig,
    train_on_chip,
)
from limprob.io import (
    ENGINE,
    check_output_path,
    exclusive,
    netcdf_attribute,
    save_dataset,
    write_atomically,
)
from limprob.models.defaults import dataset_network
from limprob.snn import Network
from limprob.validation import fraction, seed, strength

if TYPE_CHECKING:
    from dask.distributed import Client, LocalCluster

    from limprob.data import Split

MH_METHODS = {"mh": "prior", "mh_ideal_start": "ideal"}
"""The MH rows and where their chains start (:attr:`TrainConfig.init`): prior draws, or
ideal-model backprop chosen by the chip (:mod:`limprob.inference.starts`)."""
ORACLE = OracleBackprop.name
REFERENCE_LABEL = "simulation-only reference, not a training method"
"""How every output labels the oracle row."""
METHODS = (
    *tuple(MH_METHODS)[:1],
    IdealModelBackprop.name,
    InTheLoopBackprop.name,
    NoiseAwareBackprop.name,
    *tuple(MH_METHODS)[1:],
    ORACLE,
)
DIMS = ("method", "dataset", "strength", "noise", "weight_bits", "seed", "train_fraction")
"""The study's dims, in the order of its arrays."""
VARIABLES = (
    "test_accuracy",
    "test_accuracy_predictive",
    "train_accuracy",
    "chip_queries",
    "wall_seconds",
    "acceptance_rate",
    "ess_bulk_log_likelihood",
    "repeats",
)
"""The scalars of a cell; the study adds ``fraction_of_oracle`` when the grid has the oracle."""
NOISY_TEST_QUERIES = 20
"""Test queries whose accuracies a noisy chip's ``test_accuracy`` averages."""
CONNECT_TIMEOUT = "3s"
"""How long to wait for a ``--scheduler`` address to answer."""


@dataclass(frozen=True)
class StudySettings:
    """Study-level settings: the configuration of each method as a template that every cell
    completes with its own coordinates (chip strength, seed, training fraction).

    ``mh`` is MH's :class:`~limprob.inference.training.TrainConfig` (its network is the one
    every method trains; chains run one after the other inside a cell; the blocked random walk
    by default, with which the studies of ``analyses/`` were run); ``backprop`` is
    :class:`~limprob.inference.backprop.BackpropConfig` for both backprop methods.
    """

    mh: TrainConfig = TrainConfig(
        mcmc=MCMCSettings(draws=2000, tune=3000, chains=2, sampler="blocked"),
        evaluation=EvaluationSettings(predictive_draws=50),
    )
    backprop: BackpropConfig = BackpropConfig()
    repeats: int | str = "auto"
    """MH on the noisy chips of the grid: chip queries per likelihood estimate, or ``auto``
    (:class:`~limprob.inference.training.TrainConfig`); deterministic chips take one."""
    re_estimate_current: bool = False
    """MH on the noisy chips: Monte Carlo within Metropolis (approximate) instead of
    pseudo-marginal MH."""
    dataset_networks: bool = False
    """Give each data set's cells that data set's default hidden size and readout gain
    (:data:`~limprob.models.defaults.DATASET_NETWORKS`, for every method) instead of the
    templates' network and gain."""

    def __post_init__(self) -> None:
        if self.mh.mcmc.cores != 1:
            raise LimprobError(
                "a study cell runs its chains on one core (cores=1); "
                "parallelism comes from the Dask workers"
            )
        if self.repeats != "auto":
            validation.repeats("repeats", self.repeats)

    @property
    def network(self) -> Network:
        """The nominal network of the MH runs (the backprop runs use the same)."""
        return self.mh.network

    def for_dataset(self, dataset: str) -> StudySettings:
        """The settings of ``dataset``'s cells: with its default network and gain when
        :attr:`dataset_networks`, else these. A cell's cache key is that of the settings it
        ran with, so a data set whose default equals the template shares the template's
        cells."""
        if not self.dataset_networks:
            return self
        network = dataset_network(dataset)
        return replace(
            self,
            mh=replace(
                self.mh,
                network=replace(self.mh.network, n_hidden=network["n_hidden"]),
                model=replace(self.mh.model, kappa=network["kappa"]),
            ),
            backprop=replace(self.backprop, kappa=network["kappa"]),
            dataset_networks=False,
        )

    def mh_config(
        self,
        strength: float,
        seed: int,
        train_fraction: float,
        noise: float = 0.0,
        weight_bits: int = 0,
    ) -> TrainConfig:
        """MH's configuration for one cell (``weight_bits`` 0: continuous); on a noisy chip
        with the study's ``repeats`` and ``re_estimate_current``."""
        noisy = noise > 0
        return replace(
            self.mh,
            chip=replace(
                self.mh.chip,
                strength=strength,
                seed=seed,
                noise=noise,
                weight_bits=weight_bits or None,
            ),
            mcmc=replace(
                self.mh.mcmc,
                seed=seed,
                repeats=self.repeats if noisy else 1,
                re_estimate_current=self.re_estimate_current and noisy,
            ),
            evaluation=replace(self.mh.evaluation, train_fraction=train_fraction),
        )

    def backprop_config(self, seed: int) -> BackpropConfig:
        """Backprop's configuration for one cell."""
        return replace(self.backprop, seed=seed)

    def cell_config(self, cell: Cell) -> TrainConfig | BackpropConfig:
        """The configuration ``cell`` trains with: MH's (:meth:`mh_config`, started as its
        method says, :data:`MH_METHODS`) or backprop's (:meth:`backprop_config`), for the
        cell's data set (:meth:`for_dataset`)."""
        settings = self.for_dataset(cell.dataset)
        if cell.method in MH_METHODS:
            config = settings.mh_config(
                cell.strength, cell.seed, cell.train_fraction, cell.noise, cell.weight_bits
            )
            return replace(config, mcmc=replace(config.mcmc, init=MH_METHODS[cell.method]))
        return settings.backprop_config(cell.seed)

    def cell_key(self, cell: Cell) -> dict:
        """What ``cell``'s result depends on, its cache key: the cell, the configuration it
        trains with (:meth:`cell_config`; MH's as its flat fields,
        :meth:`~limprob.inference.training.TrainConfig.flat_fields`, so that the cells cached
        before the configuration was composed of parts keep their key) and the network of
        its chip."""
        config = self.cell_config(cell)
        return {
            "cell": asdict(cell),
            "config": config.flat_fields() if isinstance(config, TrainConfig) else asdict(config),
            "network": asdict(self.for_dataset(cell.dataset).network),
        }

    def _backprop_settings(self) -> dict:
        return {k: v for k, v in asdict(self.backprop).items() if k != "seed"}

    def as_attrs(self) -> dict:
        """The settings as flat attributes: the MH template's trace attributes
        (:meth:`~limprob.inference.training.TrainConfig.attrs`: ``setting_mh_draws``,
        ``setting_mh_network_n_hidden``, ...; the chip, seeds, data fraction and start of each
        cell are the cell's own), the backprop template (``setting_backprop_epochs``),
        ``setting_repeats`` and ``setting_re_estimate_current`` of the noisy chips, and
        ``setting_dataset_networks``, 1 when each data set had its own network and gain, which
        then override the templates' ``network_n_hidden`` and ``kappa``)."""
        return (
            {f"setting_mh_{k}": v for k, v in self.mh.attrs().items()}
            | {
                f"setting_backprop_{k}": netcdf_attribute(v)
                for k, v in self._backprop_settings().items()
            }
            | {
                "setting_repeats": netcdf_attribute(self.repeats),
                "setting_re_estimate_current": int(self.re_estimate_current),
                "setting_dataset_networks": int(self.dataset_networks),
            }
        )


@dataclass(frozen=True)
class Grid:
    """The coordinates of a study; every combination is one cell."""

    methods: tuple[str, ...] = METHODS[:3]
    strengths: tuple[float, ...] = (0.0, 0.5, 1.0, 1.5, 2.0)
    seeds: tuple[int, ...] = (0, 1, 2, 3, 4)
    train_fractions: tuple[float, ...] = (1.0,)
    datasets: tuple[str, ...] = ("wisconsin",)
    noises: tuple[float, ...] = (0.0,)
    weight_bits: tuple[int, ...] = (0,)
    """Weight resolutions in bits; 0 is continuous weights."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "methods", tuple(str(m) for m in self.methods))
        object.__setattr__(self, "datasets", tuple(str(d) for d in self.datasets))
        object.__setattr__(self, "noises", tuple(validation.noise("noise", n) for n in self.noises))
        object.__setattr__(
            self,
            "weight_bits",
            tuple(
                0 if b in (0, None) else validation.weight_bits("weight bits", b)
                for b in self.weight_bits
            ),
        )
        object.__setattr__(
            self, "strengths", tuple(strength("strength", s) for s in self.strengths)
        )
        object.__setattr__(self, "seeds", tuple(seed("seed", s) for s in self.seeds))
        object.__setattr__(
            self,
            "train_fractions",
            tuple(fraction("training fraction", f) for f in self.train_fractions),
        )
        for name in (
            "methods",
            "datasets",
            "strengths",
            "noises",
            "weight_bits",
            "seeds",
            "train_fractions",
        ):
            values = getattr(self, name)
            if not values:
                raise LimprobError(f"a study needs at least one of {name.replace('_', ' ')}")
            if len(set(values)) != len(values):
                raise LimprobError(f"{name.replace('_', ' ')} repeat a value: {list(values)}")
        for name, given, known in (
            ("method", self.methods, METHODS),
            ("dataset", self.datasets, DATASETS),
        ):
            unknown = [value for value in given if value not in known]
            if unknown:
                raise LimprobError(
                    f"unknown {name}(s) {', '.join(unknown)}; choose from {', '.join(known)}"
                )

    def coords(self) -> dict[str, tuple]:
        """The values of each of :data:`DIMS`."""
        return {
            "method": self.methods,
            "dataset": self.datasets,
            "strength": self.strengths,
            "noise": self.noises,
            "weight_bits": self.weight_bits,
            "seed": self.seeds,
            "train_fraction": self.train_fractions,
        }

    def cells(self) -> list[Cell]:
        """Every cell of the grid, the product of :meth:`coords` in the order of :data:`DIMS`."""
        return [Cell(*values) for values in product(*self.coords().values())]


@dataclass(frozen=True, order=True)
class Cell:
    """One training run: a point of the grid, its fields in the order of :data:`DIMS`."""

    method: str
    dataset: str
    strength: float
    noise: float
    weight_bits: int
    seed: int
    train_fraction: float


QUICK_GRID = Grid(methods=METHODS[:4], strengths=(0.0, 2.0), seeds=(0,), train_fractions=(1.0,))
QUICK_SETTINGS = StudySettings(
    mh=replace(
        StudySettings().mh,
        mcmc=replace(StudySettings().mh.mcmc, chains=1),
        evaluation=EvaluationSettings(predictive_draws=20),
    ),
    backprop=BackpropConfig(epochs=60),
)
"""``--quick``: 6 cells, about a minute on 2 cores."""


# --- one cell --------------------------------------------------------------------------------


def run_cell(cell: Cell, settings: StudySettings) -> dict:
    """Train one cell and return its scalars (see the module docstring)."""
    logging.getLogger("pymc").setLevel(logging.WARNING)
    settings = settings.for_dataset(cell.dataset)
    table = load_dataset(cell.dataset)
    data = split(table, seed=cell.seed, train_fraction=cell.train_fraction)
    chip_settings = ChipSettings(cell.strength, cell.seed, cell.noise, cell.weight_bits or None)
    chip = build_simulated_chip(chip_settings, settings.network, table)
    config = settings.cell_config(cell)
    if isinstance(config, TrainConfig):  # cell.method is one of MH_METHODS
        tree = train_on_chip(chip, data, config, progressbar=False)
        attrs = tree.attrs
        weights = point_estimate_weights(
            tree["posterior"].to_dataset(), tree["log_likelihood"].to_dataset(), "mean"
        )
        return {
            "test_accuracy": _test_accuracy(
                chip, weights, data, config.model.kappa, attrs["test_accuracy_posterior_mean"]
            ),
            "test_accuracy_predictive": float(attrs["test_accuracy_predictive"]),
            "train_accuracy": float(attrs["train_accuracy"]),
            "chip_queries": float(
                attrs["training_chip_queries"]
                + attrs.get("start_selection_chip_queries", 0)
                + attrs.get("start_twin_probe_chip_queries", 0)
            ),
            "wall_seconds": float(attrs["wall_seconds"]),
            "acceptance_rate": float(attrs.get("acceptance_rate", math.nan)),
            "ess_bulk_log_likelihood": float(attrs["ess_bulk_log_likelihood"]),
            "repeats": float(np.mean(attrs.get("repeats_per_chain", 1))),
        }
    tree = train_backprop(chip, data, config, cell.method)
    attrs = tree.attrs
    learned = tree.children["weights"].dataset
    weights = (learned["W_in"].values, learned["W_out"].values)
    return {
        "test_accuracy": _test_accuracy(chip, weights, data, config.kappa, attrs["test_accuracy"]),
        "test_accuracy_predictive": math.nan,
        "train_accuracy": float(attrs["train_accuracy"]),
        "chip_queries": float(attrs["training_chip_queries"]),
        "wall_seconds": float(attrs["wall_seconds"]),
        "acceptance_rate": math.nan,
        "ess_bulk_log_likelihood": math.nan,
        "repeats": math.nan,
    }


def _test_accuracy(
    chip: SimulatedChip,
    weights: tuple[np.ndarray, np.ndarray],
    data: Split,
    kappa: float,
    measured: float,
) -> float:
    """``measured`` (one query) on a deterministic chip; on a noisy one the mean over
    :data:`NOISY_TEST_QUERIES` fresh queries."""
    if chip.deterministic:
        return float(measured)
    return mean_accuracy(chip, *weights, data.test, kappa, NOISY_TEST_QUERIES)


# --- the per-cell cache ----------------------------------------------------------------------


def cache_dir(out: str | Path) -> Path:
    """The folder of cached cells beside ``out``: ``OUT.cells``."""
    out = Path(out)
    return out.with_name(out.name + ".cells")


def cell_path(folder: Path, cell: Cell, settings: StudySettings) -> Path:
    """``METHOD_DATASET_s{strength}_n{noise}_b{bits}_seed{seed}_f{fraction}_{hash}.json``; the
    hash covers the cell's key (:meth:`StudySettings.cell_key`)."""
    key = json.dumps(settings.cell_key(cell), sort_keys=True, default=str)
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return folder / (
        f"{cell.method}_{cell.dataset}_s{cell.strength:g}_n{cell.noise:g}"
        f"_b{cell.weight_bits}_seed{cell.seed}_f{cell.train_fraction:g}"
        f"_{digest}.json"
    )


def read_cell(path: Path) -> dict | None:
    """A cached cell's scalars, or None if the file is absent or unreadable."""
    try:
        return _decode(json.loads(path.read_text())["result"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write_cell(path: Path, cell: Cell, settings: StudySettings, result: dict) -> None:
    """Write ``cell``'s ``result`` (scalars; NaN stored as null) with the cell and the settings
    it ran with to ``path`` as JSON, atomically."""
    record = {
        **settings.cell_key(cell),
        "result": {k: (None if math.isnan(v) else v) for k, v in result.items()},
    }
    path.parent.mkdir(exist_ok=True)
    write_atomically(path, lambda name: Path(name).write_text(json.dumps(record, indent=1)))


def _decode(result: dict) -> dict:
    return {k: (math.nan if result.get(k) is None else float(result[k])) for k in VARIABLES}


def pending_cells(grid: Grid, settings: StudySettings, out: str | Path) -> list[Cell]:
    """The cells of ``grid`` not yet in the cache of ``out``."""
    folder = cache_dir(out)
    return [c for c in grid.cells() if read_cell(cell_path(folder, c, settings)) is None]


# --- the study -------------------------------------------------------------------------------


def connect(
    scheduler: str | None = None, workers: int | None = None, *, processes: bool = True
) -> tuple[Client, LocalCluster | None]:
    """A Dask client: on the cluster at ``scheduler``, or on a new LocalCluster of ``workers``
    single-threaded workers (default: one per core). Return ``(client, cluster_or_None)``."""
    from distributed import Client, LocalCluster

    if scheduler is not None:
        try:
            return Client(scheduler, timeout=CONNECT_TIMEOUT), None
        except (OSError, TimeoutError, ValueError) as error:
            raise LimprobError(
                f"no Dask scheduler answers at {scheduler} "
                f"within {CONNECT_TIMEOUT} ({type(error).__name__})"
            ) from None
    workers = (os.cpu_count() or 1) if workers is None else validation.workers("workers", workers)
    cluster = LocalCluster(
        n_workers=workers, threads_per_worker=1, processes=processes, dashboard_address=None
    )
    return Client(cluster), cluster


def run_study(
    grid: Grid,
    settings: StudySettings,
    out: str | Path,
    *,
    scheduler: str | None = None,
    workers: int | None = None,
    client: Client | None = None,
    in_process: bool = False,
    max_cells: int | None = None,
    progressbar: bool = True,
) -> xr.Dataset:
    """Run every cell of ``grid`` not yet cached beside ``out``, then write and return the
    study's Dataset.

    ``client``: a ``distributed.Client`` to use (else one is made with :func:`connect` from
    ``scheduler`` / ``workers`` and closed at the end). ``in_process``: run the cells here,
    one after the other, without Dask. ``max_cells``: stop after computing that many cells (the
    rest stay NaN and run next time). The Dataset's attributes ``cells_computed`` and
    ``cells_cached`` say how many cells this run computed and found in the cache.
    """
    out = check_output_path(out)
    if max_cells is not None and max_cells < 0:
        raise LimprobError(f"max cells must be >= 0, got {max_cells}")
    folder = cache_dir(out)
    for cell in grid.cells():  # every MH cell's configuration is checked before any work
        if cell.method in MH_METHODS:
            settings.for_dataset(cell.dataset).mh_config(
                cell.strength, cell.seed, cell.train_fraction, cell.noise, cell.weight_bits
            )
    todo = pending_cells(grid, settings, out)
    # the slowest cells first, so no worker idles at the end
    todo.sort(key=lambda c: (c.method not in MH_METHODS, -c.train_fraction))
    if max_cells is not None:
        todo = todo[:max_cells]
    started = time.perf_counter()
    computed = 0
    own = bool(todo) and not in_process and client is None
    cluster = None
    if own:  # before any file is made: a scheduler that does not answer leaves nothing
        client, cluster = connect(scheduler, workers)
    try:
        while todo:
            claimed, busy = _claim(todo, settings, folder)
            if claimed:
                _compute(
                    claimed,
                    settings,
                    folder,
                    client=client,
                    in_process=in_process,
                    progressbar=progressbar,
                )
                computed += len(claimed)
            if busy:  # another run is computing these: wait for one, then look again
                with exclusive(cell_path(folder, busy[0], settings), wait=True):
                    pass
            todo = [c for c in busy if read_cell(cell_path(folder, c, settings)) is None]
    finally:
        if own and client is not None:
            client.close()
            if cluster is not None:
                cluster.close()
    study = assemble(grid, settings, out)
    study.attrs.update(
        {
            "cells_computed": computed,
            "cells_cached": int(study.attrs["cells_present"]) - computed,
            "run_wall_seconds": time.perf_counter() - started,
        }
    )
    save_study(study, out)
    return study


def _claim(
    cells: list[Cell], settings: StudySettings, folder: Path
) -> tuple[list[tuple[Cell, ExitStack]], list[Cell]]:
    """Take the lock of every cell no other run holds (:func:`limprob.io.exclusive`), so two
    runs of one study never compute a cell twice. Returns the cells claimed and not yet cached,
    each with the stack that releases its lock, and the cells another run holds."""
    folder.mkdir(exist_ok=True)
    claimed, busy = [], []
    for cell in cells:
        path = cell_path(folder, cell, settings)
        stack = ExitStack()
        try:
            stack.enter_context(exclusive(path))
        except LimprobError:
            busy.append(cell)
            continue
        if read_cell(path) is None:
            claimed.append((cell, stack))
        else:  # another run finished it since we looked
            stack.close()
    return claimed, busy


def _compute(
    claimed: list[tuple[Cell, ExitStack]],
    settings: StudySettings,
    folder: Path,
    *,
    client: Client | None,
    in_process: bool,
    progressbar: bool,
) -> None:
    """Run the ``claimed`` cells, here or on ``client``, write each as it finishes and release
    its lock; every lock is released on the way out, whatever happens."""
    from tqdm.auto import tqdm

    locks = dict(claimed)
    todo = [cell for cell, _ in claimed]
    with (
        ExitStack() as stack,
        tqdm(total=len(todo), desc="study cells", unit="cell", disable=not progressbar) as bar,
    ):
        for lock in locks.values():
            stack.enter_context(lock)

        def finish(cell: Cell, result: Any) -> None:
            write_cell(cell_path(folder, cell, settings), cell, settings, result)
            locks[cell].close()
            bar.update()

        if in_process:
            for cell in todo:
                finish(cell, run_cell(cell, settings))
            return
        from distributed import as_completed

        assert client is not None  # not in process: run_study made or was given a client

        futures = {
            client.submit(
                run_cell,
                cell,
                settings,
                pure=False,
                key=f"cell-{cell_path(folder, cell, settings).stem}",
            ): cell
            for cell in todo
        }
        try:
            for future in as_completed(futures):
                finish(futures[future], future.result())
        finally:
            for future in futures:
                future.cancel()


def assemble(grid: Grid, settings: StudySettings, out: str | Path) -> xr.Dataset:
    """The study's Dataset from the cells cached beside ``out`` (NaN where absent)."""
    folder = cache_dir(out)
    coords = grid.coords()
    shape = tuple(len(values) for values in coords.values())
    values = {name: np.full(shape, np.nan) for name in VARIABLES}
    present = 0
    for cell in grid.cells():
        result = read_cell(cell_path(folder, cell, settings))
        if result is None:
            continue
        present += 1
        index = tuple(coords[dim].index(getattr(cell, dim)) for dim in DIMS)
        for name in VARIABLES:
            values[name][index] = result[name]
    study = xr.Dataset(
        {name: (DIMS, array) for name, array in values.items()},
        coords={dim: list(values) for dim, values in coords.items()},
    )
    descriptions = {
        "test_accuracy": "test accuracy on the chip: W* (posterior mean, best chain) for mh, "
        "the trained weights for backprop",
        "test_accuracy_predictive": "posterior-predictive test accuracy on the chip (mh only)",
        "train_accuracy": "training accuracy on the chip of the same weights",
        "chip_queries": "chip queries made while training (for mh, choosing the chains' "
        "starts included)",
        "wall_seconds": "wall time of the training run",
        "acceptance_rate": "MH acceptance rate after tuning (mh only)",
        "ess_bulk_log_likelihood": "bulk ESS of the summed training log-likelihood (mh only)",
        "repeats": "chip queries per likelihood estimate after tuning, mean over chains (mh only)",
    }
    for name, text in descriptions.items():
        study[name].attrs["description"] = text
    study["wall_seconds"].attrs["units"] = "s"
    study["method"].attrs["description"] = (
        f"training method; {ORACLE}: backprop through the "
        f"simulated chip's own distortion, a "
        f"{REFERENCE_LABEL}"
    )
    if ORACLE in coords["method"]:
        study["fraction_of_oracle"] = study["test_accuracy"] / pick(
            study["test_accuracy"], method=ORACLE
        )
        study["fraction_of_oracle"].attrs["description"] = (
            f"test_accuracy over the oracle's on the same chip and split ({ORACLE}: a "
            f"{REFERENCE_LABEL})"
        )
    study["strength"].attrs["description"] = "chip distortion strength alpha"
    study["seed"].attrs["description"] = "chip seed, also the data-split and training seed"
    study["noise"].attrs["description"] = "chip membrane noise, units of the threshold"
    study["weight_bits"].attrs["description"] = "chip weight resolution in bits (0: continuous)"
    study["dataset"].attrs["description"] = "built-in data set (limprob.data.DATASETS)"
    study.attrs.update(
        {
            "limprob_study": 1,
            **settings.as_attrs(),
            "cells_total": len(grid.cells()),
            "cells_present": present,
            **package_versions(),
        }
    )
    return study


def save_study(study: xr.Dataset, out: str | Path) -> Path:
    """Write ``study`` to ``out`` as NetCDF-4, atomically."""
    return save_dataset(study, out)


def load_study(path: str | Path) -> xr.Dataset:
    """A study written by :func:`save_study`; :class:`LimprobError` if ``path`` is missing or
    holds no limprob study."""
    path = Path(path)
    if not path.is_file():
        raise LimprobError(f"{path}: no such file")
    with xr.open_dataset(path, engine=ENGINE) as study:
        study = study.load()
    if not study.attrs.get("limprob_study"):
        raise LimprobError(f"{path}: not a limprob study")
    return study


def pick(array: xr.DataArray, **coords: Any) -> xr.DataArray:
    """``array.sel(**coords)`` by position: with this xarray and pandas, ``sel`` by a scalar
    string on a string coordinate keeps the dimension instead of dropping it."""
    return array.isel({dim: list(array[dim].values).index(value) for dim, value in coords.items()})


def method_label(method: str) -> str:
    """A method's name as tables print it: the oracle says it is a reference."""
    return f"{method} ({REFERENCE_LABEL})" if method == ORACLE else method


def summary_table(study: xr.Dataset, over: str = "strength") -> str:
    """Markdown: mean +- standard deviation over seeds of the test accuracy, per method and
    ``over`` (every other dim is averaged too, or dropped when it has one value); with the
    oracle in the study, each method's mean fraction of the oracle's accuracy too."""

    def reduce(values: xr.DataArray) -> xr.DataArray:
        for other in {str(dim) for dim in values.dims} - {"method", over, "seed"}:
            values = values.isel({other: 0}) if values.sizes[other] == 1 else (values.mean(other))
        return values

    accuracy = reduce(study["test_accuracy"])
    fraction = (
        reduce(study["fraction_of_oracle"]).mean("seed") if "fraction_of_oracle" in study else None
    )
    mean, spread = accuracy.mean("seed"), accuracy.std("seed")
    count = accuracy.count("seed")
    header = "| method | " + " | ".join(f"{over} {v:g}" for v in study[over].values) + " |"
    rule = "| --- |" + " --- |" * study.sizes[over]
    rows = [header, rule]
    for method in study["method"].values:
        cells = [
            f"{pick(mean, method=method).sel({over: v}).item():.3f} "
            f"± {pick(spread, method=method).sel({over: v}).item():.3f} "
            f"(n={pick(count, method=method).sel({over: v}).item()})"
            + (
                ""
                if fraction is None or method == ORACLE
                else f"; {pick(fraction, method=method).sel({over: v}).item():.3f} of oracle"
            )
            for v in study[over].values
        ]
        rows.append(f"| {method_label(method)} | " + " | ".join(cells) + " |")
    return "\n".join(rows)
