"""The constants the chip-in-the-loop models share (limprob's choices), in one place.

    W ~ Normal(0, DEFAULT_SIGMA_W)                       every weight, dimensionless
    p(y_i | W) = softmax(DEFAULT_KAPPA c_i / T)[y_i]     c_i spike counts over T steps
"""

DEFAULT_SIGMA_W = 1.0
"""Prior standard deviation of every weight."""
DEFAULT_KAPPA = 8.0
"""Readout gain: a class whose neuron fires on every step leads the other by e^8 in odds."""
