"""Model comparison of saved traces: LOO (with Pareto k) and SMC evidence.

:func:`compare_traces` reads limprob traces, checks that they were fitted to the same
observations of the compared variable, and returns ArviZ's ``arviz.compare`` table (PSIS-LOO:
``elpd``, ``p``, ``elpd_diff``, ``weight``, ``se``, ``dse``, ``warning``) of each model's
:func:`~limprob.inference.loo.robust_loo` (which works where a tail of importance ratios is
constant and ``arviz.loo`` raises) extended with its Pareto k diagnostics: ``pareto_k_max``
(over the finite k), ``pareto_k_bad`` (finite k above arviz's threshold), ``n_constant_tail``
and ``n_nan_k`` (observations with no k), ``n_obs``; the table's ``attrs["warnings"]`` says in
words what makes a model's LOO unreliable. For traces sampled by SMC it adds the log marginal
likelihood and the log10 Bayes factor of the best SMC model over each
(``log10_bayes_factor``; absent otherwise).

    limprob compare A.nc B.nc [--names a b] [--var-name y] [--json] [--plot cmp.png]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import cast

import numpy as np
import pandas as pd
import xarray as xr

from limprob.errors import LimprobError
from limprob.inference.loo import max_finite, robust_loo
from limprob.io import load_trace

PARETO_K_BAD = 0.7
"""Pareto k above which PSIS-LOO is unreliable for that observation (Vehtari et al. 2024;
arviz-stats lowers it to 1 - 1 / log10(S) for fewer than 2,155 draws)."""


def read_trace(path: str | Path) -> xr.DataTree:
    """A limprob trace with the groups LOO needs, or :class:`LimprobError`."""
    return load_trace(path, needs={"posterior", "log_likelihood", "observed_data"})


def common_variable(trees: dict[str, xr.DataTree], var_name: str | None) -> str:
    """The observed variable to compare on: ``var_name``, or the one every trace has (``y``
    when several are shared)."""
    shared = set.intersection(*(set(t["log_likelihood"].data_vars) for t in trees.values()))
    if var_name is not None:
        lacking = [n for n, t in trees.items() if var_name not in t["log_likelihood"].data_vars]
        if lacking:
            raise LimprobError(f"{', '.join(lacking)}: no log-likelihood of {var_name!r}")
        return var_name
    if not shared:
        raise LimprobError("the traces share no observed variable to compare on")
    if len(shared) == 1:
        return shared.pop()
    if "y" in shared:
        return "y"
    raise LimprobError(
        f"the traces share several observed variables ({', '.join(sorted(shared))}):"
        " choose one with --var-name"
    )


def check_same_observations(trees: dict[str, xr.DataTree], var_name: str) -> None:
    """Refuse traces fitted to different observations of ``var_name``: LOO of different data
    is not comparable."""
    names = list(trees)
    first = cast(xr.DataArray, trees[names[0]]["observed_data"][var_name])
    for name in names[1:]:
        other = cast(xr.DataArray, trees[name]["observed_data"][var_name])
        same = (
            first.dims == other.dims
            and first.shape == other.shape
            and all(
                np.array_equal(first[d].values, other[d].values)
                for d in first.dims
                if d in first.coords and d in other.coords
            )
            and np.array_equal(first.values, other.values)
        )
        if not same:
            raise LimprobError(
                f"{names[0]} and {name} were fitted to different observations of "
                f"{var_name!r}; LOO and evidence compare models of the same data "
                "only"
            )


def smc_log_marginal_likelihood(tree: xr.DataTree) -> float | None:
    """The mean over chains of an SMC trace's log marginal likelihood (group ``smc``, or
    ``sample_stats`` in traces written before it had a group of its own), else None."""
    group = next((g for g in ("smc", "sample_stats") if g in tree.children), None)
    if tree.attrs.get("method") != "smc" or group is None:
        return None
    stats = tree[group]
    if "log_marginal_likelihood" not in stats.data_vars:
        return None
    return float(np.nanmean(np.asarray(stats["log_marginal_likelihood"].values, dtype=float)))


def compare_traces(
    paths: Sequence[str | Path], names: Sequence[str] | None = None, var_name: str | None = None
) -> pd.DataFrame:
    """The comparison table (one row per model, best first); see the module docstring."""
    import arviz as az

    paths = [str(p) for p in paths]
    if len(paths) < 2:
        raise LimprobError("compare needs at least two traces")
    names = list(names) if names else [Path(p).stem for p in paths]
    if len(names) != len(paths) or len(set(names)) != len(names):
        raise LimprobError("give one distinct name per trace")
    trees = {name: read_trace(path) for name, path in zip(names, paths)}
    var = common_variable(trees, var_name)
    check_same_observations(trees, var)
    loos = {name: robust_loo(tree, var_name=var) for name, tree in trees.items()}
    table = az.compare(loos, round_to="none")
    for name, loo in loos.items():
        table.loc[name, "pareto_k_max"] = max_finite(np.asarray(loo.pareto_k))
        table.loc[name, "pareto_k_bad"] = loo.n_k_bad
        table.loc[name, "n_constant_tail"] = loo.n_constant_tail
        table.loc[name, "n_nan_k"] = loo.n_nan_k
        table.loc[name, "n_obs"] = int(np.asarray(loo.pareto_k).size)
    table.attrs["warnings"] = {
        name: loo.warning_text for name, loo in loos.items() if loo.warning_text
    }
    marginals = {name: smc_log_marginal_likelihood(t) for name, t in trees.items()}
    evidence = {k: v for k, v in marginals.items() if v is not None}
    if evidence:
        best = max(evidence.values())
        for name, value in evidence.items():
            table.loc[name, "log_marginal_likelihood"] = value
            table.loc[name, "log10_bayes_factor"] = (best - value) / np.log(10)
    table.attrs["var_name"] = var
    return table


def table_to_json(table: pd.DataFrame) -> str:
    """The comparison table of :func:`compare_traces` as JSON: its var_name, one record per
    model (non-finite numbers as null) and the LOO warnings."""
    records = {}
    for name, row in table.iterrows():
        records[name] = {
            k: (
                None
                if isinstance(v, float) and not np.isfinite(v)
                else (v.item() if hasattr(v, "item") else v)
            )
            for k, v in row.items()
        }
    return json.dumps(
        {
            "var_name": table.attrs.get("var_name"),
            "models": records,
            "warnings": table.attrs.get("warnings", {}),
        }
    )
