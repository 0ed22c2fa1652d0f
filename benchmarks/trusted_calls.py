"""One mini-batch step of backprop, with and without PyTensor's input checks, side by side.

Backprop (:mod:`limprob.inference.backprop`) and the surrogate twin's fit call their compiled
functions through :func:`limprob.inference.trusted.without_input_checks`. This script times the
same step both ways in one run, alternating, on a Yin-Yang-sized batch (32 samples, 4-16-3,
32 steps): the ideal model's and the distorted model's loss and gradient. It checks that the
two calls return the same arrays, bit for bit, and prints the CPU milliseconds per call of
each, the best of ``--rounds`` rounds of ``--calls`` calls, and their ratio.

    .venv/bin/python benchmarks/trusted_calls.py [--calls 2000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from limprob.inference.backprop import compiled_distorted_network, compiled_network


def per_call_ms(function: Callable, args: tuple, calls: int) -> float:
    """CPU milliseconds per call of ``function(*args)`` over ``calls`` calls."""
    started = time.process_time()
    for _ in range(calls):
        function(*args)
    return (time.process_time() - started) / calls * 1e3


def cases(seed: int = 0) -> dict[str, tuple[Callable, tuple]]:
    """The checked function and its arguments, per model (the trusted one is its wrapper)."""
    rng = np.random.default_rng(seed)
    n_obs, n_in, n_hidden, n_out, n_steps = 32, 4, 16, 3, 32
    x = rng.random((n_obs, n_in))
    y = rng.integers(0, n_out, n_obs)
    w_in, w_out = rng.normal(size=(n_in, n_hidden)), rng.normal(size=(n_hidden, n_out))
    ideal = compiled_network().loss_and_gradient
    distortion = (
        np.ones((n_in, n_hidden)),
        np.ones((n_hidden, n_out)),
        0.5,
        np.full(n_hidden, 0.9),
        np.ones(n_hidden),
        np.full(n_out, 0.9),
        np.ones(n_out),
    )
    noise = (np.zeros((n_steps, n_obs, n_hidden)), np.zeros((n_steps, n_obs, n_out)))
    distorted = compiled_distorted_network().loss_and_gradient
    return {
        "ideal model": (
            ideal,
            (x, y, w_in, w_out, 0.9, 1.0, 5.0, 8.0, n_steps, np.zeros((n_obs, n_out)), 0.0),
        ),
        "distorted model": (
            distorted,
            (x, y, w_in, w_out, *distortion, 5.0, 8.0, *noise, 2.0, 1.0, 0.0),
        ),
    }


def checked(trusted: Callable) -> Callable:
    """The same compiled function with PyTensor's input checks back on."""
    function = trusted.function  # type: ignore[attr-defined]

    def call(*args):
        function.trust_input = False
        try:
            return function(*args)
        finally:
            function.trust_input = True

    return call


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args(argv)
    print(f"CPU ms per call, best of {args.rounds} rounds of {args.calls} calls")
    print(f"{'model':<16} {'checked':>9} {'trusted':>9} {'ratio':>7}  same results")
    for name, (trusted, call_args) in cases().items():
        with_checks = checked(trusted)
        same = all(
            np.array_equal(a, b)
            for a, b in zip(with_checks(*call_args), trusted(*call_args), strict=True)
        )
        slow, fast = np.inf, np.inf
        for _ in range(args.rounds):
            slow = min(slow, per_call_ms(with_checks, call_args, args.calls))
            fast = min(fast, per_call_ms(trusted, call_args, args.calls))
        print(f"{name:<16} {slow:9.3f} {fast:9.3f} {slow / fast:6.2f}x  {same}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
