"""The one interface training sees: a chip answers queries.

A chip's only training-time interface is a *query*: write these weights, run these inputs,
return the output spike counts. :class:`Chip` states it as a protocol, so a driver for a real
chip plugs in by implementing ``run`` and ``queries``; nothing else in limprob assumes the chip
is simulated.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from limprob.snn import Network


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
    def queries(self) -> int:
        """Queries made so far: each call of ``run`` counts one."""
        ...

    def run(self, w_in: np.ndarray, w_out: np.ndarray, x: np.ndarray) -> np.ndarray:
        """One query: write ``w_in`` (input, hidden) and ``w_out`` (hidden, output), present
        ``x`` (obs, input), return the spike counts (obs, output)."""
        ...
