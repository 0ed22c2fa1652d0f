"""A noisy, quantised simulated chip: today's chip when both are off, a reproducible noise
stream of the stated size, and a converter with at most 2^B levels."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from limprob.chip import SimulatedChip
from limprob.chip.distortion import hidden_distortion
from limprob.chip.kernels import quantise
from limprob.errors import LimprobError
from limprob.snn import Network, lif_counts_numpy
from limprob.streams import normal, stream_key

RNG = np.random.default_rng(5)
X = RNG.normal(size=(60, 30))
W_IN, W_OUT = RNG.normal(size=(30, 16)), RNG.normal(size=(16, 2))


def reference_counts(chip, w_in, w_out, x):
    """The deterministic, continuous chip by the numpy reference network."""
    a = hidden_distortion(chip).arrays(chip.network, chip.n_inputs, chip.n_outputs)
    w_sat = 1 / a.inverse_w_sat if a.inverse_w_sat > 0 else None

    def effective(w, gain):
        w = w * gain
        return w if w_sat is None else w_sat * np.tanh(w / w_sat)

    return lif_counts_numpy(
        x,
        effective(w_in, a.gain_in),
        effective(w_out, a.gain_out),
        a.beta_hidden,
        a.theta_hidden,
        a.beta_output,
        a.theta_output,
        chip.network.n_steps,
    )


@pytest.mark.parametrize("strength", [0.0, 1.0])
def test_no_noise_and_continuous_weights_are_todays_chip(strength):
    chip = SimulatedChip(strength=strength, seed=4, noise=0.0, weight_bits=None)
    np.testing.assert_array_equal(chip.run(W_IN, W_OUT, X), reference_counts(chip, W_IN, W_OUT, X))
    assert chip.deterministic


def test_the_noise_stream_is_reproducible_and_fresh_on_every_query():
    first, second = (SimulatedChip(strength=1.0, seed=2, noise=0.3) for _ in range(2))
    a = [first.run(W_IN, W_OUT, X) for _ in range(3)]
    b = [second.run(W_IN, W_OUT, X) for _ in range(3)]
    for one, other in zip(a, b):
        np.testing.assert_array_equal(one, other)
    assert not np.array_equal(a[0], a[1]) and not np.array_equal(a[1], a[2])
    other_seed = SimulatedChip(strength=1.0, seed=3, noise=0.3)
    assert not np.array_equal(
        other_seed.run(W_IN, W_OUT, X), SimulatedChip(strength=1.0, seed=3).run(W_IN, W_OUT, X)
    )


@pytest.mark.parametrize("noise", [0.05, 0.2])
def test_the_injected_noise_has_the_stated_standard_deviation(noise):
    """One hidden neuron, one step, no leak memory: it spikes iff ``x + noise theta z > theta``,
    so the spiking fraction at input ``theta + d`` is ``Phi(d / (noise theta))``. A strong
    output weight copies the hidden spike to the count."""
    theta = 1.5
    network = Network(n_hidden=1, n_steps=1, beta=0.0, theta=theta)
    chip = SimulatedChip(1, 1, network, strength=0.0, seed=0, noise=noise)
    offsets = np.array([-1.0, -0.5, 0.0, 0.5, 1.0]) * noise * theta
    n = 20000
    x = np.repeat(theta + offsets, n)[:, None]
    counts = chip.run(np.ones((1, 1)), np.full((1, 1), 50.0), x)[:, 0].reshape(5, n)
    observed = counts.mean(axis=1)
    expected = stats.norm.cdf(offsets / (noise * theta))
    assert np.all(np.abs(observed - expected) < 4 * np.sqrt(expected * (1 - expected) / n) + 1e-3)
    # the probit of the fractions recovers the standard deviation
    slope = np.polyfit(offsets[1:-1], stats.norm.ppf(observed[1:-1]), 1)[0]
    assert abs(1 / slope - noise * theta) < 0.05 * noise * theta


def test_the_counter_based_normals_are_standard_normal():
    key = np.uint64(stream_key(7, 11))  # a uint64: numba returns it as a Python int
    z = np.array([normal(key, j) for j in range(20000)])
    assert stats.kstest(z, "norm").pvalue > 1e-3
    assert abs(z.std() - 1) < 0.03
    assert normal(key, 5) == normal(np.uint64(stream_key(7, 11)), 5)
    assert normal(key, 5) != normal(np.uint64(stream_key(7, 12)), 5)


@pytest.mark.parametrize("bits", [1, 2, 4, 6, 8])
def test_a_b_bit_converter_has_at_most_2_to_the_b_levels_in_range(bits):
    w = RNG.normal(scale=3.0, size=(200, 50))
    q = quantise(w, 2.0, bits)
    levels = np.unique(q)
    assert len(levels) <= 2**bits
    assert levels.min() >= -2.0 and levels.max() <= 2.0
    if bits >= 2:
        delta = 2.0 / (2 ** (bits - 1) - 1)
        assert np.all(np.abs(q - np.clip(w, -2, 2)) <= delta / 2 + 1e-12)
        assert len(levels) == 2**bits - 1  # wide inputs reach every level


def test_the_converter_acts_on_the_distorted_weights():
    """On the ideal chip (unit gains, no saturation) a B-bit chip is the continuous chip given
    the quantised weights."""
    quantised = SimulatedChip(strength=0.0, weight_bits=4)
    continuous = SimulatedChip(strength=0.0)
    np.testing.assert_array_equal(
        quantised.run(W_IN, W_OUT, X),
        continuous.run(quantise(W_IN, 2.0, 4), quantise(W_OUT, 2.0, 4), X),
    )
    assert not np.array_equal(quantised.run(W_IN, W_OUT, X), continuous.run(W_IN, W_OUT, X))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"noise": -0.1}, "noise must be"),
        ({"noise": float("nan")}, "noise must be"),
        ({"noise": float("inf")}, "noise must be"),
        ({"weight_bits": 0}, "weight bits must be"),
        ({"weight_bits": 17}, "weight bits must be in 1..16"),
        ({"weight_bits": 2.5}, "weight bits must be"),
        ({"weight_range": 0}, "weight range"),
    ],
)
def test_bad_noise_and_resolution_are_refused(kwargs, message):
    with pytest.raises(LimprobError, match=message):
        SimulatedChip(**kwargs)


def test_the_chip_describes_its_noise_and_resolution():
    attrs = SimulatedChip(noise=0.1, weight_bits=6).describe()
    assert (attrs["chip_noise"], attrs["chip_weight_bits"], attrs["chip_weight_range"]) == (
        0.1,
        6,
        2.0,
    )
