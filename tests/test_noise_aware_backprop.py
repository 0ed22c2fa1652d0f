"""Noise-aware backprop: the software model's converter is the chip's, its gradient is
straight-through, and with no noise and continuous weights it is plain backprop exactly."""

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import xarray as xr

from limprob.chip import SimulatedChip
from limprob.chip.kernels import quantise
from limprob.errors import LimprobError
from limprob.inference.backprop import (
    BackpropConfig,
    converter_delta,
    straight_through_quantise,
    train_backprop,
)
from limprob.snn import Network

QUICK = BackpropConfig(epochs=4, batch_size=64, patience=100)


@pytest.mark.parametrize("bits", [1, 3, 6])
def test_the_straight_through_converter_is_the_chips_forward_and_identity_backward(bits):
    w = pt.dvector("w")
    quantised = straight_through_quantise(w, 2.0, converter_delta(bits, 2.0), 1.0)
    forward = pytensor.function([w], quantised)
    backward = pytensor.function([w], pytensor.grad(quantised.sum(), w))
    values = np.random.default_rng(0).normal(scale=2.0, size=500)
    np.testing.assert_allclose(forward(values), quantise(values, 2.0, bits), atol=1e-12)
    np.testing.assert_array_equal(backward(values), np.ones_like(values))


def test_with_no_noise_and_continuous_weights_it_is_plain_backprop(data):
    chip = SimulatedChip(30, 2, Network(), strength=1.0, seed=0)
    plain = train_backprop(chip, data, QUICK)
    aware = train_backprop(chip, data, QUICK, "noise_aware_backprop")
    xr.testing.assert_identical(plain["weights"].to_dataset(), aware["weights"].to_dataset())
    assert aware.attrs["method"] == "noise_aware_backprop"
    assert aware.attrs["training_chip_queries"] == 0


def test_noise_changes_training_and_costs_no_chip_query(data):
    chip = SimulatedChip(30, 2, Network(), strength=1.0, seed=0, noise=0.2, weight_bits=4)
    plain = train_backprop(chip, data, QUICK)
    aware = train_backprop(chip, data, QUICK, "noise_aware_backprop")
    assert not np.array_equal(plain["weights"]["W_in"].values, aware["weights"]["W_in"].values)
    assert aware.attrs["training_chip_queries"] == 0
    again = train_backprop(chip, data, QUICK, "noise_aware_backprop")
    xr.testing.assert_identical(aware["weights"].to_dataset(), again["weights"].to_dataset())


def test_an_unknown_backprop_method_is_refused(data):
    with pytest.raises(LimprobError, match="unknown backprop method"):
        train_backprop(SimulatedChip(), data, QUICK, "in_the_loop_and_noise_aware")
