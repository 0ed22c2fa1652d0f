"""A chip served over the network: a real ``limprob chip serve`` process on loopback, started
and stopped by the tests, queried by :class:`RemoteChip`, by raw ZeroMQ sockets and by raw TCP,
and trained on by ``limprob train --chip-address``."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import xarray as xr
import zmq

from limprob.chip import SimulatedChip, wire
from limprob.chip.remote import RemoteChip
from limprob.chip.server import PROTOCOL, RECORD
from limprob.cli import main
from limprob.errors import LimprobError
from limprob.snn import Network

TOKEN = "s3cret-token-for-tests"
CHIP = ["--hidden", "4", "--steps", "8", "--noise", "0.1"]
"""The served chip: 30-4-2 with 8 steps, noisy (its noise depends on the query count)."""
TRAIN = [
    "--init",
    "prior",
    "--train-fraction",
    "0.2",
    "--no-progress",
    "--draws",
    "60",
    "--tune",
    "20",
    "--chains",
    "2",
    "--predictive-draws",
    "6",
    "--repeats",
    "2",
]
MAX_BYTES = 200_000
"""The test server's frame limit: above a query's inputs at 20 % of Wisconsin's training set."""


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Server:
    """``limprob chip serve`` in a subprocess on a free loopback port, ready when started."""

    def __init__(self, token_file: Path, port: int | None = None, extra=()):
        self.port = port or free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "limprob",
                "chip",
                "serve",
                "--port",
                str(self.port),
                "--token-file",
                str(token_file),
                "--max-message-bytes",
                str(MAX_BYTES),
                *CHIP,
                *extra,
            ],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        line = self.process.stdout.readline()  # the one line it prints when listening
        assert line.startswith("serving SimulatedChip(30-4-2"), (line, self.process.stderr.read())

    def rss(self) -> int:
        """The server's resident memory (bytes)."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        line = next(line for line in status.splitlines() if line.startswith("VmRSS"))
        return int(line.split()[1]) * 1024

    def alive(self) -> bool:
        return self.process.poll() is None

    def stop(self, signum=signal.SIGTERM) -> int:
        if self.alive():
            self.process.send_signal(signum)
        code = self.process.wait(timeout=30)
        self.process_stderr = self.process.stderr.read()
        self.process.stdout.close()
        self.process.stderr.close()
        return code


@pytest.fixture(scope="module")
def token_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("token") / "token"
    path.write_text(TOKEN + "\n")
    return path


@pytest.fixture(scope="module")
def server(token_file):
    server = Server(token_file, extra=["--lease-idle", "600"])
    yield server
    assert server.alive()  # nothing the tests sent brought it down
    assert server.stop() == 143


def raw_request(address: str, header: dict, arrays=(), *, wait: float = 10.0):
    """One request from a raw ZeroMQ socket: the answer's header, or None if none came."""
    context = zmq.Context.instance()
    with context.socket(zmq.DEALER) as sock:
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(f"tcp://{address}")
        frames = header if isinstance(header, list) else wire.encode(header, arrays)
        sock.send_multipart(frames)
        if not sock.poll(wait * 1000):
            return None
        return wire.decode(sock.recv_multipart(), max_arrays=1)[0]


def query_arrays(rows: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(30, 4)), rng.normal(size=(4, 2)), rng.uniform(size=(rows, 30))


def test_a_remote_chip_answers_as_the_same_chip_in_process(server):
    local = SimulatedChip(30, 2, Network(4, 8), 1.0, 0, noise=0.1)
    with RemoteChip(server.address, TOKEN) as remote:
        local.continue_from(remote.queries)
        for seed in range(3):
            assert np.array_equal(
                remote.run(*query_arrays(seed=seed)), local.run(*query_arrays(seed=seed))
            )
        assert remote.queries == local.queries
        assert (remote.noise, remote.weight_bits, remote.weight_range) == (0.1, None, 2.0)
        described = remote.describe()
        assert described == {**local.describe(), "chip_address": server.address}
        assert TOKEN not in repr(described) and TOKEN not in repr(remote)
        with pytest.raises(LimprobError, match="NaN"):
            remote.run(*query_arrays()[:2], np.full((3, 30), np.nan))


def test_a_wrong_or_missing_token_runs_nothing(server):
    with pytest.raises(LimprobError, match="wrong or missing token"):
        RemoteChip(server.address, "not-the-token")
    for header in (
        {"protocol": PROTOCOL, "op": "hello", "lease": "x"},
        {"protocol": PROTOCOL, "op": "hello", "lease": "x", "token": 7},
        {"protocol": PROTOCOL, "op": "query", "lease": "x", "id": 0, "token": TOKEN[:-1]},
    ):
        answer = raw_request(server.address, header)
        assert answer["ok"] is False and "wrong or missing token" in answer["error"]
    with RemoteChip(server.address, TOKEN) as remote:  # still serving
        remote.run(*query_arrays())


def test_garbage_and_oversized_requests_are_refused_without_growing_the_server(server):
    with RemoteChip(server.address, TOKEN) as remote:
        remote.run(*query_arrays())
        with pytest.raises(LimprobError, match="exceeds the limit"):
            remote.run(*query_arrays(rows=1000))  # 240 kB of inputs: refused before sending
    rss = server.rss()
    rng = np.random.default_rng(1)
    for _ in range(20):
        # bytes that are not ZeroMQ at all: the handshake fails, the connection is dropped
        with socket.create_connection(("127.0.0.1", server.port), timeout=5) as raw:
            raw.sendall(rng.bytes(4096))
        # ZeroMQ messages that are not limprob's: a refusal each
        for frames in (
            [b"\xff\xfe not json"],
            [b"[1, 2]"],
            [b"{}", b"12345"],
            [wire.encode({"token": TOKEN})[0], b"x", b"y", b"z", b"w", b"v"],
            wire.encode(
                {"token": TOKEN, "protocol": PROTOCOL, "lease": "x", "op": "query", "id": 1},
                [np.zeros((2, 2))],
            )[:1]
            + [b"short"],
        ):
            answer = raw_request(server.address, frames)
            assert answer["ok"] is False, frames
            assert "malformed" in answer["error"] or "frames" in answer["error"]
        # a frame over the limit: the server drops the connection after reading its length
        assert raw_request(server.address, [b"{}", bytes(MAX_BYTES + 10_000)], wait=1) is None
    assert server.alive()
    assert server.rss() - rss < 20 * 2**20  # no memory kept for what it refused
    with RemoteChip(server.address, TOKEN) as remote:
        remote.run(*query_arrays())


def test_a_second_client_is_refused_while_the_lease_is_held(server):
    with RemoteChip(server.address, TOKEN) as first:
        with pytest.raises(LimprobError, match=r"leased by 127\.0\.0\.1 since .* UTC"):
            RemoteChip(server.address, TOKEN)
        first.run(*query_arrays())
    with RemoteChip(server.address, TOKEN) as second:  # released at close
        second.run(*query_arrays())


def test_a_retried_query_is_answered_from_the_record_not_run_again(server):
    lease = {"protocol": PROTOCOL, "token": TOKEN, "lease": "retry-test-lease"}
    hello = raw_request(server.address, {**lease, "op": "hello"})
    before = hello["queries"]
    query = wire.encode({**lease, "op": "query", "id": 0}, query_arrays())
    # a client that disconnects mid-query: sends, and closes without reading the answer
    context = zmq.Context.instance()
    gone = context.socket(zmq.DEALER)
    gone.connect(f"tcp://{server.address}")
    gone.send_multipart(query)
    time.sleep(0.5)
    gone.close(linger=0)
    # the same query id again, as a retry on a new connection: answered, not run again
    answer = raw_request(server.address, query)
    assert answer["ok"] and answer["id"] == 0 and answer["queries"] == before + 1
    again = raw_request(server.address, query)
    assert again["queries"] == before + 1
    fresh = raw_request(
        server.address, wire.encode({**lease, "op": "query", "id": 1}, query_arrays())
    )
    assert fresh["queries"] == before + 2
    # the record is bounded: an id older than the last RECORD is run again
    for query_id in range(2, RECORD + 2):
        raw_request(
            server.address, wire.encode({**lease, "op": "query", "id": query_id}, query_arrays())
        )
    old = raw_request(server.address, query)
    assert old["queries"] == before + 2 + RECORD + 1
    assert raw_request(server.address, {**lease, "op": "close"})["ok"]


def test_a_server_restarted_within_the_limit_goes_on_with_the_runs_count(token_file):
    server = Server(token_file)
    local = SimulatedChip(30, 2, Network(4, 8), 1.0, 0, noise=0.1)
    remote = RemoteChip(server.address, TOKEN, unavailable_after=120)
    try:
        for seed in range(3):
            assert np.array_equal(
                remote.run(*query_arrays(seed=seed)), local.run(*query_arrays(seed=seed))
            )
        server.process.kill()
        server.process.wait()
        server = Server(token_file, port=server.port)  # a new chip process, counting from 0
        # the client takes the lease again and sets the counter: the noise goes on as in process
        assert np.array_equal(remote.run(*query_arrays(seed=3)), local.run(*query_arrays(seed=3)))
        assert remote.queries == local.queries == 4
    finally:
        remote.close()
        server.stop()


def test_an_unreachable_chip_is_one_line_after_the_limit():
    started = time.monotonic()
    with pytest.raises(LimprobError, match=r"chip at 127\.0\.0\.1:\d+ unreachable for"):
        RemoteChip(f"127.0.0.1:{free_port()}", TOKEN, unavailable_after=0.5, timeout=0.2)
    assert time.monotonic() - started < 5


def test_serve_defaults_are_trains():
    from limprob.cli import build_parser
    from limprob.inference.training import TrainConfig

    serve = build_parser().parse_args(["chip", "serve", "--port", "1", "--token-file", "t"])
    train = build_parser().parse_args(["train", "--out", "run.nc"])
    chip, network = TrainConfig().chip, TrainConfig().network
    assert (serve.strength, serve.chip_seed, serve.noise, serve.weight_bits) == (
        chip.strength,
        chip.seed,
        chip.noise,
        chip.weight_bits,
    )
    assert (serve.time_steps, serve.reset) == (network.n_steps, network.reset)
    assert (train.chip_strength, train.chip_seed) == (serve.strength, serve.chip_seed)


def arrays_equal(a: xr.DataTree, b: xr.DataTree) -> list[str]:
    """The variables (``group:name``) whose values differ between two traces."""
    assert {n.path for n in a.subtree} == {n.path for n in b.subtree}
    return [
        f"{node.path}:{name}"
        for node in a.subtree
        for name, values in node.to_dataset().data_vars.items()
        if not np.array_equal(values.values, b[node.path][name].values, equal_nan=True)
    ]


@pytest.fixture(scope="module")
def in_process_trace(tmp_path_factory):
    out = tmp_path_factory.mktemp("reference") / "in_process.nc"
    assert main(["train", *TRAIN, *CHIP, "--out", str(out)]) == 0
    return xr.load_datatree(out)


def test_a_trace_trained_through_the_server_equals_the_in_process_one(
    token_file, in_process_trace, tmp_path
):
    server = Server(token_file)  # a fresh chip: its query count starts at 0, as in process
    try:
        out = tmp_path / "remote.nc"
        assert (
            main(
                [
                    "train",
                    *TRAIN,
                    "--chip-address",
                    server.address,
                    "--chip-token-file",
                    str(token_file),
                    "--out",
                    str(out),
                ]
            )
            == 0
        )
        remote = xr.load_datatree(out)
        assert arrays_equal(remote, in_process_trace) == []
        assert remote.attrs["chip_address"] == server.address
        assert remote.attrs["chip"] == "SimulatedChip" and remote.attrs["chip_noise"] == 0.1
        assert TOKEN not in out.read_bytes().decode("latin-1")
        queries = [remote.attrs[name] for name in remote.attrs if name.endswith("chip_queries")]
        assert sum(queries) > 0
    finally:
        assert server.stop() == 143
    served = int(server_queries(server))
    assert served == sum(queries)  # every query of the run ran once on the chip


def server_queries(server) -> str:
    """The query count a stopped server reported on its last line."""
    return server.process_stderr.rsplit("stopped after ", 1)[1].split()[0]


def test_a_killed_server_then_a_resumed_run_gives_the_uninterrupted_trace(
    token_file, in_process_trace, tmp_path
):
    checkpoint, out = tmp_path / "ck", tmp_path / "resumed.nc"
    server = Server(token_file)
    run = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "limprob",
            "train",
            *TRAIN,
            "--chip-address",
            server.address,
            "--chip-token-file",
            str(token_file),
            "--chip-unavailable-after",
            "2",
            "--checkpoint",
            str(checkpoint),
            "--checkpoint-every",
            "10",
            "--out",
            str(out),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 300
    while not (checkpoint / "chain-0.state").exists() and time.monotonic() < deadline:
        time.sleep(0.01)
    server.process.kill()  # mid-run: chain 0's first write is at step 10 of 80
    server.process.wait()
    _, stderr = run.communicate(timeout=300)
    assert run.returncode == 2
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"limprob: error: chip at {server.address} unreachable for")
    assert not out.exists()
    assert TOKEN not in (checkpoint / "checkpoint.json").read_text()

    restarted = Server(token_file, port=server.port)
    try:
        assert main(["train", "--resume", str(checkpoint), "--no-progress"]) == 2  # no token
        assert (
            main(
                [
                    "train",
                    "--resume",
                    str(checkpoint),
                    "--no-progress",
                    "--chip-token-file",
                    str(token_file),
                ]
            )
            == 0
        )
    finally:
        restarted.stop()
    resumed = xr.load_datatree(out)
    assert resumed.attrs["resumed"] == 1 and resumed.attrs["resumed_steps"] > 0
    assert arrays_equal(resumed, in_process_trace) == []


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--strength", "0.5"], "--strength describe the simulated chip"),
        (["--noise", "0.2", "--chip-seed", "3"], "--chip-seed, --noise describe"),
        (["--cores", "2"], "one core"),
    ],
)
def test_a_served_chip_refuses_the_simulated_chips_options(
    token_file, server, tmp_path, capsys, extra, message
):
    out = tmp_path / "run.nc"
    assert (
        main(
            [
                "train",
                "--chip-address",
                server.address,
                "--chip-token-file",
                str(token_file),
                *extra,
                "--out",
                str(out),
            ]
        )
        == 2
    )
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not out.exists() and not list(tmp_path.iterdir())


def test_bad_remote_chip_input_is_one_line_and_exit_2(token_file, tmp_path, capsys):
    out = tmp_path / "run.nc"
    cases = [
        (
            [
                "--chip-address",
                f"127.0.0.1:{free_port()}",
                "--chip-token-file",
                str(token_file),
                "--chip-unavailable-after",
                "0.5",
            ],
            "unreachable for",
        ),
        (
            ["--chip-address", "127.0.0.1:1", "--chip-token-file", str(tmp_path / "none")],
            "cannot read it",
        ),
        (["--chip-address", "nowhere", "--chip-token-file", str(token_file)], "HOST:PORT"),
        (["--chip-address", "127.0.0.1:1"], "needs --chip-token-file"),
        (["--chip-token-file", str(token_file)], "go with --chip-address"),
    ]
    for args, message in cases:
        assert main(["train", *args, "--out", str(out)]) == 2, args
        err = capsys.readouterr().err.strip()
        assert len(err.splitlines()) == 1 and message in err, (args, err)
        assert not list(tmp_path.iterdir())
    assert (
        main(["chip", "serve", "--port", str(free_port()), "--token-file", str(tmp_path / "none")])
        == 2
    )
    assert "cannot read it" in capsys.readouterr().err
