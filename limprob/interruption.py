"""SIGINT and SIGTERM stop a run where it is, remembered, and never look like success.

Inside :func:`handled` the first SIGINT (Ctrl-C) or SIGTERM raises :class:`Interrupted`, a
``KeyboardInterrupt`` that knows its signal, so ``finally`` blocks run (no temporary file
survives). Inside :func:`deferred` the first signal is only recorded, so the work in hand
completes or a loop stops at its next check (:func:`stop_if_received`; sampling checks after
every draw, and PyMC's ``pm.sample``, which catches ``KeyboardInterrupt``, then returns the
draws it has; a likelihood estimate of many chip queries checks between them,
:func:`stop_mid_step`); a second signal raises at once, and an error it causes inside compiled
code is reported as the interruption it is (:func:`cause`). :func:`received` says which signal
came first; the CLI exits with ``128 + signal`` (130 for SIGINT, 143 for SIGTERM), never 0.

Handlers can only be installed from the main thread; elsewhere :func:`handled` does nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

SIGNALS = (signal.SIGINT, signal.SIGTERM)
"""The signals a run turns into :class:`Interrupted` (SIGKILL cannot be caught)."""

_state: dict[str, Any] = {"received": [], "installed": 0, "deferring": 0}


class Interrupted(KeyboardInterrupt):
    """A run stopped by ``signum``; ``outcome`` says what was kept (one line, for the user)."""

    def __init__(self, signum: int = signal.SIGINT, outcome: str = "nothing written") -> None:
        super().__init__(signum, outcome)
        self.signum = int(signum)
        self.outcome = outcome

    @property
    def name(self) -> str:
        """The signal's name, such as ``"SIGINT"``."""
        return signal_name(self.signum)

    @property
    def exit_code(self) -> int:
        """The command's exit code for the signal: 128 + its number (130 for SIGINT, 143 for
        SIGTERM)."""
        return exit_code(self.signum)


def signal_name(signum: int) -> str:
    """``"SIGINT"``, ``"SIGTERM"``."""
    return signal.Signals(signum).name


def exit_code(signum: int) -> int:
    """The shell's convention for a process ended by a signal: 128 + its number."""
    return 128 + int(signum)


def _handler(signum: int, frame: FrameType | None) -> None:
    _state["received"].append(signum)
    if _state["deferring"] and len(_state["received"]) == 1:
        return
    raise Interrupted(signum)


def as_interrupted(error: KeyboardInterrupt) -> Interrupted:
    """``error`` as an :class:`Interrupted` (a plain ``KeyboardInterrupt`` counts as SIGINT)."""
    return error if isinstance(error, Interrupted) else Interrupted()


def interrupted_line(error: KeyboardInterrupt) -> str:
    """The one line the command line prints when ``error`` stopped it."""
    stopped = as_interrupted(error)
    return f"limprob: interrupted by {stopped.name}: {stopped.outcome}"


class StoppedMidStep(Interrupted):
    """A first signal that stopped a step between two chip queries (:func:`stop_mid_step`):
    the step is abandoned, the draws before it are complete."""


def stop_mid_step() -> None:
    """Raise :class:`StoppedMidStep` if a signal has been received: the check between the chip
    queries of one long step (a likelihood estimate of many repeats), so a first signal stops a
    run within one query, not at the end of a step that may never end. The sampler keeps the
    draws completed before the step (PyMC's ``pm.sample`` returns them; a checkpointed chain
    keeps its last write)."""
    if _state["installed"] and _state["received"]:  # only inside handled(): no stale signal
        raise StoppedMidStep(_state["received"][0])


def cause(error: BaseException | None) -> Interrupted | None:
    """The :class:`Interrupted` that ``error`` was raised from, if any: a signal handler that
    raises while compiled code (a numba kernel) returns makes the interpreter report a
    ``SystemError`` caused by it."""
    seen = set()
    while error is not None and id(error) not in seen:
        if isinstance(error, KeyboardInterrupt):
            return as_interrupted(error)
        seen.add(id(error))
        error = error.__cause__ or error.__context__
    return None


def received() -> int | None:
    """The first signal received since the outermost :func:`handled` began, or None."""
    return _state["received"][0] if _state["received"] else None


def stop_if_received() -> None:
    """Raise :class:`Interrupted` if a signal has been received (a loop's check between items,
    so the chains after an interrupted one do not start)."""
    if _state["received"]:
        raise Interrupted(_state["received"][0])


@contextmanager
def handled() -> Iterator[None]:
    """SIGINT and SIGTERM raise :class:`Interrupted` inside; nests (the outermost installs the
    handlers, forgets earlier signals, and restores the previous handlers on exit)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    outermost = _state["installed"] == 0
    previous = {}
    if outermost:
        _state["received"].clear()
        previous = {signum: signal.signal(signum, _handler) for signum in SIGNALS}
    _state["installed"] += 1
    try:
        yield
    finally:
        _state["installed"] -= 1
        if outermost:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Inside, a first signal is recorded without raising (the work in hand finishes); a signal
    after one already received raises."""
    _state["deferring"] += 1
    try:
        yield
    finally:
        _state["deferring"] -= 1
