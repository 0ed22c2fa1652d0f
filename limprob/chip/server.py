"""A chip served over the network: :class:`ChipServer` answers :class:`~limprob.chip.remote.
RemoteChip` clients' queries with any in-process :class:`~limprob.chip.Chip`.

The server is one thread around one ZeroMQ ``ROUTER`` socket (:mod:`limprob.chip.wire` gives
the messages), so queries run one at a time on the chip, in the order they arrive.

- **Token.** Every request carries the token, compared with :func:`hmac.compare_digest`
  (constant time); without it nothing runs and nothing is kept.
- **Lease.** A client acquires the chip with ``hello`` under a lease id of its choosing; every
  request renews it, ``close`` releases it, and it expires after ``lease_idle`` seconds without
  a request. While it is held, another lease is refused with one line naming the holder's
  address and since when it holds the chip.
- **Query ids.** A query carries ``(lease, id)``. The answers of the lease's last
  :data:`RECORD` ids are kept; a query whose id is in the record (a retry after a lost reply)
  is answered from it, never run or counted again. A query may name the inputs ``x`` of an
  earlier query of its lease (``x_ref``) instead of sending them again; the last
  :data:`INPUTS_KEPT` are kept. The record and these inputs are the server's only memory that
  grows with use, and both are bounded.
- **Refusals.** A message over ``max_message_bytes`` (any frame; ZeroMQ's ``MAXMSGSIZE``
  drops the sender's connection after reading only the frame's length), a malformed one, one
  with too many frames (drained and dropped frame by frame) or a bad token is refused with an
  error reply where the sender can still be answered; the server goes on.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zmq

from limprob.chip import wire
from limprob.chip.protocol import Chip
from limprob.errors import LimprobError

RECORD = 32
"""Answers kept per lease, by query id."""
INPUTS_KEPT = 4
"""Query inputs ``x`` kept per lease, so a query with the same inputs as an earlier one sends
only their id (training presents the same training split in every query)."""
MAX_MESSAGE_BYTES = 64 * 2**20
"""Default largest frame accepted (bytes): a query's inputs are one frame."""
LEASE_IDLE = 30.0
"""Default seconds without a request after which a lease expires (its holder, if still there,
takes it again at its next request: :mod:`limprob.chip.remote`)."""
MAX_FRAMES = 4
"""A request has at most a header and three arrays (W_in, W_out, x)."""
PROTOCOL = 1
"""Version of the request/answer exchange; a client of another version is refused."""

log = logging.getLogger("limprob")


def parse_address(address: str) -> tuple[str, int]:
    """``HOST:PORT`` as ``(host, port)``; :class:`LimprobError` if it is not one."""
    host, _, port = str(address).rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise LimprobError(f"chip address {address!r} is not HOST:PORT (a port 1..65535)")
    return host.strip("[]"), int(port)


def read_token(path: str | Path) -> str:
    """The token in the file ``path`` (surrounding whitespace stripped); :class:`LimprobError`
    if it is missing, unreadable or empty."""
    try:
        token = open(path, encoding="utf-8").read().strip()
    except (OSError, UnicodeDecodeError) as error:
        raise LimprobError(
            f"token file {path}: cannot read it "
            f"({getattr(error, 'strerror', None) or type(error).__name__})"
        ) from None
    if not token:
        raise LimprobError(f"token file {path}: is empty")
    return token


@dataclass
class Lease:
    """The chip's holder: its lease id, its address, when it began and was last heard from,
    the answers of its recent query ids (at most :data:`RECORD`) and the inputs its recent
    queries sent (at most :data:`INPUTS_KEPT`, by the client's input id)."""

    id: str
    peer: str
    since: float
    last: float
    answers: OrderedDict = field(default_factory=OrderedDict)
    inputs: OrderedDict = field(default_factory=OrderedDict)

    def holder(self) -> str:
        """Who holds the lease and since when, for a refusal message."""
        return (
            f"{self.peer} since {time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime(self.since))} UTC"
        )


class ChipServer:
    """Serve ``chip`` to clients holding ``token`` at ``tcp://host:port``.

    ``port`` 0 binds a free port (:attr:`port` says which). :meth:`serve` answers until
    :meth:`stop` (or a signal); :meth:`handle` answers one request's frames, for tests.
    """

    def __init__(
        self,
        chip: Chip,
        token: str,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        max_message_bytes: int = MAX_MESSAGE_BYTES,
        lease_idle: float = LEASE_IDLE,
    ) -> None:
        if not token:
            raise LimprobError("a chip server needs a non-empty token")
        self.chip, self._token = chip, token.encode()
        self.max_message_bytes, self.lease_idle = int(max_message_bytes), float(lease_idle)
        self.lease: Lease | None = None
        self.refused = 0
        """Requests refused so far (bad token, malformed, oversized frames it could answer)."""
        self._context = zmq.Context()
        self._socket = self._context.socket(zmq.ROUTER)
        self._socket.setsockopt(zmq.MAXMSGSIZE, self.max_message_bytes + wire.MAX_HEADER_BYTES)
        self._socket.setsockopt(zmq.RCVHWM, 64)
        self._socket.setsockopt(zmq.SNDHWM, 64)
        self._socket.setsockopt(zmq.LINGER, 0)
        self._socket.setsockopt(zmq.ROUTER_HANDOVER, 1)  # a reconnecting client's identity
        try:
            if port:
                self._socket.bind(f"tcp://{host}:{port}")
                self.port = port
            else:
                self.port = self._socket.bind_to_random_port(f"tcp://{host}")
        except zmq.ZMQError as error:
            self.close()
            raise LimprobError(f"cannot serve on {host}:{port}: {error}") from None
        self.host = host
        self._running = False

    def serve(
        self, ready: Callable[[], object] | None = None, stop: Callable[[], bool] | None = None
    ) -> None:
        """Answer requests until :meth:`stop` or until ``stop()`` (asked between requests and
        every 0.2 s) is true; ``ready()`` is called once listening."""
        self._running = True
        if ready is not None:
            ready()
        poller = zmq.Poller()
        poller.register(self._socket, zmq.POLLIN)
        while self._running and not (stop is not None and stop()):
            if not poller.poll(200):
                continue
            frames = self._receive()
            if frames is None:
                continue
            identity, request, peer = frames
            reply = self.handle(request, peer)
            try:
                self._socket.send_multipart([identity, *reply], copy=False, flags=zmq.NOBLOCK)
            except zmq.Again:  # the client is gone or not reading: its reply is dropped
                pass

    def stop(self) -> None:
        """Ask the serving loop to end after the request in hand."""
        self._running = False

    def close(self) -> None:
        """Close the socket and the ZeroMQ context."""
        self._socket.close(linger=0)
        self._context.term()

    def _receive(self) -> tuple[zmq.Frame, list[memoryview], str] | None:
        """One request: ``(identity, frames, peer address)``; None for a message of more than
        :data:`MAX_FRAMES` frames, drained frame by frame and answered with a refusal."""
        identity = self._socket.recv(copy=False)
        frames: list[zmq.Frame] = []
        too_many = False
        while self._socket.getsockopt(zmq.RCVMORE):
            frame = self._socket.recv(copy=False)
            if len(frames) < MAX_FRAMES:
                frames.append(frame)
            else:
                too_many = True
        peer = _peer_address(frames[0] if frames else identity)
        if too_many:
            self.refused += 1
            self._socket.send_multipart(
                [identity, *_error(f"more than {MAX_FRAMES} frames")], flags=zmq.NOBLOCK
            )
            return None
        return identity, [f.buffer for f in frames], peer

    def handle(self, frames: list, peer: str = "unknown") -> list:
        """The answer frames to one request's ``frames``."""
        try:
            header, arrays = wire.decode(frames, max_arrays=MAX_FRAMES - 1)
        except wire.WireError as error:
            self.refused += 1
            return _error(f"malformed request: {error}")
        token = header.get("token")
        if not isinstance(token, str) or not hmac.compare_digest(token.encode(), self._token):
            self.refused += 1
            return _error("refused: wrong or missing token")
        if header.get("protocol") != PROTOCOL:
            return _error(
                f"refused: the server speaks protocol {PROTOCOL}, the client "
                f"{header.get('protocol')!r}: use the same limprob on both sides"
            )
        op, lease_id, now = header.get("op"), header.get("lease"), time.monotonic()
        if self.lease is not None and now - self.lease.last > self.lease_idle:
            log.info(f"limprob chip: lease of {self.lease.peer} expired")
            self.lease = None
        if not isinstance(lease_id, str) or not 0 < len(lease_id) <= 64:
            return _error("malformed request: no lease id")
        if op == "hello":
            return self._hello(lease_id, peer, now)
        if self.lease is None or not hmac.compare_digest(lease_id, self.lease.id):
            held = f"the chip is leased by {self.lease.holder()}" if self.lease else "no lease"
            return _error(f"refused: lease {lease_id[:8]}... is not held ({held})", code="lease")
        self.lease.last = now
        if op == "query":
            return self._query(header, arrays)
        if op == "continue":
            queries = header.get("queries")
            if type(queries) is not int or queries < 0:
                return _error("malformed request: continue needs a query count >= 0")
            self.chip.continue_from(queries)
            return _ok(queries=self.chip.queries)
        if op == "close":
            self.lease = None
            return _ok(queries=self.chip.queries)
        return _error(f"malformed request: unknown operation {op!r}")

    def _hello(self, lease_id: str, peer: str, now: float) -> list:
        if self.lease is not None and self.lease.id != lease_id:
            return _error(
                f"refused: the chip is leased by {self.lease.holder()}; it is free "
                f"when that run ends or after {self.lease_idle:g} s idle",
                code="leased",
            )
        if self.lease is None:
            self.lease = Lease(lease_id, peer, time.time(), now)
            log.info(f"limprob chip: leased to {peer}")
        self.lease.last = now
        chip = self.chip
        network = chip.network
        return _ok(
            queries=chip.queries,
            n_inputs=chip.n_inputs,
            n_outputs=chip.n_outputs,
            network=[network.n_hidden, network.n_steps, network.beta, network.theta, network.reset],
            noise=float(chip.noise),
            weight_bits=chip.weight_bits,
            weight_range=float(chip.weight_range),
            describe={k: _json_safe(v) for k, v in chip.describe().items()},
            max_message_bytes=self.max_message_bytes,
            lease_idle=self.lease_idle,
        )

    def _query(self, header: dict, arrays: list) -> list:
        query_id = header.get("id")
        if type(query_id) is not int:
            return _error("malformed request: a query needs an integer id")
        assert self.lease is not None  # _handle checked it before passing the query on
        answers = self.lease.answers
        if query_id in answers:  # a retry: answered from the record, not run again
            return answers[query_id]
        inputs, x_ref, x_id = self.lease.inputs, header.get("x_ref"), header.get("x_id")
        if x_ref is not None:  # the inputs of an earlier query of this lease
            if x_ref not in inputs or len(arrays) != 2:
                return _error("the server does not hold those inputs", id=query_id, code="inputs")
            arrays = [*arrays, inputs[x_ref]]
        if len(arrays) != 3:
            return _error("malformed request: a query carries W_in, W_out and x")
        if type(x_id) is int:  # keep them for later queries
            inputs[x_id] = arrays[2]
            while len(inputs) > INPUTS_KEPT:
                inputs.popitem(last=False)
        try:
            started = time.perf_counter()
            counts = self.chip.run(*arrays)
            reply = _ok(
                id=query_id,
                queries=self.chip.queries,
                arrays=[counts],
                chip_seconds=time.perf_counter() - started,
            )
        except LimprobError as error:
            reply = _error(str(error), id=query_id)
        answers[query_id] = reply
        while len(answers) > RECORD:
            answers.popitem(last=False)
        return reply


def _ok(arrays: Sequence[np.ndarray] = (), **fields: Any) -> list:
    return wire.encode({"ok": True, **fields}, arrays)


def _error(message: str, **fields: Any) -> list:
    return wire.encode({"ok": False, "error": message, **fields})


def _peer_address(frame: zmq.Frame) -> str:
    try:
        return str(frame.get("Peer-Address"))  # a str: ZeroMQ's metadata property
    except (zmq.ZMQError, AttributeError, TypeError):
        return "unknown"


def _json_safe(value: Any) -> Any:
    return value.item() if isinstance(value, np.generic) else value
