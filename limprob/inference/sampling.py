"""The one sampling call: settings every sampler run shares, and ``pm.sample`` with them.

Training on a chip and both digital twins sample through :func:`sample`, with the settings
of a :class:`SamplerSettings` (which their configuration classes extend), start values from
:func:`prior_draws` where the all-zero point would leave the network silent, and record
:func:`package_versions` in their traces.
"""

from __future__ import annotations

import functools
import signal
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import pytensor
import xarray as xr

from limprob import interruption
from limprob.validation import non_negative_integer, positive_integer, seed

type Step = Any
"""A PyMC step method: one (``BlockedStep``) or several (``CompoundStep``); PyMC is untyped."""


@dataclass(frozen=True, kw_only=True)
class SamplerSettings:
    """Draws and tuning steps per chain, chains, chains run in parallel (cores) and the seed;
    checked on construction. Configuration classes inherit these fields (keyword-only)."""

    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    cores: int = 1
    seed: int = 0

    def __post_init__(self) -> None:
        for name in ("draws", "chains", "cores"):
            positive_integer(name, getattr(self, name))
        non_negative_integer("tune", self.tune)
        seed("seed", self.seed)


def exact_arithmetic[**P, R](fit: Callable[P, R]) -> Callable[P, R]:
    """Run ``fit`` (a function that compiles and samples a model) with PyTensor's numba
    backend compiling without fast-math.

    Fast-math lets LLVM reorder floating-point sums, and numba kernels called from a fast-math
    function inherit it unless they say otherwise (limprob's kernels all say
    ``fastmath=False``), so a fit compiled with it can differ in the last bits from one
    compiled without, depending on what numba has cached. Without it, the same seeds give the
    same trace, bit for bit, in every process.
    """

    @functools.wraps(fit)
    def exactly(*args: P.args, **kwargs: P.kwargs) -> R:
        with pytensor.config.change_flags(numba__fastmath=False):
            return fit(*args, **kwargs)

    return exactly


def sample(
    model: pm.Model,
    step: Step,
    settings: SamplerSettings,
    initvals: dict | list[dict] | None = None,
    *,
    progressbar: bool = True,
) -> tuple[xr.DataTree, float]:
    """``pm.sample`` of ``model`` with ``step`` and ``settings``; returns the DataTree and the
    wall time of sampling (s). Convergence checks are left to the caller, which knows which
    quantities they mean something for.

    SIGINT and SIGTERM stop sampling at the end of the current draw
    (:mod:`limprob.interruption`; a second signal stops it at once): PyMC keeps the chains and
    the common length that maximise the draws kept, and the tree's attributes say what it holds
    (:func:`completion_attrs`). A signal before the first draw after tuning raises
    :class:`~limprob.interruption.Interrupted`.
    """
    started = time.perf_counter()
    # a first signal is recorded and the callback stops the chain at the end of its draw, so
    # it never lands inside compiled code (numba's ctypes callbacks cannot raise)
    with model, warnings.catch_warnings(), interruption.handled(), interruption.deferred():
        warnings.filterwarnings("ignore", message=".*CompoundStep.*")
        try:
            tree = pm.sample(
                draws=settings.draws,
                tune=settings.tune,
                chains=settings.chains,
                cores=settings.cores,
                step=step,
                initvals=initvals,
                random_seed=settings.seed,
                progressbar=progressbar,
                compute_convergence_checks=False,
                callback=_stop_if_received,
            )
        except ValueError as error:  # PyMC's "Not enough samples to build a trace."
            received = interruption.received()
            if received is None or "enough samples" not in str(error):
                raise
            raise interruption.Interrupted(
                received, "nothing written: no draw after tuning was completed"
            ) from None
        signum = interruption.received()
    tree.attrs.update(completion_attrs(tree, settings, signum))
    return tree, time.perf_counter() - started


def _stop_if_received(trace: Any, draw: Any) -> None:
    """Stop the chain after a draw once a signal came (also the chains PyMC starts after an
    interrupted one, at their first draw)."""
    interruption.stop_if_received()


def completion_attrs(tree: xr.DataTree, settings: SamplerSettings, signum: int | None) -> dict:
    """What a sampled tree holds: ``chains_completed`` chains of ``draws_completed`` draws
    each (PyMC cuts an interrupted run's chains to a common length), and ``interrupted``
    (1 if that is less than the ``settings`` asked for or a signal stopped sampling) with the
    ``signal`` when there was one (a plain ``KeyboardInterrupt`` counts as SIGINT)."""
    sizes = tree["posterior"].sizes
    draws, chains = int(sizes["draw"]), int(sizes["chain"])
    interrupted = signum is not None or draws < settings.draws or chains < settings.chains
    attrs: dict[str, int | str] = {
        "interrupted": int(interrupted),
        "draws_completed": draws,
        "chains_completed": chains,
    }
    if interrupted:
        attrs["signal"] = interruption.signal_name(signum or signal.SIGINT)
    return attrs


def block_names(step: Step, model: pm.Model) -> list[tuple[str, list[dict]]]:
    """Each sampling method of ``step`` (one, or those of a compound step) as ``(name,
    stats_dtypes)``; the name joins its variables' names with ``+`` (``W_in``, ``W_out`` for
    per-layer blocks)."""
    methods = getattr(step, "methods", [step])
    names = []
    for method in methods:
        variables = [model.values_to_rvs.get(v, v).name for v in (method.vars or [])]
        names.append(("+".join(variables), method.stats_dtypes))
    return names


PYMC_STAT_NAMES = {
    "lp": "model_logp",
    "acceptance_rate": "mean_tree_accept",
    "tree_depth": "depth",
    "n_steps": "tree_size",
}
"""A step method's name of each stat PyMC renames in ``sample_stats``
(``pymc.backends.arviz``)."""


def name_block_dims(stats: xr.Dataset, step: Step, model: pm.Model) -> xr.Dataset:
    """Name the dim PyMC gives a stat that several methods of a compound step record.

    PyMC stacks such a stat over the methods that record it, on an unnamed last dim
    ``<stat>_dim_0``; here that dim is ``block``, with the blocks' names as coords (the
    methods' variables, :func:`block_names`). A stat recorded by another set of blocks than
    the first one's gets the dim ``<stat>_block`` instead, so no two stats share a dim of
    different labels.
    """
    methods = block_names(step, model)
    renamed, block = {}, None
    for name, variable in stats.data_vars.items():
        dim = f"{name}_dim_0"
        if dim not in variable.dims:
            continue
        stat = PYMC_STAT_NAMES.get(str(name), str(name))
        holders = [n for n, dtypes in methods if any(stat in d for d in dtypes)]
        if len(holders) != variable.sizes[dim]:
            holders = [str(i) for i in range(variable.sizes[dim])]
        block = holders if block is None else block
        target = "block" if holders == block else f"{name}_block"
        renamed[name] = variable.rename({dim: target}).assign_coords({target: holders})
    return (
        stats.drop_vars(list(renamed))
        .drop_dims([f"{n}_dim_0" for n in renamed if f"{n}_dim_0" in stats.dims])
        .assign(renamed)
    )


def prior_draws(model: pm.Model, chains: int, seed: int) -> list[dict]:
    """One prior draw of the free variables per chain: random weights make the neurons fire,
    where the all-zero initial point would not."""
    rngs = np.random.default_rng([seed, 1]).spawn(chains)
    return [{rv.name: pm.draw(rv, random_seed=rng) for rv in model.free_RVs} for rng in rngs]


def package_versions() -> dict[str, str]:
    """The versions of limprob and the libraries a trace depends on, as trace attributes."""
    import arviz
    import numba
    import pytensor

    import limprob

    modules = {
        "limprob": limprob,
        "pymc": pm,
        "pytensor": pytensor,
        "arviz": arviz,
        "numpy": np,
        "xarray": xr,
        "numba": numba,
    }
    return {f"version_{name}": module.__version__ for name, module in modules.items()}
