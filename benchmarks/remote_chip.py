"""Remote chip over loopback: the per-query overhead, and a run through a proxy that drops
connections.

1. Per-query time of a chip served by ``limprob chip serve`` (another process, 127.0.0.1)
   queried by :class:`~limprob.chip.remote.RemoteChip`, beside the same query of the same
   simulated chip in process, for Wisconsin (30-16-2) and digits (64-16-10): each query
   presents the whole training split, as training does. Median of ``--queries`` queries
   each, alternating one remote and one bare query so both see the same machine load; the
   overhead is the difference of the medians (target: <= 1 ms for Wisconsin). The server
   also reports how long each query took on its chip, so the transport's own share (remote
   minus served, per query) is printed apart: on a machine shared with other work the chip's
   time in another process moves with the load, the transport's much less.
2. A training run of about ``--run-queries`` chip queries (default 10,000; pCN, one query a
   step, on a 30-4-2 chip of 8 steps with membrane noise, so that a query counted twice would
   change the noise of every later one) through a TCP proxy that cuts 5 % of the query
   exchanges at random, half before the request reaches the server and half after the chip ran
   it (the answer lost): the trace must equal the in-process run's bit for bit, and the
   served chip's own query count must equal the trace's.

Run:  .venv/bin/python benchmarks/remote_chip.py                       (about 3-4 min)
      .venv/bin/python benchmarks/remote_chip.py --run-queries 2000    (about 1 min)
"""

from __future__ import annotations

import argparse
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path

import numpy as np

from limprob.chip import SimulatedChip
from limprob.chip.remote import RemoteChip
from limprob.data import load_dataset, split
from limprob.models.defaults import dataset_network
from limprob.snn import Network

TOKEN = "benchmark-token"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(token_file: Path, args: list[str]) -> tuple[subprocess.Popen, int]:
    """``limprob chip serve`` on a free port, once it listens."""
    port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "limprob",
            "chip",
            "serve",
            "--port",
            str(port),
            "--token-file",
            str(token_file),
            *args,
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    line = process.stdout.readline()
    if not line.startswith("serving"):
        raise SystemExit(f"the server did not start: {process.stderr.read()}")
    return process, port


def stop(process: subprocess.Popen) -> int:
    """Stop a server; the query count its last line reports."""
    process.terminate()
    _, err = process.communicate(timeout=60)
    return int(err.rsplit("stopped after ", 1)[1].split()[0])


def overhead(dataset: str, token_file: Path, queries: int) -> dict:
    table = load_dataset(dataset)
    x = split(table, seed=0).train["features"].values
    hidden = dataset_network(dataset)["n_hidden"]
    process, port = serve(token_file, ["--dataset", dataset, "--strength", "1"])
    local = SimulatedChip(table.sizes["feature"], table.sizes["class"], Network(hidden), 1.0, 0)
    rng = np.random.default_rng(0)
    w_in = rng.standard_normal((local.n_inputs, hidden))
    w_out = rng.standard_normal((hidden, local.n_outputs))
    remote_times, bare_times, served_times = [], [], []
    with RemoteChip(f"127.0.0.1:{port}", TOKEN) as remote:
        for chip in (remote, local, remote, local):  # compile, warm up
            chip.run(w_in, w_out, x)
        for _ in range(queries):  # alternating, so both see the same load of the machine
            for chip, times in ((remote, remote_times), (local, bare_times)):
                started = time.perf_counter()
                chip.run(w_in, w_out, x)
                times.append(time.perf_counter() - started)
            served_times.append(remote.last_chip_seconds)
        assert np.array_equal(remote.run(w_in, w_out, x), local.run(w_in, w_out, x))
    stop(process)
    remote_ms = 1e3 * statistics.median(remote_times)
    bare_ms = 1e3 * statistics.median(bare_times)
    transport = 1e3 * np.array(remote_times) - 1e3 * np.array(served_times)
    return {
        "network": f"{local.n_inputs}-{hidden}-{local.n_outputs}",
        "obs": x.shape[0],
        "bare_ms": bare_ms,
        "remote_ms": remote_ms,
        "overhead_ms": remote_ms - bare_ms,
        "ratio": remote_ms / bare_ms,
        "served_ms": 1e3 * statistics.median(served_times),
        "transport_ms": float(np.median(transport)),
        "transport_p10_ms": float(np.percentile(transport, 10)),
    }


class DroppingProxy:
    """A TCP proxy from a free loopback port to ``upstream`` that, whenever the traffic on a
    connection turns round (a request ends and its answer begins, or the other way round),
    cuts the connection with probability ``rate / 2``: about ``rate`` of the query exchanges
    are cut, half before the server reads the request, half after the chip ran it."""

    def __init__(self, upstream: int, rate: float, seed: int):
        self.upstream, self.rate = upstream, rate
        self.rng = np.random.default_rng(seed)
        self.cuts = 0
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            threading.Thread(target=self._pump, args=(client, server), daemon=True).start()

    def _cut(self) -> bool:
        with self.lock:
            cut = self.rng.random() < self.rate / 2
            self.cuts += cut
            return cut

    def _pump(self, client, server):
        import selectors

        selector = selectors.DefaultSelector()
        selector.register(client, selectors.EVENT_READ, server)
        selector.register(server, selectors.EVENT_READ, client)
        last = None
        try:
            while True:
                for key, _ in selector.select():
                    data = key.fileobj.recv(1 << 16)
                    if not data:
                        return
                    if last is not None and key.fileobj is not last and self._cut():
                        return
                    last = key.fileobj
                    key.data.sendall(data)
        except OSError:
            return
        finally:
            selector.close()
            client.close()
            server.close()

    def close(self):
        self.listener.close()


def arrays_equal(a, b) -> list[str]:
    return [
        f"{node.path}:{name}"
        for node in a.subtree
        for name, values in node.to_dataset().data_vars.items()
        if not np.array_equal(values.values, b[node.path][name].values, equal_nan=True)
    ]


def dropped_run(token_file: Path, queries: int, rate: float) -> dict:
    from limprob.chip.settings import ChipSettings
    from limprob.data import load_table
    from limprob.inference.training import (
        EvaluationSettings,
        MCMCSettings,
        TrainConfig,
        train,
    )

    tune = max(queries // 10, 10)
    config = TrainConfig(
        network=Network(n_hidden=4, n_steps=8),
        chip=ChipSettings(noise=0.1),
        mcmc=MCMCSettings(chains=2, tune=tune, draws=queries // 2 - tune),
        evaluation=EvaluationSettings(predictive_draws=6, train_fraction=0.2),
    )
    table = load_table()
    started = time.perf_counter()
    in_process = train(config, table, progressbar=False)
    in_process_seconds = time.perf_counter() - started
    process, port = serve(token_file, ["--hidden", "4", "--time-steps", "8", "--noise", "0.1"])
    proxy = DroppingProxy(port, rate, seed=1)
    address = f"127.0.0.1:{proxy.port}"
    started = time.perf_counter()
    with RemoteChip(address, TOKEN) as chip:
        served = replace(config, chip=replace(config.chip, address=address))
        remote = train(served, table, chip=chip, progressbar=False)
        retried = chip.retried
    remote_seconds = time.perf_counter() - started
    proxy.close()
    served = stop(process)
    counted = sum(int(v) for k, v in remote.attrs.items() if k.endswith("chip_queries"))
    return {
        "training_queries": int(remote.attrs["training_chip_queries"]),
        "trace_queries": counted,
        "served_queries": served,
        "cuts": proxy.cuts,
        "retried": retried,
        "differing": arrays_equal(remote, in_process),
        "in_process_s": in_process_seconds,
        "remote_s": remote_seconds,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--queries",
        type=int,
        default=500,
        help="timed queries per chip and data set (default %(default)s)",
    )
    parser.add_argument(
        "--run-queries",
        type=int,
        default=10_000,
        help="chip queries of the run through the proxy (default %(default)s)",
    )
    parser.add_argument(
        "--drop-rate",
        type=float,
        default=0.05,
        help="fraction of query exchanges cut (default %(default)s)",
    )
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as folder:
        token_file = Path(folder) / "token"
        token_file.write_text(TOKEN)
        print(
            f"per-query time over loopback, median of {args.queries} queries "
            "(whole training split per query)"
        )
        print(
            f"{'data set':10s} {'network':>9s} {'obs':>5s} {'bare ms':>8s} {'remote ms':>10s} "
            f"{'overhead ms':>12s} {'ratio':>6s} {'served ms':>10s} {'transport ms':>13s} "
            f"{'(p10)':>6s}"
        )
        for dataset in ("wisconsin", "digits"):
            r = overhead(dataset, token_file, args.queries)
            print(
                f"{dataset:10s} {r['network']:>9s} {r['obs']:5d} {r['bare_ms']:8.3f} "
                f"{r['remote_ms']:10.3f} {r['overhead_ms']:12.3f} {r['ratio']:6.2f} "
                f"{r['served_ms']:10.3f} {r['transport_ms']:13.3f} "
                f"{r['transport_p10_ms']:6.3f}"
            )
        print(
            "bare: the query in process; remote: through the server; overhead: remote - bare;"
            "\nserved: the query's time on the served chip, measured by the server; "
            "transport: remote - served per query (median, and its 10th percentile)"
        )
        r = dropped_run(token_file, args.run_queries, args.drop_rate)
        print(
            f"\nrun of {r['training_queries']} training queries ({r['trace_queries']} in all) "
            f"through a proxy cutting {args.drop_rate:.0%} of exchanges: {r['cuts']} cuts, "
            f"{r['retried']} requests sent again"
        )
        print(
            f"trace bit-identical to the in-process run: {not r['differing']}"
            f"{'' if not r['differing'] else ' (differ: ' + ', '.join(r['differing']) + ')'}"
        )
        print(
            f"chip's own query count {r['served_queries']} = trace's {r['trace_queries']}: "
            f"{r['served_queries'] == r['trace_queries']}"
        )
        print(
            f"wall time: in process {r['in_process_s']:.1f} s, remote through the proxy "
            f"{r['remote_s']:.1f} s"
        )
        if r["differing"] or r["served_queries"] != r["trace_queries"]:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
