"""Which weight resolution a chip has: the population twin fitted under each candidate
converter (4, 6, 8 bits and continuous weights by default), the fits compared by their
evidence.

The population twin's likelihood is one Gaussian over grouped summaries (a ``pm.Potential``),
with no pointwise terms, so PSIS-LOO does not apply to it. (Scoring each probe apart by its
own two summaries was tried: single probes' summaries are discrete and often all zero across
the simulated chips, their densities spike, and PSIS gave Pareto k up to 13 on the analysis'
chip.) limprob compares the resolutions by the evidence of the synthetic likelihood,

    Z_B = integral of p(s_obs | theta, B) p(theta) dtheta,

estimated by importance sampling in the sampler's unconstrained space ``u`` (logs of the
half-normal globals) from a proposal fitted to the posterior draws: a multivariate Student t
``t(u)`` (4 degrees of freedom, so its covariance is twice the posterior's), mixed with the
prior so that no weight exceeds ten times the likelihood (a defensive mixture, Hesterberg
1995),

    q(u) = 0.9 t(u) + 0.1 p(u),   w_i = p(s_obs | theta(u_i), B) p(u_i) / q(u_i),  u_i ~ q,
    log Z_B ~= log mean_i w_i

(nats; ``p(u)`` includes the Jacobian). Every proposal is one synthetic-likelihood evaluation
with the fit's own common random numbers, so the candidates are scored with the same simulated
chips. The estimate's reliability is the Pareto k of the log weights (arviz-stats' PSIS: below
0.7 the estimate is usable) and its Monte Carlo standard error ``sd(w) / (mean(w) sqrt(N))``
(delta method, nats). The candidate of largest evidence is chosen. It is ``decisive`` when its
Bayes factor over the runner-up exceeds 10 and the log evidences differ by more than twice
their combined standard error.

What the evidence is and is not: it is that of the Gaussian synthetic likelihood of the eight
summaries, not of the probe counts, so a resolution that changes the counts but not their
pooled summaries cannot be told apart, and the Bayes factor inherits the Gaussian
approximation.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from typing import NamedTuple

import numpy as np
import pymc as pm
import xarray as xr
from scipy import stats
from scipy.special import logsumexp

from limprob import validation
from limprob.errors import LimprobError
from limprob.inference.sampling import exact_arithmetic
from limprob.likelihood.synthetic import SUMMARY_FLOOR, SyntheticLogLikelihood, standard_draws
from limprob.models.chip_population import observed_summaries
from limprob.snn import Network
from limprob.twin.population import PopulationConfig, fit_population, population_model

CANDIDATES = (4, 6, 8, None)
"""Weight resolutions compared by default: 4, 6 and 8 bits, and continuous (None)."""
PROPOSALS = 256
"""Importance-sampling proposals (synthetic-likelihood evaluations) per evidence estimate."""
PROPOSAL_DF = 4
"""Degrees of freedom of the Student t proposal."""
DEFENSIVE = 0.1
"""Share of the proposals drawn from the prior (a defensive mixture, Hesterberg 1995)."""
DECISIVE_BAYES_FACTOR = 10.0
"""Bayes factor over the runner-up above which a choice is decisive (Jeffreys' "strong")."""


def label(bits: int | None) -> str:
    """A weight resolution as the command line writes it: ``"6"``, or ``"none"``."""
    return "none" if bits is None else str(bits)


def check_candidates(candidates: Iterable[int | None]) -> tuple[int | None, ...]:
    """At least two distinct resolutions, each None or 1..16 bits; else :class:`LimprobError`."""
    checked = tuple(validation.weight_bits("weight-bits candidate", c) for c in candidates)
    if len(checked) < 2:
        raise LimprobError("choosing weight bits needs at least two candidates")
    if len(set(checked)) < len(checked):
        raise LimprobError(f"weight-bits candidates repeat: {', '.join(map(label, checked))}")
    return checked


class Evidence(NamedTuple):
    """An importance-sampling estimate of a fit's log evidence (nats)."""

    log_evidence: float
    standard_error: float
    pareto_k: float
    importance_ess: float


@exact_arithmetic
def log_evidence(
    tree: xr.DataTree,
    network: Network,
    probes: xr.Dataset,
    config: PopulationConfig,
    n_proposals: int = PROPOSALS,
) -> Evidence:
    """The log evidence of a population-twin fit made with ``config`` on ``probes``, by
    importance sampling from a Student t fitted to its posterior (module docstring); the
    proposals are drawn from ``config.seed``."""
    model = population_model(network, probes, config)
    names = [rv.name for rv in model.free_RVs]
    values = [model.rvs_to_values[rv].name for rv in model.free_RVs]
    logged = [value.endswith("_log__") for value in values]
    posterior = tree["posterior"].to_dataset()
    draws = np.stack(
        [
            np.log(posterior[n].values.ravel()) if log else posterior[n].values.ravel()
            for n, log in zip(names, logged)
        ],
        axis=1,
    )
    t = stats.multivariate_t(
        draws.mean(axis=0), np.cov(draws.T), df=PROPOSAL_DF, allow_singular=True
    )
    rng = np.random.default_rng([config.seed, 23])
    from_prior = rng.uniform(size=n_proposals) < DEFENSIVE
    prior_draws = pm.draw(model.free_RVs, draws=n_proposals, random_seed=rng)
    u = np.where(
        from_prior[:, None],
        np.stack([np.log(d) if log else d for d, log in zip(prior_draws, logged)], axis=1),
        np.atleast_2d(t.rvs(n_proposals, random_state=rng)),
    )
    log_prior = model.compile_logp(vars=model.free_RVs)
    op = SyntheticLogLikelihood(
        network.n_steps,
        network.beta,
        network.theta,
        config.n_groups,
        SUMMARY_FLOOR,
        config.weight_bits or 0,
        config.weight_range,
        config.seed,
        network.reset_zero,
    )
    arrays = [probes[name].values for name in ("W_in", "W_out", "x")]
    z = standard_draws(
        config.n_chips, probes.sizes["input"], network.n_hidden, probes.sizes["output"], config.seed
    ).values()
    observed = observed_summaries(probes, config.n_groups)
    log_w = np.empty(n_proposals)
    for i, point in enumerate(u):
        prior = float(log_prior(dict(zip(values, point))))
        proposal = np.logaddexp(np.log1p(-DEFENSIVE) + t.logpdf(point), np.log(DEFENSIVE) + prior)
        theta = np.where(logged, np.exp(point), point)
        log_w[i] = prior + op.log_likelihood(observed, theta, *arrays, *z) - proposal
    w = np.exp(log_w - log_w.max())
    return Evidence(
        float(logsumexp(log_w) - np.log(len(log_w))),
        float(w.std() / (w.mean() * np.sqrt(len(w)))),
        pareto_k(log_w),
        float(w.sum() ** 2 / (w**2).sum()),
    )


def pareto_k(log_weights: np.ndarray) -> float:
    """The Pareto k of importance weights (arviz-stats' PSIS), over the finite ones; NaN when
    they are too few for a tail (fewer than 25) or their tail is constant."""
    from arviz_stats.base import array_stats

    finite = log_weights[np.isfinite(log_weights)]
    if finite.size < 25:
        return np.nan
    try:  # psislw takes log-likelihoods, whose negatives are the log ratios
        return float(array_stats.psislw(-finite, r_eff=1.0)[1])
    except ValueError:  # "All tail values are the same"
        return np.nan


class WeightBitsChoice(NamedTuple):
    """The chosen resolution (None: continuous), the comparison table (dim ``weight_bits``)
    and each candidate's fit, by label."""

    chosen: int | None
    table: xr.Dataset
    trees: dict[str, xr.DataTree]


def comparison_table(evidence: dict[str, Evidence]) -> xr.Dataset:
    """The candidates' evidence as a Dataset over ``weight_bits`` (labels, best first):
    ``log_evidence`` and its ``log_evidence_se`` (nats), ``pareto_k``, ``importance_ess``,
    ``log10_bayes_factor`` (of the best over each) and ``posterior_probability`` (equal prior
    odds); attributes ``chosen`` and ``decisive`` (module docstring)."""
    order = sorted(evidence, key=lambda n: -evidence[n].log_evidence)
    log_z = np.array([evidence[n].log_evidence for n in order])
    se = np.array([evidence[n].standard_error for n in order])
    table = xr.Dataset(
        {
            "log_evidence": ("weight_bits", log_z),
            "log_evidence_se": ("weight_bits", se),
            "pareto_k": ("weight_bits", [evidence[n].pareto_k for n in order]),
            "importance_ess": ("weight_bits", [evidence[n].importance_ess for n in order]),
            "log10_bayes_factor": ("weight_bits", (log_z[0] - log_z) / np.log(10)),
            "posterior_probability": ("weight_bits", np.exp(log_z - logsumexp(log_z))),
        },
        coords={"weight_bits": order},
    )
    margin = log_z[0] - log_z[1]
    decisive = bool(margin > np.log(DECISIVE_BAYES_FACTOR) and margin > 2 * np.hypot(se[0], se[1]))
    table.attrs = {
        "chosen": order[0],
        "decisive": int(decisive),
        "decisive_bayes_factor": DECISIVE_BAYES_FACTOR,
        "method": "evidence of the synthetic likelihood by importance sampling "
        "(limprob.twin.weight_bits)",
    }
    return table


def choose_weight_bits(
    network: Network,
    probes: xr.Dataset,
    config: PopulationConfig = PopulationConfig(),
    candidates: Iterable[int | None] = CANDIDATES,
    *,
    n_proposals: int = PROPOSALS,
    progressbar: bool = False,
) -> WeightBitsChoice:
    """Fit the population twin (``config``, its ``weight_bits`` replaced) under each candidate
    resolution, estimate each fit's evidence and choose the largest (module docstring)."""
    candidates = check_candidates(candidates)
    validation.positive_integer("importance-sampling proposals", n_proposals)
    trees = {
        label(bits): fit_population(
            network, probes, replace(config, weight_bits=bits), progressbar=progressbar
        )
        for bits in candidates
    }
    return compare_fits(network, probes, config, trees, n_proposals)


def compare_fits(
    network: Network,
    probes: xr.Dataset,
    config: PopulationConfig,
    trees: dict[str, xr.DataTree],
    n_proposals: int = PROPOSALS,
) -> WeightBitsChoice:
    """:func:`choose_weight_bits` for fits already made: ``trees`` by label (``"6"``,
    ``"none"``), each fitted with ``config`` and that resolution."""
    bits = {name: None if name == "none" else int(name) for name in trees}
    check_candidates(bits.values())
    evidence = {
        name: log_evidence(
            tree, network, probes, replace(config, weight_bits=bits[name]), n_proposals
        )
        for name, tree in trees.items()
    }
    table = comparison_table(evidence)
    return WeightBitsChoice(bits[table.attrs["chosen"]], table, trees)
