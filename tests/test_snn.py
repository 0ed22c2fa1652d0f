"""The LIF equations on cases small enough to compute by hand."""

import numpy as np
import pytest

from limprob.errors import LimprobError
from limprob.snn import Network, lif_counts, lif_counts_numpy

KERNELS = [lif_counts, lif_counts_numpy]


def one_neuron(current, beta, theta, n_steps):
    """A 1-1-1 network whose hidden neuron gets ``current`` and whose output neuron spikes on
    exactly the steps the hidden neuron does (weight 3, no leak, threshold 1:
    v2[t] = 3 s1[t] - s2[t-1] > 1 iff s1[t] = 1)."""
    return dict(
        x=np.array([[1.0]]),
        w_in=np.array([[current]]),
        w_out=np.array([[3.0]]),
        beta_hidden=np.array([beta]),
        theta_hidden=np.array([theta]),
        beta_output=np.array([0.0]),
        theta_output=np.array([1.0]),
        n_steps=n_steps,
    )


@pytest.mark.parametrize("kernel", KERNELS)
def test_reset_by_subtraction_spike_timing(kernel):
    # No leak, I = 0.7, theta = 1, v[t] = v[t-1] + 0.7 - s[t-1]:
    # t: 1    2      3      4    5      6      7    8
    # v: 0.7  1.4 s  1.1 s  0.8  1.5 s  1.2 s  0.9  1.6 s   -> 5 spikes
    # (reset to zero would give 0.7, 1.4 s, 0.7, 1.4 s, ... -> 4 spikes)
    args = one_neuron(0.7, 1.0 - 1e-12, 1.0, 8)
    assert kernel(**args)[0, 0] == 5
    for n_steps, expected in [(1, 0), (2, 1), (3, 2), (4, 2), (5, 3)]:
        assert kernel(**{**args, "n_steps": n_steps})[0, 0] == expected


@pytest.mark.parametrize("kernel", KERNELS)
def test_leak_keeps_a_weak_current_below_threshold(kernel):
    # With beta = 0.5 and I = 0.4 the potential tends to I / (1 - beta) = 0.8 < 1: no spike.
    args = one_neuron(0.4, 0.5, 1.0, 50)
    assert kernel(**args)[0, 0] == 0
    # Without leak the same current crosses the threshold on step 3 (0.4, 0.8, 1.2).
    args.update(beta_hidden=np.array([0.999999]), n_steps=3)
    assert kernel(**args)[0, 0] == 1


def test_numba_kernel_equals_numpy_reference_on_random_networks():
    rng = np.random.default_rng(1)
    x = rng.uniform(size=(200, 30))
    for _ in range(5):
        w_in, w_out = rng.normal(0, 0.5, (30, 12)), rng.normal(0, 1.0, (12, 3))
        neurons = dict(
            beta_hidden=rng.uniform(0.5, 0.99, 12),
            theta_hidden=rng.uniform(0.5, 2, 12),
            beta_output=rng.uniform(0.5, 0.99, 3),
            theta_output=rng.uniform(0.5, 2, 3),
        )
        fast = lif_counts(x, w_in, w_out, n_steps=20, **neurons)
        reference = lif_counts_numpy(x, w_in, w_out, n_steps=20, **neurons)
        assert fast.sum() > 0
        np.testing.assert_array_equal(fast, reference)


@pytest.mark.parametrize(
    "bad", [dict(n_hidden=0), dict(n_steps=-1), dict(beta=1.0), dict(theta=0.0), dict(n_hidden=2.5)]
)
def test_network_rejects_bad_constants(bad):
    with pytest.raises(LimprobError):
        Network(**bad)
