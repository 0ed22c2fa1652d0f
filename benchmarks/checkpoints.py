"""What a checkpoint costs, what SIGKILL loses with one, and whether a resumed run is the
uninterrupted one (issue 14).

Trains ``limprob train``'s default configuration (30-16-2 on Wisconsin, 2 chains x (1,000
tuning + 1,000 draws), pCN, strength 1) without a checkpoint and with one
(``--checkpoint-every``, default 100), and prints the sampling time of each, the size of the
checkpoint and the time of one write. Then ``--kills`` times it runs the checkpointed
configuration in a subprocess whose chip kills the process with SIGKILL at a random query,
counts the steps the kill lost
(steps done when killed, less the steps in the checkpoint), resumes the run
(``limprob train --resume``) and checks that every array of every group of the resumed trace
equals the uninterrupted run's.

    .venv/bin/python benchmarks/checkpoints.py [--kills 3] [--every 100] [--seed 0]
"""

from __future__ import annotations

import argparse
import pickle
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import xarray as xr

from limprob.cli import main as limprob
from limprob.inference.training import TrainConfig

KILLED_AT = """
import os, signal, sys
from limprob.chip import SimulatedChip
from limprob.cli import main
import limprob.inference.training as training

class KilledAt:
    # the simulated chip through Python only (no numba_run), killed before query {after}
    def __init__(self, chip):
        self.chip = chip
        self.network, self.n_inputs, self.n_outputs = chip.network, chip.n_inputs, chip.n_outputs

    queries = property(lambda self: self.chip.queries)
    noise = property(lambda self: self.chip.noise)
    weight_bits = property(lambda self: self.chip.weight_bits)
    weight_range = property(lambda self: self.chip.weight_range)
    describe = lambda self: self.chip.describe()
    continue_from = lambda self, queries: self.chip.continue_from(queries)

    def run(self, w_in, w_out, x):
        if self.queries == {after}:
            os.kill(os.getpid(), signal.SIGKILL)
        return self.chip.run(w_in, w_out, x)

training.SimulatedChip = lambda *args, **kwargs: KilledAt(SimulatedChip(*args, **kwargs))
sys.exit(main({args}))
"""


def differing(a: xr.DataTree, b: xr.DataTree) -> list[str]:
    return [
        f"{node.path}:{name}"
        for node in a.subtree
        for name, values in node.to_dataset().data_vars.items()
        if not np.array_equal(values.values, b[node.path][name].values, equal_nan=True)
    ]


def steps_done(after: int, before: int, config: TrainConfig) -> int:
    """Steps completed, over all chains, when pCN on a deterministic chip is about to make
    query ``after``, ``before`` queries having been made before sampling (a chain's first
    step makes two queries, every other step one)."""
    total = config.mcmc.tune + config.mcmc.draws
    queries = after - before
    done = 0
    for _ in range(config.mcmc.chains):
        if queries < 2:
            return done
        in_chain = min(total, queries - 1)
        done += in_chain
        queries -= in_chain + 1
    return done


def seconds_per_write(checkpoint: Path, scratch: Path, repeats: int = 20) -> float:
    """The time of one write of a chain's last state and draws file, into ``scratch``."""
    from limprob.inference.checkpoint import Checkpoint

    source = Checkpoint(checkpoint, None, every=1, out=None)  # complete: open() refuses it
    progress = source.progress(0)
    first, draws = list(source.draws(0, progress))[-1]
    target = Checkpoint(scratch, None, every=1, out=None)
    scratch.mkdir()
    started = time.perf_counter()
    for _ in range(repeats):
        target.record(0, progress, first, draws)
    return (time.perf_counter() - started) / repeats


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--every", type=int, default=100)
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill queries")
    args = parser.parse_args()
    config = TrainConfig()
    folder = Path(tempfile.mkdtemp(prefix="limprob-checkpoints-"))
    common = ["train", "--no-progress"]

    timings = {}
    for name, extra in (
        ("plain", []),
        (
            "checkpointed",
            ["--checkpoint", str(folder / "ck"), "--checkpoint-every", str(args.every)],
        ),
    ):
        assert limprob([*common, *extra, "--out", str(folder / f"{name}.nc")]) == 0
        timings[name] = float(xr.open_datatree(folder / f"{name}.nc").attrs["wall_seconds"])
    size = sum(p.stat().st_size for p in (folder / "ck").iterdir())
    files = len(list((folder / "ck").iterdir()))
    print(
        f"sampling, {config.mcmc.chains} x ({config.mcmc.tune} + {config.mcmc.draws}) steps: "
        f"{timings['plain']:.1f} s without a checkpoint, {timings['checkpointed']:.1f} s "
        f"with one every {args.every} steps; the checkpoint holds {size / 1e6:.1f} MB in "
        f"{files} files"
    )
    print(
        f"one write (a chain's state and {args.every} draws): "
        f"{seconds_per_write(folder / 'ck', folder / 'scratch') * 1e3:.1f} ms"
    )
    plain = xr.open_datatree(folder / "plain.nc")
    before = int(plain.attrs["projection_chip_queries"] + plain.attrs["setup_chip_queries"])
    print(
        "checkpointed == plain in every array:",
        differing(plain, xr.open_datatree(folder / "checkpointed.nc")) == [],
    )

    total_queries = before + config.mcmc.chains * (config.mcmc.tune + config.mcmc.draws + 1)
    rng = np.random.default_rng(args.seed)
    for kill in range(args.kills):
        after = int(rng.integers(3, total_queries))
        checkpoint, out = folder / f"killed{kill}", folder / f"killed{kill}.nc"
        run = [
            *common,
            "--checkpoint",
            str(checkpoint),
            "--checkpoint-every",
            str(args.every),
            "--out",
            str(out),
        ]
        started = time.perf_counter()
        process = subprocess.run(
            [sys.executable, "-c", KILLED_AT.format(after=after, args=run)],
            capture_output=True,
            text=True,
            check=False,
        )
        killed_after = time.perf_counter() - started
        saved = 0
        for state in checkpoint.glob("chain-*.state"):
            with state.open("rb") as handle:
                saved += pickle.load(handle).steps
        done = steps_done(after, before, config)
        lost = done - saved
        assert limprob(["train", "--resume", str(checkpoint), "--no-progress"]) == 0
        same = differing(plain, xr.open_datatree(out)) == []
        print(
            f"kill {kill}: SIGKILL (exit {process.returncode}) at query {after} after "
            f"{killed_after:.1f} s: {done} steps done, {saved} in the "
            f"checkpoint, {lost} lost; resumed == uninterrupted in every array: {same}"
        )
    print(f"(files in {folder})")


if __name__ == "__main__":
    main()
