"""The digital twin: what a chip's distortion is, learnt from its probes.

    fit         the per-chip twin (distortion parameters and weights) by blocked MH or SMC,
                and the deployment of its weights to the chip
    population  the chip population twin: a chip family's six global parameters, each chip's
                own mismatch integrated out by a synthetic likelihood

One fitted distortion (every synapse's gain and every neuron's threshold, by surrogate-gradient
descent on the probe counts; a start's twin) is :mod:`limprob.inference.surrogate_twin`.

The models are :mod:`limprob.models.chip_twin` and :mod:`limprob.models.chip_population`; their
likelihood Ops are in :mod:`limprob.likelihood`; probes are recorded by
:mod:`limprob.chip.probes`.
"""

from limprob.twin.fit import TwinConfig, deploy, fit_twin, fit_twin_smc, twin_weights
from limprob.twin.population import PopulationConfig, fit_population

__all__ = [
    "PopulationConfig",
    "TwinConfig",
    "deploy",
    "fit_population",
    "fit_twin",
    "fit_twin_smc",
    "twin_weights",
]
