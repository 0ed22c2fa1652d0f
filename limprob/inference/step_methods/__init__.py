"""Step methods that respect the cost of a chip query, each a PyMC step method
(``pm.sample(step=...)``) that spends one chip query per evaluation it reports.

    cached_evaluation CachedEvaluationStep, the base of every step: one compiled evaluation
                      cached at the current point, an evaluation cache shared by blocks, and
                      the constructor every step method shares
    compiled          the compiled function of the raveled sampled variables
    likelihood_estimator  repeats per estimate on a noisy chip (pseudo-marginal MH)
    acceptance        the Metropolis-Hastings rule and delayed acceptance's first stage
    adaptation        tuning: the step size (Robbins-Monro) and the running covariance (Welford)
    gaussian_prior    the Gaussian prior read from the model (pCN, elliptical slice)
    progress          progress-bar columns
    random_walk       BlockedMetropolis: blocked random-walk MH (optionally delayed acceptance)
    adaptive_metropolis  AdaptiveMetropolis: Haario's adaptive covariance from a given start,
                      frozen after tuning (the subspace phase of a two-phase run)
    pcn               PreconditionedCrankNicolson: prior-reversible proposals for Gaussian
                      priors (optionally delayed acceptance)
    elliptical_slice  EllipticalSlice: elliptical slice sampling for Gaussian priors
    demcz             DEMetropolisZCached: differential evolution from the chain's past
    blocks            layer_blocks: one step per block of variables, each with its own scale
    counting          ChipQueryCounter and CountedStep: cumulative chip queries in sample_stats

None of them knows what a chip is made of: they see only a model's log-density (and, for
delayed acceptance, a cheap approximation of it), the counters only an object with a
``queries`` count.
"""

from limprob.inference.step_methods.adaptation import TARGET_ACCEPT, robbins_monro_log_scale
from limprob.inference.step_methods.adaptive_metropolis import AdaptiveMetropolis
from limprob.inference.step_methods.blocks import layer_blocks
from limprob.inference.step_methods.cached_evaluation import (
    log_likelihood_stat,
    take_recorded_stats,
)
from limprob.inference.step_methods.counting import ChipQueryCounter, CountedStep
from limprob.inference.step_methods.demcz import DEMetropolisZCached
from limprob.inference.step_methods.elliptical_slice import EllipticalSlice
from limprob.inference.step_methods.pcn import PreconditionedCrankNicolson
from limprob.inference.step_methods.random_walk import BlockedMetropolis

__all__ = [
    "TARGET_ACCEPT",
    "AdaptiveMetropolis",
    "BlockedMetropolis",
    "ChipQueryCounter",
    "CountedStep",
    "DEMetropolisZCached",
    "EllipticalSlice",
    "PreconditionedCrankNicolson",
    "layer_blocks",
    "log_likelihood_stat",
    "robbins_monro_log_scale",
    "take_recorded_stats",
]
