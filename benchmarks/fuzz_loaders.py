"""The long fuzz run of limprob's loaders: 100,000 mutated files (20,000 per kind by default).

    .venv/bin/python benchmarks/fuzz_loaders.py                  # 100,000 files, about 30 min
    .venv/bin/python benchmarks/fuzz_loaders.py --per-kind 1000  # 5,000 files, about 1.5 min

Runs the property of tests/test_fuzz_loaders.py (the same valid files, mutations and loaders)
with more examples: each file must load or be refused with one LimprobError line, never
another exception (the first one is raised, with the file Hypothesis shrank it to). Prints,
per kind, the files run, how many loaded and how many were refused, and the time.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from test_fuzz_loaders import EXAMPLES, build_corpus, fuzz


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-kind", type=int, default=20_000, help="files per kind")
    parser.add_argument("--kinds", nargs="+", choices=tuple(EXAMPLES), default=tuple(EXAMPLES))
    args = parser.parse_args()
    total = 0
    with tempfile.TemporaryDirectory() as folder:
        corpus = build_corpus(Path(folder))
        print(f"{'kind':9s} {'files':>7s} {'loaded':>7s} {'refused':>8s} {'seconds':>8s}")
        for kind in args.kinds:
            work = Path(folder) / f"work-{kind}"
            work.mkdir()
            outcomes = {}
            started = time.perf_counter()
            fuzz(kind, corpus, work, args.per_kind, outcomes)
            files = sum(outcomes.values())
            total += files
            print(
                f"{kind:9s} {files:7d} {outcomes.get('valid', 0):7d} "
                f"{outcomes.get('refused', 0):8d} {time.perf_counter() - started:8.1f}",
                flush=True,
            )
    print(f"{total} mutated files, no exception other than a one-line LimprobError")


if __name__ == "__main__":
    main()
