"""What a new simulated chip costs before its first answer: numba compilation per chip.

A :class:`~limprob.chip.SimulatedChip` answers through one cached kernel,
:func:`limprob.chip.kernels.query_counts`, that takes the chip's state (distortion arrays,
settings, query counter) as an argument, and the likelihood Op passes that state as graph
inputs, so PyTensor caches the compiled model on disk. The way it was done before is kept here
as the baseline, in the same code: a chip that offers only ``numba_run`` (a numba closure
compiled for that one chip, which the Op calls from a closure of its own, with no cache key,
so the whole model compiles afresh).

CPU seconds (``time.process_time``, so other work on the machine does not count), each in a
fresh process with numba's and PyTensor's disk caches warm (a warm-up
process runs first), for the first chip of a configuration and a second one with another seed:

- ``chip``: build a 30-16-2 chip (strength 1, membrane noise 0.1, 6-bit weights) and answer
  its first query on the 455 training rows of Wisconsin;
- ``model``: build the chip-in-the-loop model
  (:func:`limprob.models.chip_in_the_loop.build_model`) on a new chip, compile its logp with
  the numba backend and evaluate it once; the first two on the training labels (a model
  PyTensor has cached on disk, if it can cache it), the third on labels shuffled afresh, so
  that its compiled model is new to every cache.

Run:  .venv/bin/python benchmarks/chip_compile.py     (about 1 min of CPU)
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import Any

import numpy as np

VARIANTS = ("per-chip closure", "shared kernel")
STEPS = ("chip, first", "chip, second", "model, first", "model, second", "model, new labels")


def measure(variant: str) -> dict[str, float]:
    """CPU seconds of each step of :data:`STEPS` in this process for ``variant``."""
    import pytensor

    from limprob.chip import SimulatedChip
    from limprob.chip.simulated import check_query
    from limprob.data import load_table, split
    from limprob.models.chip_in_the_loop import build_model
    from limprob.snn import Network

    class ClosureChip:
        """The baseline: a simulated chip queried through its own compiled ``numba_run``
        only (no ``query_state``, so the Op calls ``numba_run`` from a closure)."""

        def __init__(self, *args: Any, **kwargs: Any) -> None:
            self.inner = SimulatedChip(*args, **kwargs)
            self.network, self.n_inputs, self.n_outputs = (
                self.inner.network,
                self.inner.n_inputs,
                self.inner.n_outputs,
            )
            self.noise, self.weight_bits = self.inner.noise, self.inner.weight_bits
            self.weight_range, self.numba_run = self.inner.weight_range, self.inner.numba_run

        @property
        def queries(self) -> int:
            return self.inner.queries

        def continue_from(self, queries: int) -> None:
            self.inner.continue_from(queries)

        def describe(self) -> dict:
            return self.inner.describe()

        def run(self, w_in: Any, w_out: Any, x: Any) -> np.ndarray:
            return self.numba_run(*check_query(self, w_in, w_out, x))

    kind = ClosureChip if variant == VARIANTS[0] else SimulatedChip
    train = split(load_table(), seed=0).train
    x = train["features"].values
    rng = np.random.default_rng(0)
    w_in, w_out = rng.normal(0, 1, (30, 16)), rng.normal(0, 1, (16, 2))

    def chip(seed: int) -> Any:
        return kind(30, 2, Network(), 1.0, seed, noise=0.1, weight_bits=6)

    # labels never seen before: a compiled model PyTensor cannot have cached
    unseen = np.random.default_rng(time.time_ns()).permutation(train["labels"].values)
    seconds = {}
    for step, seed in zip(STEPS[:2], (1, 2)):
        started = time.process_time()
        chip(seed).run(w_in, w_out, x)
        seconds[step] = time.process_time() - started
    for step, seed, labels in zip(
        STEPS[2:], (3, 4, 5), (train["labels"].values,) * 2 + (unseen,), strict=True
    ):
        started = time.process_time()
        with pytensor.config.change_flags(numba__fastmath=False):
            model = build_model(chip(seed), train.assign(labels=("obs", labels)))
            logp = model.compile_logp()
            logp({"W_in": w_in, "W_out": w_out})
        seconds[step] = time.process_time() - started
    return seconds


def in_fresh_process(variant: str) -> dict[str, float]:
    """:func:`measure` of ``variant`` in a new Python process."""
    out = subprocess.run(
        [sys.executable, __file__, "--measure", variant],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])


def main() -> None:
    """Warm the caches, time both variants in fresh processes, print them side by side."""
    in_fresh_process(VARIANTS[1])
    old, new = (in_fresh_process(v) for v in VARIANTS)
    print(f"{'CPU seconds':<18}{VARIANTS[0]:>18}{VARIANTS[1]:>16}{'ratio':>9}")
    for step in STEPS:
        print(f"{step:<18}{old[step]:>18.2f}{new[step]:>16.2f}{old[step] / new[step]:>8.1f}x")


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--measure":
        print(json.dumps(measure(sys.argv[2])))
    else:
        main()
