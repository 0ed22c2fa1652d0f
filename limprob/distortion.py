"""The digital twin's parametric distortion: a few named parameters theta for the chip.

The simulated chip of :mod:`limprob.chip` draws its mismatch privately. The twin describes a
chip by a small set of *families*, each a named piece of theta (limprob's parameterisation;
the design note gives the chip's families, the twin's parameters are our choice):

==================== ======================================= =================================
family               parameters                              effect (nominal beta, theta)
==================== ======================================= =================================
``saturation``       ``inverse_w_sat`` >= 0                  ``W <- w_sat tanh(W / w_sat)``
``gain``             ``log_gain``                            ``W <- W exp(log_gain)``
``leak``             ``log_leak``                            ``beta_i = clip(beta exp(log_leak), 0, 0.99)``
``threshold_mismatch`` ``threshold_spread``, ``threshold_z`` ``theta_i *= exp(spread z_i)`` per neuron
``gain_mismatch``    ``gain_spread``, ``gain_z_in/out``      ``W_ij *= exp(spread z_ij)`` per synapse
==================== ======================================= =================================

A :class:`Distortion` can also carry per-neuron leak mismatch, ``beta_i = clip(beta
exp(log_leak + leak_spread z_i), 0, 0.99)``: no per-chip twin samples it, but with it a
:class:`Distortion` describes every chip of the design note exactly
(:func:`simulated_chip_distortion`), which the chip population model of
:mod:`limprob.population` relies on.

There is no global threshold family: with reset by subtraction the LIF layer is exactly
invariant under scaling its input current and its threshold together, so a global threshold
scale ``t`` is the same chip as the gain ``log_gain - t`` with ``inverse_w_sat * exp(t)``
(:func:`represented_truth` uses this equivalence). ``threshold_mismatch`` is each neuron's
threshold relative to the others.

``inverse_w_sat = 0`` means no saturation, so the identity distortion (all parameters zero) is
an interior or boundary point of every family and equals the ideal network exactly.
:class:`Distortion` holds one value of theta; :class:`ParametricChip` is a chip whose
distortion *is* a theta (the twin's own world, used for calibration); :func:`represented_truth`
reads off a :class:`~limprob.chip.SimulatedChip` the global values the twin can represent.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np

from limprob.chip import LEAK_MAX, SimulatedChip
from limprob.errors import LimprobError
from limprob.ops import batched_distorted_counts
from limprob.snn import Network

FAMILIES = ("saturation", "gain", "leak", "threshold_mismatch", "gain_mismatch")
"""Every distortion family, in the order the comparison study adds them."""

GLOBAL_PARAMETERS = {"saturation": "inverse_w_sat", "gain": "log_gain", "leak": "log_leak",
                     "threshold_mismatch": "threshold_spread", "gain_mismatch": "gain_spread"}
"""The one scalar parameter of each family (the mismatch families also have latent z's)."""


def check_families(families) -> tuple[str, ...]:
    """Families in canonical order; raise :class:`LimprobError` on an unknown name."""
    families = tuple(families)
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise LimprobError(f"unknown distortion family {', '.join(sorted(unknown))}; "
                           f"choose from {', '.join(FAMILIES)}")
    return tuple(f for f in FAMILIES if f in families)


@dataclass(frozen=True)
class Distortion:
    """One value of theta. Per-neuron ``threshold_z`` and ``leak_z`` are (hidden + output,);
    per-synapse ``gain_z_in`` (input, hidden) and ``gain_z_out`` (hidden, output); None means
    zeros."""

    inverse_w_sat: float = 0.0
    log_gain: float = 0.0
    log_leak: float = 0.0
    threshold_spread: float = 0.0
    gain_spread: float = 0.0
    leak_spread: float = 0.0
    threshold_z: np.ndarray | None = field(default=None, compare=False)
    gain_z_in: np.ndarray | None = field(default=None, compare=False)
    gain_z_out: np.ndarray | None = field(default=None, compare=False)
    leak_z: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self):
        if not (np.isfinite(self.inverse_w_sat) and self.inverse_w_sat >= 0):
            raise LimprobError(f"inverse_w_sat must be finite and >= 0, got {self.inverse_w_sat}")

    def globals(self) -> dict[str, float]:
        return {k: float(v) for k, v in asdict(self).items() if not k.endswith(("_z", "_in", "_out"))}

    def arrays(self, network: Network, n_inputs: int, n_outputs: int) -> dict[str, np.ndarray]:
        """The simulator's arguments: gains, inverse saturation, per-neuron leaks and thresholds."""
        h = network.n_hidden
        z_theta = np.zeros(h + n_outputs) if self.threshold_z is None else self.threshold_z
        z_in = np.zeros((n_inputs, h)) if self.gain_z_in is None else self.gain_z_in
        z_out = np.zeros((h, n_outputs)) if self.gain_z_out is None else self.gain_z_out
        z_beta = np.zeros(h + n_outputs) if self.leak_z is None else self.leak_z
        thresholds = network.theta * np.exp(self.threshold_spread * z_theta)
        leaks = np.clip(network.beta * np.exp(self.log_leak + self.leak_spread * z_beta),
                        0.0, LEAK_MAX)
        return {
            "gain_in": np.exp(self.log_gain + self.gain_spread * z_in),
            "gain_out": np.exp(self.log_gain + self.gain_spread * z_out),
            "inverse_w_sat": float(self.inverse_w_sat),
            "beta_hidden": leaks[:h], "theta_hidden": thresholds[:h],
            "beta_output": leaks[h:], "theta_output": thresholds[h:],
        }


def simulate(distortion: Distortion, network: Network, w_in, w_out, x) -> np.ndarray:
    """Counts (batch, obs, output) of weight sets (batch, ...) through ``distortion``."""
    w_in, w_out = np.asarray(w_in, dtype=float), np.asarray(w_out, dtype=float)
    squeeze = w_in.ndim == 2
    if squeeze:
        w_in, w_out = w_in[None], w_out[None]
    a = distortion.arrays(network, w_in.shape[1], w_out.shape[2])
    counts = batched_distorted_counts(
        np.ascontiguousarray(w_in), np.ascontiguousarray(w_out),
        np.ascontiguousarray(x, dtype=float), a["gain_in"], a["gain_out"], a["inverse_w_sat"],
        a["beta_hidden"], a["theta_hidden"], a["beta_output"], a["theta_output"],
        network.n_steps)
    return counts[0] if squeeze else counts


class ParametricChip:
    """A chip whose distortion is a given theta, with optional Gaussian read noise of standard
    deviation ``read_noise`` counts per output (seeded). Implements :class:`~limprob.chip.Chip`.
    """

    def __init__(self, distortion: Distortion, n_inputs: int = 30, n_outputs: int = 2,
                 network: Network = Network(), read_noise: float = 0.0, seed: int = 0):
        self.distortion, self.network = distortion, network
        self.n_inputs, self.n_outputs = int(n_inputs), int(n_outputs)
        self.read_noise, self.seed = float(read_noise), int(seed)
        self._rng = np.random.default_rng([seed, 7])
        self._queries = 0

    @property
    def queries(self) -> int:
        return self._queries

    def run(self, w_in, w_out, x) -> np.ndarray:
        self._queries += 1
        counts = simulate(self.distortion, self.network, w_in, w_out, x)
        if self.read_noise > 0:
            counts = counts + self.read_noise * self._rng.standard_normal(counts.shape)
        return counts

    def describe(self) -> dict:
        return {"chip": "ParametricChip", "chip_read_noise": self.read_noise,
                "chip_seed": self.seed, **self.network.as_attrs(),
                **{f"chip_{k}": v for k, v in self.distortion.globals().items()}}


def simulated_chip_distortion(chip: SimulatedChip) -> Distortion:
    """The :class:`Distortion` that is ``chip`` exactly, rebuilt from its seed (for evaluation
    and tests only: it redraws the chip's private mismatch).

    At strength ``alpha``: ``inverse_w_sat = 2 alpha`` (``w_sat = 0.5 / alpha``),
    ``log_gain = log_leak = 0``, spreads ``0.7 alpha`` (gain), ``0.4 alpha`` (threshold) and
    ``0.1 alpha`` (leak), and the chip's own standard normal draws as the z's.
    """
    from limprob.chip import (GAIN_SPREAD, LEAK_SPREAD, SATURATION_AT_UNIT_STRENGTH,
                              THRESHOLD_SPREAD)

    rng = np.random.default_rng(chip.seed)  # the draw order of SimulatedChip._draw_distortion
    h, a = chip.network.n_hidden, chip.strength
    z_in = rng.standard_normal((chip.n_inputs, h))
    z_out = rng.standard_normal((h, chip.n_outputs))
    z_theta = rng.standard_normal(h + chip.n_outputs)
    z_beta = rng.standard_normal(h + chip.n_outputs)
    return Distortion(inverse_w_sat=a / SATURATION_AT_UNIT_STRENGTH, gain_spread=GAIN_SPREAD * a,
                      threshold_spread=THRESHOLD_SPREAD * a, leak_spread=LEAK_SPREAD * a,
                      threshold_z=z_theta, gain_z_in=z_in, gain_z_out=z_out, leak_z=z_beta)


def represented_truth(chip: SimulatedChip) -> dict[str, float]:
    """The global distortion of a simulated chip in the twin's parameters (for evaluation
    only: it reads the chip's private draws).

    With ``g`` the realised mean log gain over synapses and ``t`` the realised mean log
    threshold (relative to nominal) over neurons: ``log_gain = g - t`` and
    ``inverse_w_sat = exp(t) alpha / 0.5`` (the twin's equivalent chip with nominal mean
    threshold), ``log_leak`` the mean log leak (after clipping) relative to nominal; the spreads
    are the design's ``0.4 alpha`` and ``0.7 alpha``. At strength 0 every value is the identity.
    """
    from limprob.chip import GAIN_SPREAD, SATURATION_AT_UNIT_STRENGTH, THRESHOLD_SPREAD

    net, a = chip.network, chip.strength
    log_gains = np.concatenate([np.log(chip._gain_in).ravel(), np.log(chip._gain_out).ravel()])
    thresholds = np.concatenate([chip._theta_hidden, chip._theta_output])
    leaks = np.concatenate([chip._beta_hidden, chip._beta_output])
    t = float(np.log(thresholds / net.theta).mean())
    return {
        "inverse_w_sat": float(np.exp(t) * a / SATURATION_AT_UNIT_STRENGTH),
        "log_gain": float(log_gains.mean()) - t,
        "log_leak": float(np.log(leaks / net.beta).mean()),
        "threshold_spread": THRESHOLD_SPREAD * a,
        "gain_spread": GAIN_SPREAD * a,
    }
