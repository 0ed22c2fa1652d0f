"""Chips: the one interface training sees, and a simulated chip with hidden distortion.

A chip's only training-time interface is a *query*: write these weights, run these inputs,
return the output spike counts. :class:`Chip` states it as a protocol, so a driver for a real
chip plugs in by implementing ``run`` and ``queries``; nothing else in limprob assumes the chip
is simulated.

:class:`SimulatedChip` runs the LIF network of :mod:`limprob.snn` through a distortion drawn
once per chip from its seed and kept private (limprob's parameterisation, from the project's
design note; the seed paper does not give one). With strength ``alpha >= 0`` and standard
normal draws ``Z``:

- synaptic gain mismatch, per synapse:        ``W_eff = W exp(0.7 alpha Z)``
- weight-programming saturation:              ``W_eff <- w_sat tanh(W_eff / w_sat)``,
  ``w_sat = 0.5 / alpha``
- threshold mismatch, per neuron:             ``theta_i = theta exp(0.4 alpha Z_i)``
- leak mismatch, per neuron:                  ``beta_i = clip(beta exp(0.1 alpha Z_i), 0, 0.99)``

``alpha = 0`` applies none of them, so the chip is exactly the ideal network. The same seed
draws the same ``Z`` at every strength, so a sweep over ``alpha`` scales one chip's mismatch.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numba
import numpy as np
from numba import types
from numba.extending import intrinsic

from limprob.errors import LimprobError
from limprob.snn import Network, lif_counts

GAIN_SPREAD = 0.7
"""Log-normal spread of synaptic gain per unit strength."""
SATURATION_AT_UNIT_STRENGTH = 0.5
"""Saturation level w_sat of programmed weights at strength 1 (w_sat = 0.5 / alpha)."""
THRESHOLD_SPREAD = 0.4
"""Log-normal spread of neuron thresholds per unit strength."""
LEAK_SPREAD = 0.1
"""Log-normal spread of neuron leaks per unit strength."""
LEAK_MAX = 0.99


@runtime_checkable
class Chip(Protocol):
    """What training may ask of a chip.

    ``network`` is the nominal network the chip implements (hidden size, time steps, leak,
    threshold); ``n_inputs`` and ``n_outputs`` its input and output widths. ``run`` is one
    query: write ``w_in`` (input, hidden) and ``w_out`` (hidden, output), present ``x``
    (obs, input), return spike counts (obs, output). ``queries`` counts every query made.
    """

    network: Network
    n_inputs: int
    n_outputs: int

    @property
    def queries(self) -> int: ...

    def run(self, w_in: np.ndarray, w_out: np.ndarray, x: np.ndarray) -> np.ndarray: ...


@intrinsic
def _int64_at(typingctx, address):
    """Pointer to the int64 at a raw address (the chip's query counter)."""
    signature = types.CPointer(types.int64)(types.intp)

    def codegen(context, builder, sig, args):
        return builder.inttoptr(args[0], context.get_value_type(types.CPointer(types.int64)))

    return signature, codegen


@numba.njit(cache=True, nogil=True)
def distorted_counts(x, w_in, w_out, gain_in, gain_out, w_sat, beta_hidden, theta_hidden,
                     beta_output, theta_output, n_steps):
    """Spike counts (obs, output) of the LIF network through a distortion.

    ``W_eff = W * gain`` elementwise, then, when ``w_sat`` is finite,
    ``W_eff <- w_sat tanh(W_eff / w_sat)``; per-neuron leaks and thresholds as given. With unit
    gains, infinite ``w_sat`` and nominal leaks and thresholds this is the ideal network.
    """
    w_in_eff = w_in * gain_in
    w_out_eff = w_out * gain_out
    if np.isfinite(w_sat):
        w_in_eff = w_sat * np.tanh(w_in_eff / w_sat)
        w_out_eff = w_sat * np.tanh(w_out_eff / w_sat)
    return lif_counts(x, w_in_eff, w_out_eff, beta_hidden, theta_hidden, beta_output,
                      theta_output, n_steps)


def _build_kernel(gain_in, gain_out, w_sat, beta_hidden, theta_hidden, beta_output,
                  theta_output, n_steps, counter_address):
    """A numba function ``run(w_in, w_out, x) -> counts`` for one chip.

    The distortion arrays are compiled in as constants and every call adds one to the int64 at
    ``counter_address`` (the chip's counter array, which the chip keeps alive), so the query
    count stays exact when PyTensor's numba backend calls the kernel with no Python in between.
    """

    @numba.njit(nogil=True)
    def run(w_in, w_out, x):
        counter = numba.carray(_int64_at(counter_address), 1)
        counter[0] += 1
        return distorted_counts(x, w_in, w_out, gain_in, gain_out, w_sat, beta_hidden,
                                theta_hidden, beta_output, theta_output, n_steps)

    return run


class SimulatedChip:
    """A simulated analog SNN chip with hidden distortion of the given strength.

    Parameters
    ----------
    n_inputs, n_outputs : widths of the input and output layers.
    network : the nominal network (hidden size, time steps, leak, threshold).
    strength : distortion strength alpha >= 0 (0: the ideal network; 1: strong).
    seed : seeds the chip's mismatch draws; the same seed is the same chip.
    """

    def __init__(self, n_inputs: int = 30, n_outputs: int = 2, network: Network = Network(),
                 strength: float = 0.0, seed: int = 0):
        if not (np.isfinite(strength) and strength >= 0):
            raise LimprobError(f"chip strength must be a finite number >= 0, got {strength}")
        if n_inputs < 1 or n_outputs < 1:
            raise LimprobError("a chip needs at least one input and one output")
        self.network = network
        self.n_inputs, self.n_outputs = int(n_inputs), int(n_outputs)
        self.strength, self.seed = float(strength), int(seed)
        self._queries = np.zeros(1, dtype=np.int64)
        self._draw_distortion()
        self._kernel = self._compile()

    def _draw_distortion(self):
        rng = np.random.default_rng(self.seed)
        h, a = self.network.n_hidden, self.strength
        z_in = rng.standard_normal((self.n_inputs, h))
        z_out = rng.standard_normal((h, self.n_outputs))
        z_theta = rng.standard_normal(h + self.n_outputs)
        z_beta = rng.standard_normal(h + self.n_outputs)
        theta, beta = self.network.theta, self.network.beta
        if a == 0.0:
            self._gain_in, self._gain_out = np.ones_like(z_in), np.ones_like(z_out)
            self._w_sat = np.inf
            thresholds = np.full(h + self.n_outputs, theta)
            leaks = np.full(h + self.n_outputs, beta)
        else:
            self._gain_in = np.exp(GAIN_SPREAD * a * z_in)
            self._gain_out = np.exp(GAIN_SPREAD * a * z_out)
            self._w_sat = SATURATION_AT_UNIT_STRENGTH / a
            thresholds = theta * np.exp(THRESHOLD_SPREAD * a * z_theta)
            leaks = np.clip(beta * np.exp(LEAK_SPREAD * a * z_beta), 0.0, LEAK_MAX)
        self._theta_hidden, self._theta_output = thresholds[:h], thresholds[h:]
        self._beta_hidden, self._beta_output = leaks[:h], leaks[h:]

    def _compile(self):
        return _build_kernel(self._gain_in, self._gain_out, self._w_sat, self._beta_hidden,
                             self._theta_hidden, self._beta_output, self._theta_output,
                             self.network.n_steps, self._queries.ctypes.data)

    @property
    def queries(self) -> int:
        """Queries made of this chip so far."""
        return int(self._queries[0])

    @property
    def numba_run(self):
        """The compiled query ``run(w_in, w_out, x) -> counts`` for use inside numba code."""
        return self._kernel

    def run(self, w_in, w_out, x) -> np.ndarray:
        """One query: write the weights, run the inputs, return spike counts (obs, output)."""
        w_in = np.ascontiguousarray(w_in, dtype=np.float64)
        w_out = np.ascontiguousarray(w_out, dtype=np.float64)
        x = np.ascontiguousarray(x, dtype=np.float64)
        h = self.network.n_hidden
        if w_in.shape != (self.n_inputs, h) or w_out.shape != (h, self.n_outputs):
            raise LimprobError(
                f"weights of shape {w_in.shape} and {w_out.shape} do not fit a chip of "
                f"{self.n_inputs}-{h}-{self.n_outputs} neurons"
            )
        if x.ndim != 2 or x.shape[1] != self.n_inputs:
            raise LimprobError(f"inputs of shape {x.shape} do not fit {self.n_inputs} inputs")
        return self._kernel(w_in, w_out, x)

    def ideal(self) -> SimulatedChip:
        """A chip of the same size and network with no distortion (strength 0)."""
        return SimulatedChip(self.n_inputs, self.n_outputs, self.network, 0.0, self.seed)

    def describe(self) -> dict:
        """What may be said of this chip in a trace: its identity, never its distortion."""
        return {"chip": "SimulatedChip", "chip_strength": self.strength,
                "chip_seed": self.seed, **self.network.as_attrs()}

    def __getstate__(self):
        state = self.__dict__.copy()
        del state["_kernel"]
        return state

    def __setstate__(self, state):
        self.__dict__.update(state)
        self._kernel = self._compile()

    def __repr__(self):
        return (f"SimulatedChip({self.n_inputs}-{self.network.n_hidden}-{self.n_outputs}, "
                f"strength={self.strength}, seed={self.seed})")
