"""The chip's distortion, written once: its parameters, their random draws and the arrays they
produce.

A chip of limprob's design is the ideal LIF network of :mod:`limprob.snn` seen through a
distortion with six *global* parameters and standard normal *mismatch* draws ``z``
(neuron = hidden then output; limprob's parameterisation, from the project's design note):

- ``log_gain``, ``gain_spread``: per synapse, ``gain_ij = exp(log_gain + gain_spread z_ij)``
  and ``W <- W gain``;
- ``inverse_w_sat >= 0``: ``W <- w_sat tanh(W / w_sat)`` with ``w_sat = 1 / inverse_w_sat``
  (no saturation at 0), in the units of the weights;
- ``threshold_spread``: per neuron, ``theta_i = theta exp(threshold_spread z_i)``;
- ``log_leak``, ``leak_spread``: per neuron,
  ``beta_i = clip(beta exp(log_leak + leak_spread z_i), 0, max(beta, 0.99))``.

All parameters zero is the ideal network exactly. The simulated chip of strength ``alpha``
(:func:`design_distortion`) is the member with ``inverse_w_sat = 2 alpha``
(``w_sat = 0.5 / alpha``), ``log_gain = log_leak = 0`` and spreads ``0.7 alpha`` (gain),
``0.4 alpha`` (threshold), ``0.1 alpha`` (leak); the same seed draws the same ``z`` at every
strength, so a sweep over ``alpha`` scales one chip's mismatch.

The digital twin describes a chip by *families*, each switching on some of these parameters:

==================== ===================================== ==============================
family               parameters                            per chip
==================== ===================================== ==============================
``saturation``       ``inverse_w_sat``
``gain``             ``log_gain``
``leak``             ``log_leak``
``threshold_mismatch`` ``threshold_spread``                 ``threshold_z`` (neuron)
``gain_mismatch``    ``gain_spread``                       ``gain_z_in``, ``gain_z_out``
==================== ===================================== ==============================

There is no global threshold family: with reset by subtraction the LIF layer is exactly
invariant under scaling its input current and its threshold together, so a global threshold
scale ``t`` is the same chip as the gain ``log_gain - t`` with ``inverse_w_sat * exp(t)``
(:func:`represented_truth` uses this equivalence).

The equations are written once, in :func:`equations`, over an array module: numpy (which
numba also compiles, for :mod:`limprob.chip.kernels` and the population twin) and
``pytensor.tensor`` (the twin's PyTensor graph).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, NamedTuple

import numpy as np

from limprob.errors import LimprobError
from limprob.snn import Network
from limprob.validation import non_negative_number

LEAK_MAX = 0.99
"""Largest leak a distortion can produce (unless the nominal leak is already larger)."""
GAIN_SPREAD = 0.7
"""The design's log-normal spread of synaptic gain per unit strength."""
SATURATION_AT_UNIT_STRENGTH = 0.5
"""The design's saturation level w_sat of programmed weights at strength 1 (w_sat = 0.5 / alpha)."""
THRESHOLD_SPREAD = 0.4
"""The design's log-normal spread of neuron thresholds per unit strength."""
LEAK_SPREAD = 0.1
"""The design's log-normal spread of neuron leaks per unit strength."""


class DistortionGlobals(NamedTuple):
    """The six global parameters as numbers, in the population twin's order (the numba kernels
    of the population take them as one argument); see :class:`Distortion` for each."""

    inverse_w_sat: float
    log_gain: float
    log_leak: float
    gain_spread: float
    threshold_spread: float
    leak_spread: float


class Mismatch(NamedTuple):
    """A chip's standard normal mismatch draws (:func:`draw_mismatch`): ``gain_z_in``
    (input, hidden), ``gain_z_out`` (hidden, output), ``threshold_z`` and ``leak_z``
    (hidden + output,), each with a leading chip dim for a population of chips."""

    gain_z_in: np.ndarray
    gain_z_out: np.ndarray
    threshold_z: np.ndarray
    leak_z: np.ndarray


GLOBALS = DistortionGlobals._fields
"""The six global parameters, in the population twin's order."""
MISMATCH = Mismatch._fields
"""The per-chip standard normal draws."""

FAMILIES = ("saturation", "gain", "leak", "threshold_mismatch", "gain_mismatch")
"""Every distortion family, in the order the comparison study adds them."""


def check_families(families: Iterable[str]) -> tuple[str, ...]:
    """Families in canonical order; raise :class:`LimprobError` on an unknown name."""
    families = tuple(families)
    unknown = set(families) - set(FAMILIES)
    if unknown:
        raise LimprobError(
            f"unknown distortion family {', '.join(sorted(unknown))}; "
            f"choose from {', '.join(FAMILIES)}"
        )
    return tuple(f for f in FAMILIES if f in families)


def equations(xp: ModuleType) -> tuple[Callable[..., Any], Callable[..., Any], Callable[..., Any]]:
    """The distortion's equations over the array module ``xp`` (numpy or pytensor.tensor):

        synaptic_gain(log_gain, spread, z)          = exp(log_gain + spread z)
        neuron_threshold(theta, spread, z)          = theta exp(spread z)
        neuron_leak(beta, log_leak, spread, z, top) = clip(beta exp(log_leak + spread z), 0, top)

    ``numba.njit`` compiles the numpy form unchanged; thresholds are in the units of the input
    current, leaks per time step, gains dimensionless.
    """

    def synaptic_gain(log_gain: Any, spread: Any, z: Any) -> Any:
        return xp.exp(log_gain + spread * z)

    def neuron_threshold(theta: Any, spread: Any, z: Any) -> Any:
        return theta * xp.exp(spread * z)

    def neuron_leak(beta: Any, log_leak: Any, spread: Any, z: Any, top: Any) -> Any:
        return xp.minimum(xp.maximum(beta * xp.exp(log_leak + spread * z), 0.0), top)

    return synaptic_gain, neuron_threshold, neuron_leak


def leak_ceiling(beta: float) -> float:
    """The largest leak a distortion may produce: 0.99, or the nominal leak if larger (so the
    identity distortion is the ideal network for every nominal leak)."""
    return max(float(beta), LEAK_MAX)


class DistortionArrays(NamedTuple):
    """What the simulator takes of a distortion (:func:`distortion_arrays`): the synaptic gains,
    the saturation and the per-neuron leaks and thresholds. Numpy arrays for the numba kernels
    of :mod:`limprob.chip.kernels` (which take the tuple as one argument), tensors for the
    twin's PyTensor graph."""

    gain_in: Any
    """Gains (input, hidden), dimensionless."""
    gain_out: Any
    """Gains (hidden, output), dimensionless."""
    inverse_w_sat: Any
    """1 / w_sat of the weight saturation (0: none), a scalar, per unit weight."""
    beta_hidden: Any
    """Leaks (hidden,) per time step."""
    theta_hidden: Any
    """Thresholds (hidden,), in the units of the input current."""
    beta_output: Any
    """Leaks (output,) per time step."""
    theta_output: Any
    """Thresholds (output,), in the units of the input current."""


def distortion_arrays(
    parameters: Mapping[str, Any], network: Network, xp: ModuleType = np
) -> DistortionArrays:
    """The simulator's arguments for a distortion given as a mapping of its parameters (numbers
    or arrays with ``xp=np``; tensors with ``xp=pytensor.tensor``), as
    :class:`DistortionArrays`: ``gain_in`` (input, hidden), ``gain_out`` (hidden, output),
    ``inverse_w_sat``, and per-neuron ``beta_hidden``, ``theta_hidden`` (hidden,),
    ``beta_output``, ``theta_output`` (output,).

    ``parameters`` holds the globals of :data:`GLOBALS` and the draws of :data:`MISMATCH`.
    """
    gain, threshold, leak = equations(xp)
    p, h = parameters, network.n_hidden
    thresholds = threshold(network.theta, p["threshold_spread"], p["threshold_z"])
    leaks = leak(
        network.beta, p["log_leak"], p["leak_spread"], p["leak_z"], leak_ceiling(network.beta)
    )
    return DistortionArrays(
        gain_in=gain(p["log_gain"], p["gain_spread"], p["gain_z_in"]),
        gain_out=gain(p["log_gain"], p["gain_spread"], p["gain_z_out"]),
        inverse_w_sat=p["inverse_w_sat"],
        beta_hidden=leaks[:h],
        theta_hidden=thresholds[:h],
        beta_output=leaks[h:],
        theta_output=thresholds[h:],
    )


def draw_mismatch(
    rng: np.random.Generator,
    n_inputs: int,
    n_hidden: int,
    n_outputs: int,
    chips: tuple[int, ...] = (),
) -> dict[str, np.ndarray]:
    """Standard normal mismatch draws, in one order: ``gain_z_in`` (input, hidden),
    ``gain_z_out`` (hidden, output), ``threshold_z`` and ``leak_z`` (neuron), each with the
    leading dims ``chips`` (none for one chip)."""
    neurons = n_hidden + n_outputs
    return {
        "gain_z_in": rng.standard_normal((*chips, n_inputs, n_hidden)),
        "gain_z_out": rng.standard_normal((*chips, n_hidden, n_outputs)),
        "threshold_z": rng.standard_normal((*chips, neurons)),
        "leak_z": rng.standard_normal((*chips, neurons)),
    }


@dataclass(frozen=True)
class Distortion:
    """One distortion: the six globals and, optionally, one chip's mismatch draws
    (``gain_z_in`` (input, hidden), ``gain_z_out`` (hidden, output), ``threshold_z`` and
    ``leak_z`` (hidden + output,)); None means zeros."""

    inverse_w_sat: float = 0.0
    """1 / w_sat of the weight saturation (0: none), per unit weight."""
    log_gain: float = 0.0
    """Log of the global synaptic gain."""
    log_leak: float = 0.0
    """Log of the global scale of the nominal leak."""
    gain_spread: float = 0.0
    """Log-normal spread of the per-synapse gains."""
    threshold_spread: float = 0.0
    """Log-normal spread of the per-neuron thresholds."""
    leak_spread: float = 0.0
    """Log-normal spread of the per-neuron leaks."""
    gain_z_in: np.ndarray | None = field(default=None, compare=False)
    gain_z_out: np.ndarray | None = field(default=None, compare=False)
    threshold_z: np.ndarray | None = field(default=None, compare=False)
    leak_z: np.ndarray | None = field(default=None, compare=False)

    def __post_init__(self) -> None:
        non_negative_number("inverse_w_sat", self.inverse_w_sat)

    def globals(self) -> dict[str, float]:
        """The six global parameters by name."""
        return {name: float(getattr(self, name)) for name in GLOBALS}

    def global_values(self) -> DistortionGlobals:
        """The six global parameters as the population kernels take them."""
        return DistortionGlobals(**self.globals())

    def mismatch(self, n_inputs: int, n_hidden: int, n_outputs: int) -> Mismatch:
        """The chip's draws (zeros where None) as contiguous float64 arrays."""
        p = self.parameters(n_inputs, n_hidden, n_outputs)
        return Mismatch(*(np.ascontiguousarray(p[n], dtype=np.float64) for n in MISMATCH))

    def parameters(self, n_inputs: int, n_hidden: int, n_outputs: int) -> dict:
        """Globals and draws (zeros where None), as :func:`distortion_arrays` takes them."""
        neurons = n_hidden + n_outputs
        shapes = {
            "gain_z_in": (n_inputs, n_hidden),
            "gain_z_out": (n_hidden, n_outputs),
            "threshold_z": (neurons,),
            "leak_z": (neurons,),
        }
        draws = {
            name: np.zeros(shape) if getattr(self, name) is None else getattr(self, name)
            for name, shape in shapes.items()
        }
        return {**self.globals(), **draws}

    def arrays(self, network: Network, n_inputs: int, n_outputs: int) -> DistortionArrays:
        """The simulator's arguments (see :func:`distortion_arrays`), contiguous float64 arrays
        and a float ``inverse_w_sat``, as the kernels take them."""
        a = distortion_arrays(self.parameters(n_inputs, network.n_hidden, n_outputs), network)
        return DistortionArrays(
            *(np.ascontiguousarray(v, dtype=np.float64) if np.ndim(v) else float(v) for v in a)
        )


def design_distortion(strength: float, mismatch: dict[str, Any]) -> Distortion:
    """The design note's chip of distortion strength ``alpha`` with the given draws:
    ``inverse_w_sat = alpha / 0.5``, spreads ``0.7 alpha``, ``0.4 alpha``, ``0.1 alpha``."""
    a = non_negative_number("chip strength", strength)
    return Distortion(
        inverse_w_sat=a / SATURATION_AT_UNIT_STRENGTH,
        gain_spread=GAIN_SPREAD * a,
        threshold_spread=THRESHOLD_SPREAD * a,
        leak_spread=LEAK_SPREAD * a,
        **mismatch,
    )


def represented_truth(chip: Any) -> dict[str, float]:
    """A simulated chip's global distortion in the per-chip twin's parameters (for evaluation
    only: it reads the chip's private draws).

    With ``g`` the realised mean log gain over synapses and ``t`` the realised mean log
    threshold (relative to nominal) over neurons: ``log_gain = g - t`` and
    ``inverse_w_sat = exp(t) alpha / 0.5`` (the twin's equivalent chip with nominal mean
    threshold), ``log_leak`` the mean log leak (after clipping) relative to nominal; the spreads
    are the design's ``0.4 alpha`` and ``0.7 alpha``. At strength 0 every value is the identity.
    """
    network, a = chip.network, chip.strength
    arrays = hidden_distortion(chip).arrays(network, chip.n_inputs, chip.n_outputs)
    log_gains = np.concatenate([np.log(arrays.gain_in).ravel(), np.log(arrays.gain_out).ravel()])
    thresholds = np.concatenate([arrays.theta_hidden, arrays.theta_output])
    leaks = np.concatenate([arrays.beta_hidden, arrays.beta_output])
    t = float(np.log(thresholds / network.theta).mean())
    return {
        "inverse_w_sat": float(np.exp(t) * a / SATURATION_AT_UNIT_STRENGTH),
        "log_gain": float(log_gains.mean()) - t,
        "log_leak": float(np.log(leaks / network.beta).mean()),
        "threshold_spread": THRESHOLD_SPREAD * a,
        "gain_spread": GAIN_SPREAD * a,
    }


def hidden_distortion(chip: Any) -> Distortion:
    """The :class:`Distortion` a :class:`~limprob.chip.SimulatedChip` hides (for evaluation and
    tests only: training never sees it)."""
    return chip._distortion
