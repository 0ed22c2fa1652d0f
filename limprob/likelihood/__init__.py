"""Likelihoods as PyTensor Ops: the stage between the chip and the PyMC models.

    chip_likelihood  the labels' log-likelihood from one chip query (ChipLogLikelihood)
    simulator        the distorted network as an Op, fed by distortion parameters (the twin)
    synthetic        the population twin's synthetic likelihood of probe summaries

Each is a black box with no gradient; each has a numba implementation, so PyMC never falls back
to object mode for a simulated chip.
"""

from limprob.likelihood.chip_likelihood import (
    BlackBoxGradientError,
    ChipLogLikelihood,
    chip_log_likelihood,
    class_probabilities,
)

__all__ = [
    "BlackBoxGradientError",
    "ChipLogLikelihood",
    "chip_log_likelihood",
    "class_probabilities",
]
