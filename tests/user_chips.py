"""Chips as a user's driver module provides them, for the tests: factories for ``--chip
user_chips:FACTORY`` and ``train(chip=...)``, and deliberately broken chips for
:func:`limprob.chip.testing.check_chip`. (tests/ is on ``sys.path`` under pytest; a subprocess
gets it through ``PYTHONPATH``.)"""

from __future__ import annotations

import os
import signal

import numpy as np

from limprob.chip import SimulatedChip
from limprob.chip.simulated import check_query
from limprob.errors import LimprobError
from limprob.snn import Network


def small_chip(*, n_inputs: int, n_outputs: int, network: Network) -> SimulatedChip:
    """A factory as ``--chip`` calls it: a distorted simulated chip of the asked sizes."""
    return SimulatedChip(n_inputs, n_outputs, network, strength=1.0, seed=3)


def not_a_chip(*, n_inputs: int, n_outputs: int, network: Network):
    """A factory that returns something that is not a chip."""
    return {"n_inputs": n_inputs}


def wrong_inputs(*, n_inputs: int, n_outputs: int, network: Network) -> SimulatedChip:
    """A factory whose chip has one input too many."""
    return SimulatedChip(n_inputs + 1, n_outputs, network, seed=3)


NOT_CALLABLE = 3
"""Not a factory."""


class SignallingChip:
    """``chip`` through Python only (no ``numba_run``: the likelihood calls ``run``), sending
    its own process ``signum`` before query ``after``."""

    def __init__(self, chip: SimulatedChip, *, after: int, signum: int):
        self.chip, self.after, self.signum = chip, after, signum
        self.network, self.n_inputs, self.n_outputs = chip.network, chip.n_inputs, chip.n_outputs

    queries = property(lambda self: self.chip.queries)
    noise = property(lambda self: self.chip.noise)
    weight_bits = property(lambda self: self.chip.weight_bits)
    weight_range = property(lambda self: self.chip.weight_range)

    def run(self, w_in, w_out, x):
        QUERIED.append(self.queries)
        if self.queries == self.after:
            os.kill(os.getpid(), self.signum)
        return self.chip.run(w_in, w_out, x)

    def describe(self):
        return self.chip.describe()

    def continue_from(self, queries):
        self.chip.continue_from(queries)


QUERIED: list[int] = []
"""The index of every query a :class:`SignallingChip` of this process was asked (in order)."""

SIGNAL_ENV = "LIMPROB_TEST_SIGNAL"
"""``AFTER:SIGNAME`` (e.g. ``175:SIGKILL``): :func:`signalling`'s chip sends SIGNAME before query
AFTER; unset: it is the plain simulated chip."""


def signalling(*, n_inputs: int, n_outputs: int, network: Network, noise: float = 0.0):
    """``limprob train``'s default simulated chip (strength 1, chip seed 0), which signals its
    process as :data:`SIGNAL_ENV` says (read when the factory is called: a resumed run may be
    told otherwise)."""
    chip = SimulatedChip(n_inputs, n_outputs, network, 1.0, 0, noise=noise)
    if not os.environ.get(SIGNAL_ENV):
        return chip
    after, name = os.environ[SIGNAL_ENV].split(":")
    return SignallingChip(chip, after=int(after), signum=getattr(signal, name))


def noisy_signalling(*, n_inputs: int, n_outputs: int, network: Network):
    """:func:`signalling` at noise 0.1."""
    return signalling(n_inputs=n_inputs, n_outputs=n_outputs, network=network, noise=0.1)


def very_noisy_signalling(*, n_inputs: int, n_outputs: int, network: Network):
    """:func:`signalling` at noise 0.5."""
    return signalling(n_inputs=n_inputs, n_outputs=n_outputs, network=network, noise=0.5)


class Wrapped:
    """A correct chip (a simulated one, inside): each broken chip below changes one thing."""

    def __init__(
        self,
        n_inputs: int = 5,
        n_outputs: int = 3,
        network: Network = Network(4, 8),
        noise: float = 0.0,
    ):
        self.inner = SimulatedChip(n_inputs, n_outputs, network, strength=1.0, seed=2, noise=noise)
        self.network, self.n_inputs, self.n_outputs = network, n_inputs, n_outputs

    queries = property(lambda self: self.inner.queries)
    noise = property(lambda self: self.inner.noise)
    weight_bits = property(lambda self: self.inner.weight_bits)
    weight_range = property(lambda self: self.inner.weight_range)

    def run(self, w_in, w_out, x):
        return self.inner.run(w_in, w_out, x)

    def describe(self):
        return {"chip": "Wrapped"}

    def continue_from(self, queries):
        self.inner.continue_from(queries)


class NoDescribe:
    """Everything but ``describe`` (the chip the README's first interface allowed)."""

    def __init__(self):
        self.inner = Wrapped()
        self.network, self.n_inputs, self.n_outputs = (
            self.inner.network,
            self.inner.n_inputs,
            self.inner.n_outputs,
        )

    queries = property(lambda self: self.inner.queries)
    noise, weight_bits, weight_range = 0.0, None, 2.0

    def run(self, w_in, w_out, x):
        return self.inner.run(w_in, w_out, x)

    def continue_from(self, queries):
        self.inner.continue_from(queries)


class Transposed(Wrapped):
    def run(self, w_in, w_out, x):
        return super().run(w_in, w_out, x).T.copy()


class IntegerCounts(Wrapped):
    def run(self, w_in, w_out, x):
        return super().run(w_in, w_out, x).astype(np.int64)


class DoubleCounting(Wrapped):
    def run(self, w_in, w_out, x):
        counts = super().run(w_in, w_out, x)
        self.inner.continue_from(self.inner.queries + 1)
        return counts


class SkipsQueries(Wrapped):
    """Counts every other query only."""

    def run(self, w_in, w_out, x):
        queries = self.inner.queries
        counts = super().run(w_in, w_out, x)
        if queries % 2:
            self.inner.continue_from(queries)
        return counts


class AcceptsNaN(Wrapped):
    """Runs NaN weights and inputs instead of refusing them."""

    def run(self, w_in, w_out, x):
        arrays = [np.ascontiguousarray(a, dtype=np.float64) for a in (w_in, w_out, x)]
        if (
            any(a.shape != b for a, b in zip(arrays[:2], [(self.n_inputs, 4), (4, 3)]))
            or arrays[2].ndim != 2
            or arrays[2].shape[1] != self.n_inputs
        ):
            raise LimprobError("wrong shapes")
        return self.inner.numba_run(*arrays)


class CountsRefused(Wrapped):
    """Counts a query before checking it."""

    def run(self, w_in, w_out, x):
        self.inner.continue_from(self.inner.queries + 1)
        check_query(self, w_in, w_out, x)
        self.inner.continue_from(self.inner.queries - 1)
        return super().run(w_in, w_out, x)


class ValueErrorOnNaN(Wrapped):
    """Refuses NaN with a bare ValueError."""

    def run(self, w_in, w_out, x):
        if not all(np.all(np.isfinite(a)) for a in (w_in, w_out, x)):
            raise ValueError("nan")
        return super().run(w_in, w_out, x)


class UndeclaredNoise(Wrapped):
    """Noisy (its own generator, never reset) but declares noise 0."""

    def __init__(self):
        super().__init__()
        self.rng = np.random.default_rng(0)

    def run(self, w_in, w_out, x):
        counts = super().run(w_in, w_out, x)
        return counts + self.rng.integers(0, 3, counts.shape)


class NoReplay(Wrapped):
    """A noisy chip whose ``continue_from`` sets the counter but not the noise stream."""

    def __init__(self):
        super().__init__(noise=0.5)
        self.offset = 0

    @property
    def queries(self):
        return self.inner.queries - self.offset

    def continue_from(self, queries):
        self.offset = self.inner.queries - queries


class SecretInDescription(Wrapped):
    def describe(self):
        return {"chip": "Wrapped", "chip_address": None}


BROKEN = {
    NoDescribe: "missing member describe",
    Transposed: "shape",
    IntegerCounts: "dtype int64",
    DoubleCounting: "double-counts",
    SkipsQueries: "skips",
    AcceptsNaN: "NaN in w_in was accepted",
    CountsRefused: "refused but counted",
    ValueErrorOnNaN: "raised ValueError, not limprob.errors.LimprobError",
    UndeclaredNoise: "noise is 0 but the same query gave different counts",
    NoReplay: "did not replay",
    SecretInDescription: "not a string or a number",
}
"""Each broken chip and a phrase check_chip's message must hold."""
