"""PSIS-LOO that works on every limprob run, including those where ``arviz_stats.loo`` raises.

PSIS-LOO (Vehtari, Gelman and Gabry 2017; Vehtari et al. 2024) estimates, for each
observation :math:`i` and posterior draws :math:`\\theta^{(s)}`, :math:`s = 1..S`,

.. math::

    r_i^{(s)} = \\frac{1}{p(y_i \\mid \\theta^{(s)})}, \\qquad
    w_i^{(s)} = \\frac{\\tilde r_i^{(s)}}{\\sum_t \\tilde r_i^{(t)}}, \\qquad
    \\widehat{\\mathrm{elpd}}_i = \\log \\sum_s w_i^{(s)} p(y_i \\mid \\theta^{(s)}),

where :math:`\\tilde r` are the ratios with their :math:`M` largest values replaced by the
expected order statistics of a generalized Pareto fit (shape :math:`\\hat k_i`), and
:math:`M = 3\\sqrt{S/r_{\\text{eff}}}` if :math:`S\\, r_{\\text{eff}} > 225`, else
:math:`S/5`. Then :math:`\\widehat{\\mathrm{elpd}} = \\sum_i \\widehat{\\mathrm{elpd}}_i`,
:math:`\\mathrm{se} = \\sqrt{n\\, \\mathrm{Var}_i(\\widehat{\\mathrm{elpd}}_i)}` and
:math:`p_{\\text{loo}} = \\sum_i (\\mathrm{lppd}_i - \\widehat{\\mathrm{elpd}}_i)` with
:math:`\\mathrm{lppd}_i = \\log \\frac1S \\sum_s p(y_i\\mid\\theta^{(s)})`.

On limprob traces :math:`\\log p(y_i\\mid\\theta)` takes few distinct values (integer spike
counts, and a Metropolis chain repeats a draw on every rejection), so for some observations
all :math:`M` largest log ratios are equal. No Pareto tail can be fitted to a constant tail
and arviz-stats raises ``ValueError("All tail values are the same")`` for the whole call.
The reference implementations (R ``loo``'s ``do_psis_i``, PSIS.jl) instead leave such an
observation unsmoothed: plain self-normalised importance sampling,
:math:`w_i^{(s)} = r_i^{(s)} / \\sum_t r_i^{(t)}`. :func:`robust_loo` does the same, per
observation, and hands the weights to ``arviz_stats.loo`` for everything else.

Pareto-k bookkeeping, each observation in exactly one class:

* ``n_constant_tail``: constant upper tail; weights unsmoothed; ``pareto_k`` is NaN (R
  ``loo`` reports Inf, the R ``posterior`` package NA). Here the :math:`M` largest weights
  are all equal, so every normalised weight is :math:`\\le 1/M`: the weights are bounded
  and plain importance sampling has finite variance.
* ``n_nan_k``: the tail is not constant but arviz's generalized-Pareto fit returned NaN
  (its first quartile equals its minimum, i.e. ties in the tail); arviz itself then leaves
  the weights unsmoothed and ``pareto_k`` is NaN.
* ``n_k_bad``: finite :math:`\\hat k >` ``good_k`` :math:`= \\min(1 - 1/\\log_{10} S,\\
  0.7)` (arviz's threshold, 0.7 for :math:`S \\ge 2155`; 0.697 for :math:`S = 2000`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import cast

import numpy as np
import xarray as xr
from arviz_stats import ess, loo, loo_pit
from arviz_stats.base import array_stats
from arviz_stats.utils import ELPDDataLOO
from scipy.special import logsumexp

SAMPLE_DIMS = ("chain", "draw")
ESS_MIN = 100
"""Bulk ESS of the summed log-likelihood below which the draws are not treated as a posterior
sample (see limprob.inference.diagnostics)."""
CONSTANT_TAIL_MESSAGE = "All tail values are the same"
"""Message of the ValueError arviz_stats' PSIS raises when the upper tail is constant."""


@dataclass(kw_only=True, repr=False)
class RobustLOO(ELPDDataLOO):
    """``arviz_stats`` PSIS-LOO result (an ``ELPDDataLOO``, so ``arviz_stats.compare`` and
    the arviz-plots functions accept it) with the bookkeeping of :func:`robust_loo`.

    Attributes (besides those of ``ELPDDataLOO``)
    ----------
    r_eff : float
        Relative efficiency used for the tail length (mean ESS of the posterior / S).
    constant_tail : DataArray of bool
        Observations whose upper tail of log importance ratios was constant.
    n_constant_tail, n_nan_k, n_k_bad : int
        Observations with a constant tail, with a NaN k from a non-constant tail, and with
        a finite k > ``good_k`` (disjoint counts).
    ess_log_likelihood : float
        Bulk ESS of the summed log-likelihood :math:`\\sum_i \\log p(y_i\\mid\\theta^{(s)})`;
        PSIS-LOO assumes the draws are from the posterior, which needs this to be large.
    warning_text : str
        Empty if every k is finite and <= ``good_k`` and ``ess_log_likelihood`` >= 100;
        otherwise what is wrong, in words.
    """

    r_eff: float = np.nan
    ess_log_likelihood: float = np.nan
    constant_tail: xr.DataArray | None = None
    n_constant_tail: int = 0
    n_nan_k: int = 0
    n_k_bad: int = 0
    warning_text: str = ""

    def _footer(self) -> str:
        footer = super()._footer()
        return footer + ("\n" + self.warning_text if self.warning_text else "")


def relative_efficiency(tree: xr.DataTree, n_samples: int) -> float:
    """:math:`r_{\\text{eff}}` as ``arviz_stats.loo`` computes it: the mean over all posterior
    variables of the ESS of the mean, divided by :math:`S`; 1 with a single chain."""
    posterior = tree["posterior"].to_dataset()
    if posterior.sizes["chain"] == 1:
        return 1.0
    ess_mean = ess(posterior, method="mean")
    return float(
        np.hstack([ess_mean[v].values.ravel() for v in ess_mean.data_vars]).mean() / n_samples
    )


def psis_log_weights(
    log_lik: xr.DataArray, r_eff: float
) -> tuple[xr.DataArray, xr.DataArray, xr.DataArray]:
    """Normalised PSIS log weights per observation, falling back to plain importance sampling
    where the upper tail is constant.

    For each observation arviz-stats' PSIS is called on its (chain, draw) log-likelihood; if
    it raises because the tail is constant, the log weights are the unsmoothed normalised
    log ratios :math:`\\log w^{(s)} = -\\log p(y_i\\mid\\theta^{(s)}) - \\log\\sum_t
    \\exp(-\\log p(y_i\\mid\\theta^{(t)}))` and :math:`\\hat k` is NaN.

    Returns
    -------
    log_weights (same dims as ``log_lik``), pareto_k (obs dims), constant_tail (obs dims).
    """
    obs_dims = [d for d in log_lik.dims if d not in SAMPLE_DIMS]
    ll = log_lik.transpose(*obs_dims, *SAMPLE_DIMS)
    ll_flat = ll.values.reshape(-1, *ll.shape[len(obs_dims) :])
    log_weights = np.empty_like(ll_flat)
    pareto_k = np.empty(len(ll_flat))
    constant_tail = np.zeros(len(ll_flat), dtype=bool)
    for i, ll_i in enumerate(ll_flat):
        try:
            log_weights[i], pareto_k[i] = array_stats.psislw(ll_i, r_eff=r_eff, axis=(0, 1))
        except ValueError as err:
            if CONSTANT_TAIL_MESSAGE not in str(err):
                raise
            log_weights[i] = -ll_i - logsumexp(-ll_i)
            pareto_k[i] = np.nan
            constant_tail[i] = True
    obs_shape = ll.shape[: len(obs_dims)]
    obs_coords = {name: c for name, c in ll.coords.items() if set(c.dims) <= set(obs_dims)}
    return (
        ll.copy(data=log_weights.reshape(ll.shape)).transpose(*log_lik.dims),
        xr.DataArray(
            pareto_k.reshape(obs_shape), dims=obs_dims, coords=obs_coords, name="pareto_k"
        ),
        xr.DataArray(
            constant_tail.reshape(obs_shape), dims=obs_dims, coords=obs_coords, name="constant_tail"
        ),
    )


def max_finite(values: np.ndarray) -> float:
    """Maximum over the finite entries of ``values``; NaN if there are none."""
    finite = values[np.isfinite(values)]
    return float(finite.max()) if finite.size else np.nan


def _warning_text(
    n_data: int,
    n_constant_tail: int,
    n_nan_k: int,
    n_k_bad: int,
    good_k: float,
    k_max: float,
    ess_log_likelihood: float,
) -> str:
    """The unreliability of a LOO estimate in words ("" if nothing is wrong)."""
    parts = []
    if not ess_log_likelihood >= ESS_MIN:
        parts.append(
            f"LOO is meaningless until the chains converge: the bulk ESS of the summed "
            f"log-likelihood is {ess_log_likelihood:.1f} < {ESS_MIN}, so the draws are not a "
            "posterior sample (see limprob.inference.diagnostics)"
        )
    if n_k_bad:
        parts.append(
            f"LOO is unreliable: {n_k_bad} of {n_data} observations have Pareto k > "
            f"{good_k:.2f} (max {k_max:.2f}), so their importance-sampling estimates have large "
            "or infinite variance; use reloo / K-fold CV for them, or a more robust model"
        )
    if n_constant_tail:
        parts.append(
            f"{n_constant_tail} of {n_data} observations have a constant upper tail of "
            "importance ratios (no Pareto fit possible; plain importance sampling used, "
            "weights bounded)"
        )
    if n_nan_k:
        parts.append(
            f"{n_nan_k} of {n_data} observations have a NaN Pareto k (ties in the tail; arviz "
            "left their weights unsmoothed), so their reliability is not checked"
        )
    return "; ".join(parts) + ("." if parts else "")


def robust_loo(tree: xr.DataTree, var_name: str = "y") -> RobustLOO:
    """PSIS-LOO-CV of ``tree`` that survives constant importance-ratio tails.

    The log weights come from :func:`psis_log_weights` (arviz-stats' PSIS per observation,
    plain importance sampling where the tail is constant) and are passed, with their k, to
    ``arviz_stats.loo(tree, log_weights=..., pareto_k=...)``, which computes
    :math:`\\widehat{\\mathrm{elpd}}_i = \\log\\sum_s w_i^{(s)} p(y_i\\mid\\theta^{(s)})`, elpd,
    se and p_loo exactly as it does for its own weights. Where no tail is constant the result
    equals ``arviz_stats.loo(tree, pointwise=True)``.
    """
    log_lik = cast(xr.DataArray, tree["log_likelihood"][var_name])
    n_samples = log_lik.sizes["chain"] * log_lik.sizes["draw"]
    r_eff = relative_efficiency(tree, n_samples)
    obs_dims = [d for d in log_lik.dims if d not in SAMPLE_DIMS]
    ess_log_likelihood = float(ess(log_lik.sum(obs_dims), method="bulk"))
    log_weights, pareto_k, constant_tail = psis_log_weights(log_lik, r_eff)
    result = loo(
        tree,
        pointwise=True,
        var_name=var_name,
        reff=r_eff,
        log_weights=log_weights,
        pareto_k=pareto_k,
    )

    k = pareto_k.values
    n_constant_tail = int(constant_tail.sum())
    n_nan_k = int(np.isnan(k).sum()) - n_constant_tail
    n_k_bad = int((k > result.good_k).sum())
    return RobustLOO(
        **{f.name: getattr(result, f.name) for f in fields(result)},
        r_eff=r_eff,
        constant_tail=constant_tail,
        n_constant_tail=n_constant_tail,
        n_nan_k=n_nan_k,
        n_k_bad=n_k_bad,
        ess_log_likelihood=ess_log_likelihood,
        warning_text=_warning_text(
            k.size,
            n_constant_tail,
            n_nan_k,
            n_k_bad,
            result.good_k,
            max_finite(k),
            ess_log_likelihood,
        ),
    )


def robust_loo_pit(
    tree: xr.DataTree, var_name: str = "y", random_state: int | np.random.Generator | None = None
) -> xr.Dataset:
    """LOO-PIT values :math:`p(\\tilde y_i \\le y_i \\mid y_{-i})` of ``var_name`` (dim
    obs), as ``arviz_stats.loo_pit`` computes them from ``posterior_predictive`` and
    ``log_likelihood`` (on the same draws, as every limprob training trace has them), but
    with the log weights of :func:`psis_log_weights`: the same values where no observation
    has a constant tail of importance ratios, and unsmoothed weights for those that do, where
    ``arviz_stats.loo_pit`` raises. For integer labels the PIT is randomised between the
    CDF's two sides (``random_state``, arviz's default seed if None)."""
    log_lik = cast(xr.DataArray, tree["log_likelihood"][var_name])
    r_eff = relative_efficiency(tree, log_lik.sizes["chain"] * log_lik.sizes["draw"])
    log_weights, pareto_k, _ = psis_log_weights(log_lik, r_eff)
    return loo_pit(
        tree,
        var_names=var_name,
        log_weights=xr.Dataset({var_name: log_weights}),
        pareto_k=xr.Dataset({var_name: pareto_k}),
        random_state=random_state,
    )
