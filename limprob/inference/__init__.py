"""Inference on a chip: step methods, the one sampling call, training, evaluation, baselines.

    step_methods  PyMC step methods that respect the cost of a chip query
    sampling      SamplerSettings, the one pm.sample call, start values, package versions
    training      TrainConfig (network, chip, MCMCSettings, model, EvaluationSettings) and
                  train_on_chip: a chip and a data split -> a limprob trace
    evaluation    accuracy, the point estimate W*, test-set predictions measured on a chip,
                  the evaluate report of a trace
    export        a training trace's point estimate as a NIR graph
    backprop      surrogate-gradient backprop, one object per method (ideal model, in the
                  loop, noise-aware, a distortion model, the simulation-only oracle)
    starts        where MH's chains start: candidates from a software model, chosen by the chip
    surrogate_twin  one fitted distortion of a chip (every synapse's gain, every neuron's
                  threshold) by surrogate-gradient descent on its probes: a start's twin
    compare       LOO and SMC-evidence comparison of saved traces
    plots         the picture of a training trace: progress per chip query, rank plot

The likelihood itself (the PyTensor Op that queries a chip) is in :mod:`limprob.likelihood`,
the models in :mod:`limprob.models`.
"""

from limprob.inference.evaluation import accuracy, evaluate_weights, posterior_mean_weights
from limprob.inference.sampling import SamplerSettings
from limprob.inference.step_methods import BlockedMetropolis, CountedStep
from limprob.inference.training import (
    SAMPLERS,
    EvaluationSettings,
    MCMCSettings,
    TrainConfig,
    train,
    train_on_chip,
)

__all__ = [
    "SAMPLERS",
    "BlockedMetropolis",
    "CountedStep",
    "EvaluationSettings",
    "MCMCSettings",
    "SamplerSettings",
    "TrainConfig",
    "accuracy",
    "evaluate_weights",
    "posterior_mean_weights",
    "train",
    "train_on_chip",
]
