"""The one sampling call: settings every sampler run shares, and ``pm.sample`` with them.

Training on a chip and both digital twins sample through :func:`sample`, with the settings
of a :class:`SamplerSettings` (which their configuration classes extend), start values from
:func:`prior_draws` where the all-zero point would leave the network silent, and record
:func:`package_versions` in their traces.
"""

from __future__ import annotations

import functools
import time
import warnings
from dataclasses import dataclass

import numpy as np
import pymc as pm
import pytensor
import xarray as xr

from limprob.validation import non_negative_integer, positive_integer, seed


@dataclass(frozen=True, kw_only=True)
class SamplerSettings:
    """Draws and tuning steps per chain, chains, chains run in parallel (cores) and the seed;
    checked on construction. Configuration classes inherit these fields (keyword-only)."""

    draws: int = 1000
    tune: int = 1000
    chains: int = 2
    cores: int = 1
    seed: int = 0

    def __post_init__(self):
        for name in ("draws", "chains", "cores"):
            positive_integer(name, getattr(self, name))
        non_negative_integer("tune", self.tune)
        seed("seed", self.seed)


def exact_arithmetic(fit):
    """Run ``fit`` (a function that compiles and samples a model) with PyTensor's numba
    backend compiling without fast-math.

    Fast-math lets LLVM reorder floating-point sums, and numba kernels called from a fast-math
    function inherit it unless they say otherwise (limprob's kernels all say
    ``fastmath=False``), so a fit compiled with it can differ in the last bits from one
    compiled without, depending on what numba has cached. Without it, the same seeds give the
    same trace, bit for bit, in every process.
    """

    @functools.wraps(fit)
    def exactly(*args, **kwargs):
        with pytensor.config.change_flags(numba__fastmath=False):
            return fit(*args, **kwargs)

    return exactly


def sample(model: pm.Model, step, settings: SamplerSettings, initvals=None, *,
           progressbar: bool = True) -> tuple[xr.DataTree, float]:
    """``pm.sample`` of ``model`` with ``step`` and ``settings``; returns the DataTree and the
    wall time of sampling (s). Convergence checks are left to the caller, which knows which
    quantities they mean something for."""
    started = time.perf_counter()
    with model, warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*CompoundStep.*")
        tree = pm.sample(draws=settings.draws, tune=settings.tune, chains=settings.chains,
                         cores=settings.cores, step=step, initvals=initvals,
                         random_seed=settings.seed, progressbar=progressbar,
                         compute_convergence_checks=False)
    return tree, time.perf_counter() - started


def block_names(step, model: pm.Model) -> list[tuple[str, list[dict]]]:
    """Each sampling method of ``step`` (one, or those of a compound step) as ``(name,
    stats_dtypes)``; the name joins its variables' names with ``+`` (``W_in``, ``W_out`` for
    per-layer blocks)."""
    methods = getattr(step, "methods", [step])
    names = []
    for method in methods:
        variables = [model.values_to_rvs.get(v, v).name for v in (method.vars or [])]
        names.append(("+".join(variables), method.stats_dtypes))
    return names


PYMC_STAT_NAMES = {"lp": "model_logp", "acceptance_rate": "mean_tree_accept",
                   "tree_depth": "depth", "n_steps": "tree_size"}
"""A step method's name of each stat PyMC renames in ``sample_stats``
(``pymc.backends.arviz``)."""


def name_block_dims(stats: xr.Dataset, step, model: pm.Model) -> xr.Dataset:
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
        stat = PYMC_STAT_NAMES.get(name, name)
        holders = [n for n, dtypes in methods if any(stat in d for d in dtypes)]
        if len(holders) != variable.sizes[dim]:
            holders = [str(i) for i in range(variable.sizes[dim])]
        block = holders if block is None else block
        target = "block" if holders == block else f"{name}_block"
        renamed[name] = variable.rename({dim: target}).assign_coords({target: holders})
    return stats.drop_vars(list(renamed)).drop_dims(
        [f"{n}_dim_0" for n in renamed if f"{n}_dim_0" in stats.dims]).assign(renamed)


def prior_draws(model: pm.Model, chains: int, seed: int) -> list[dict]:
    """One prior draw of the free variables per chain: random weights make the neurons fire,
    where the all-zero initial point would not."""
    rngs = np.random.default_rng([seed, 1]).spawn(chains)
    return [
        {rv.name: pm.draw(rv, random_seed=rng) for rv in model.free_RVs} for rng in rngs
    ]


def package_versions() -> dict[str, str]:
    """The versions of limprob and the libraries a trace depends on, as trace attributes."""
    import arviz
    import numba
    import pytensor

    import limprob

    modules = {"limprob": limprob, "pymc": pm, "pytensor": pytensor, "arviz": arviz,
               "numpy": np, "xarray": xr, "numba": numba}
    return {f"version_{name}": module.__version__ for name, module in modules.items()}
