"""A chip on another host: :class:`RemoteChip` queries a :class:`~limprob.chip.server.
ChipServer` (``limprob chip serve``) over ZeroMQ and implements :class:`~limprob.chip.Chip`.

Connecting acquires the chip's lease (:mod:`limprob.chip.server`) under a random lease id and
reads the served chip's network, widths, noise, weight resolution and description. Each query
then carries the lease and the next query id ``0, 1, 2, ...``; a request whose connection
drops, or that gets no answer within ``timeout`` seconds, is sent again with the *same* id on a
fresh connection after a backoff of ``backoff * 2**k`` seconds (at most :data:`MAX_BACKOFF`),
so the server answers a query it already ran from its record, and the chip runs each query
once.

Reachable means connected: ZeroMQ's heartbeats (answered by the server's I/O thread while its
chip runs a long query) tell a live server from a dead or cut-off one. When no connection to
the server has been up for ``unavailable_after`` seconds during a request, it fails with
:class:`LimprobError` ``chip at HOST:PORT unreachable for S s``; a server that stays connected
but leaves ``retries + 1`` attempts unanswered for ``timeout`` seconds each (a stuck chip) fails
it too. The first contact waits at most ``min(unavailable_after, CONNECT_WITHIN)`` seconds, so a
wrong address is reported at once.

A query whose inputs ``x`` equal those of one of the last few sent (training presents the same
training split every time) names them by id instead of sending them again; the server keeps
them per lease (:data:`~limprob.chip.server.INPUTS_KEPT`) and asks for them if it has not.

A server restarted during a run has forgotten the lease: the client acquires it again under
the same id and sets the new server's query counter to its own
(:meth:`RemoteChip.continue_from`), so the counter (and a noisy chip's noise stream) go on as
if nothing had happened.

The token travels in every request; it is kept in this object only, never in
:meth:`describe`, the trace or a checkpoint. A ``RemoteChip`` cannot be pickled (a process
that wants the chip connects to it).
"""

from __future__ import annotations

import secrets
import time
from collections import OrderedDict
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

import numpy as np
import zmq
from numpy.typing import ArrayLike
from zmq.utils.monitor import recv_monitor_message

from limprob.chip import wire
from limprob.chip.server import INPUTS_KEPT, PROTOCOL, parse_address
from limprob.chip.simulated import check_query
from limprob.errors import LimprobError
from limprob.snn import Network

TIMEOUT = 30.0
"""Default seconds to wait for one answer on a live connection before asking again."""
RETRIES = 3
"""Default attempts of one request a connected server may leave unanswered beyond the first."""
UNAVAILABLE_AFTER = 60.0
"""Default seconds without a connection after which the chip is declared unreachable."""
CONNECT_WITHIN = 10.0
"""Most seconds the first contact waits (less if ``unavailable_after`` is less)."""
BACKOFF = 0.01
"""First pause (s) before a retry; doubled on each further retry."""
MAX_BACKOFF = 2.0
"""Longest pause between two retries (s)."""


class _InputsForgotten(Exception):
    """The server no longer holds the inputs a query named (it was restarted)."""


def connect(
    address: str, token_file: str | Path, *, unavailable_after: float = UNAVAILABLE_AFTER
) -> RemoteChip:
    """The :class:`RemoteChip` at ``address`` with the token read from the file
    ``token_file`` (:func:`~limprob.chip.server.read_token`)."""
    from limprob.chip.server import read_token

    return RemoteChip(address, read_token(token_file), unavailable_after=unavailable_after)


class RemoteChip:
    """The chip served at ``address`` (``HOST:PORT``) to holders of ``token``.

    Parameters
    ----------
    address : ``HOST:PORT`` of ``limprob chip serve``.
    token : the server's token (read it from a file: :func:`limprob.chip.server.read_token`).
    timeout : seconds to wait for one answer on a live connection before sending the request
        again (a query may take this long on the chip).
    retries : most such unanswered attempts of one request beyond the first (None: no limit);
        dropped connections do not count.
    unavailable_after : seconds without a connection to the server during a request after
        which :class:`LimprobError` says the chip is unreachable.
    backoff : the first pause before a retry (s), doubled on each further one.

    :class:`LimprobError` at construction if the server cannot be reached, refuses the token,
    or is leased to another client.
    """

    def __init__(
        self,
        address: str,
        token: str,
        *,
        timeout: float = TIMEOUT,
        retries: int | None = RETRIES,
        unavailable_after: float = UNAVAILABLE_AFTER,
        backoff: float = BACKOFF,
    ) -> None:
        self.host, self.port = parse_address(address)
        self.address = f"{self.host}:{self.port}"
        for name, value in (
            ("timeout", timeout),
            ("unavailable_after", unavailable_after),
            ("backoff", backoff),
        ):
            if not (value > 0 and np.isfinite(value)):
                raise LimprobError(
                    f"remote chip {name} must be a positive number of seconds, got {value}"
                )
        if retries is not None and (type(retries) is not int or retries < 0):
            raise LimprobError(f"remote chip retries must be an integer >= 0, got {retries}")
        if not token:
            raise LimprobError("a remote chip needs a non-empty token")
        self._token, self.timeout, self.retries = token, float(timeout), retries
        self.unavailable_after, self.backoff = float(unavailable_after), float(backoff)
        self.retried = 0
        """Requests sent again so far (an answer lost, a connection dropped)."""
        self.last_chip_seconds = np.nan
        """Seconds the last query took on the served chip, as its server measured them: the
        rest of the query's time is the transport's."""
        self._lease = secrets.token_hex(16)
        self._next_id = 0
        self._next_x_id = 0
        self._sent_inputs: OrderedDict[int, np.ndarray] = OrderedDict()
        self._x_frame: tuple[np.ndarray, ...] = ()
        self._context = zmq.Context()
        self._socket: zmq.Socket | None = None
        self._monitor: zmq.Socket | None = None
        self._poller: zmq.Poller | None = None
        self._up = False
        self._queries = 0
        try:
            self._acquire(within=min(self.unavailable_after, CONNECT_WITHIN))
        except BaseException:
            self.close(release=False)
            raise

    # -- the Chip protocol -------------------------------------------------------------------

    @property
    def queries(self) -> int:
        """Queries made of the served chip so far (its own count, as of the last answer)."""
        return self._queries

    @property
    def noise(self) -> float:
        """The served chip's declared membrane noise (units of the threshold)."""
        return self._info["noise"]

    @property
    def weight_bits(self) -> int | None:
        """The served chip's weight resolution in bits (None: continuous)."""
        return self._info["weight_bits"]

    @property
    def weight_range(self) -> float:
        """The served chip's weight converter range ``w_max``."""
        return self._info["weight_range"]

    def describe(self) -> dict:
        """The served chip's own description and ``chip_address`` (never the token)."""
        return {**self._info["describe"], "chip_address": self.address}

    def run(self, w_in: ArrayLike, w_out: ArrayLike, x: ArrayLike) -> np.ndarray:
        """One query on the served chip (checked here first): counts (obs, output), float64."""
        w_in, w_out, x = check_query(self, w_in, w_out, x)
        size = max(w_in.nbytes, w_out.nbytes, x.nbytes)
        if size > self._info["max_message_bytes"]:
            raise LimprobError(
                f"a query array of {size} bytes exceeds the limit of the chip "
                f"at {self.address} ({self._info['max_message_bytes']} bytes; "
                "its --max-message-bytes)"
            )
        query_id = self._next_id
        try:
            header, arrays = self._request(
                {"op": "query", "id": query_id, **self._inputs(x)},
                (w_in, w_out, *self._x_frame),
                query_id=query_id,
            )
        except _InputsForgotten:  # a restarted server: send the inputs themselves
            self._sent_inputs.clear()
            header, arrays = self._request(
                {"op": "query", "id": query_id, **self._inputs(x)},
                (w_in, w_out, *self._x_frame),
                query_id=query_id,
            )
        self._next_id += 1
        self.last_chip_seconds = float(header.get("chip_seconds", np.nan))
        counts = arrays[0] if len(arrays) == 1 else None
        if counts is None or counts.shape != (x.shape[0], self.n_outputs):
            raise LimprobError(
                f"chip at {self.address}: answered counts of shape "
                f"{None if counts is None else counts.shape}, not "
                f"{(x.shape[0], self.n_outputs)}"
            )
        return np.array(counts, dtype=np.float64)  # own the memory, writable

    def _inputs(self, x: np.ndarray) -> dict:
        """The query's reference to inputs the server holds (``x_ref``: equal to ``x``, element
        by element), or ``x_id`` with ``x`` to send (:attr:`_x_frame`)."""
        for x_id, sent in self._sent_inputs.items():
            if sent.shape == x.shape and np.array_equal(sent, x):
                self._x_frame = ()
                return {"x_ref": x_id}
        x_id = self._next_x_id
        self._next_x_id += 1
        self._sent_inputs[x_id] = x.copy()
        while len(self._sent_inputs) > INPUTS_KEPT:
            self._sent_inputs.popitem(last=False)
        self._x_frame = (x,)
        return {"x_id": x_id}

    def continue_from(self, queries: int) -> None:
        """Set the served chip's query counter (the index of a noisy chip's noise stream) to
        ``queries``, as a run resumed from a checkpoint needs."""
        self._request({"op": "continue", "queries": int(queries)})

    # -- connection ----------------------------------------------------------------------------

    def close(self, release: bool = True) -> None:
        """Release the lease (one attempt, short wait) and close the connection."""
        if release and self._socket is not None:
            try:
                self._socket.send_multipart(wire.encode(self._header({"op": "close"})))
                if self._socket.poll(1000):
                    self._socket.recv_multipart()
            except zmq.ZMQError:
                pass
        self._drop_socket()
        if not self._context.closed:
            self._context.term()

    def __enter__(self) -> RemoteChip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __getstate__(self) -> NoReturn:
        raise TypeError(
            "a RemoteChip holds a connection and cannot be pickled: connect to "
            f"{self.address} from the other process"
        )

    def __repr__(self) -> str:
        return (
            f"RemoteChip({self.address}, {self.n_inputs}-{self.network.n_hidden}-"
            f"{self.n_outputs}, queries={self._queries})"
        )

    def _acquire(self, within: float | None = None) -> None:
        header, _ = self._request({"op": "hello"}, within=within)
        hidden, steps, beta, theta, reset = header["network"]
        self.network = Network(int(hidden), int(steps), float(beta), float(theta), str(reset))
        self.n_inputs, self.n_outputs = int(header["n_inputs"]), int(header["n_outputs"])
        self._info = header
        self._queries = int(header["queries"])

    def _reacquire(self) -> None:
        """The server forgot the lease (restarted, or the lease expired): take it again and
        set the chip's counter to this run's."""
        queries = self._queries
        self._request({"op": "hello"}, lease_lost_ok=False)
        self._request({"op": "continue", "queries": queries}, lease_lost_ok=False)

    def _header(self, fields: dict) -> dict:
        return {"protocol": PROTOCOL, "token": self._token, "lease": self._lease, **fields}

    def _request(
        self,
        fields: dict,
        arrays: Sequence[np.ndarray] = (),
        *,
        query_id: int | None = None,
        within: float | None = None,
        lease_lost_ok: bool = True,
    ) -> tuple[dict, list[np.ndarray]]:
        """Send one request until it is answered: the answer's header and arrays, or
        :class:`LimprobError` if refused, if no connection to the server was up for ``within``
        seconds (default ``unavailable_after``), or if a connected server left ``retries + 1``
        attempts unanswered for ``timeout`` seconds each."""
        frames = wire.encode(self._header(fields), arrays)
        limit = self.unavailable_after if within is None else within
        down_since = None if self._up else time.monotonic()
        attempt = silent = 0
        while True:
            answer, down_since = self._attempt(frames, limit, down_since)
            if answer is not None:
                header, answer_arrays = answer
                if query_id is not None and header.get("id") not in (query_id, None):
                    continue  # a stale answer: ask again
                if header.get("ok"):
                    if "queries" in header:
                        self._queries = int(header["queries"])
                    return header, answer_arrays
                if header.get("code") == "lease" and lease_lost_ok:
                    self._reacquire()
                    continue
                if header.get("code") == "inputs":
                    raise _InputsForgotten()
                raise LimprobError(f"chip at {self.address}: {header.get('error')}")
            attempt += 1
            down = 0.0 if down_since is None else time.monotonic() - down_since
            if down >= limit:
                raise LimprobError(
                    f"chip at {self.address} unreachable for {down:.3g} s ({attempt} "
                    f"attempt(s) unanswered); check that 'limprob chip serve' runs there, then "
                    f"resume a --checkpoint run with limprob train --resume DIR"
                )
            if down_since is None:  # connected, but no answer within the timeout
                silent += 1
                if self.retries is not None and silent > self.retries:
                    raise LimprobError(
                        f"chip at {self.address} did not answer within {self.timeout:g} s, "
                        f"{silent} times; its chip may be stuck"
                    )
            self.retried += 1
            pause = min(self.backoff * 2 ** (attempt - 1), MAX_BACKOFF)
            time.sleep(pause if down_since is None else min(pause, limit - down))

    def _attempt(
        self, frames: list, limit: float, down_since: float | None
    ) -> tuple[tuple[dict, list[np.ndarray]] | None, float | None]:
        """Send ``frames`` once and wait for the answer: ``(answer, down_since)`` with the
        decoded answer, or None if the connection dropped, the ``timeout`` passed, or no
        connection was up for ``limit`` seconds since ``down_since`` (None: it is up). On a
        failure the socket is replaced, so no late answer is mistaken for a new one."""
        socket = self._connected()
        assert self._monitor is not None and self._poller is not None  # _connected made them
        while self._monitor.poll(0):  # connection events before this request
            down_since = self._event(down_since)
        if not self._up and down_since is None:
            down_since = time.monotonic()  # a new connection: down until it is up
        socket.send_multipart(frames)
        deadline = time.monotonic() + self.timeout
        poller = self._poller
        while True:
            now = time.monotonic()
            wait = deadline - now
            if down_since is not None:
                wait = min(wait, down_since + limit - now)
            if wait <= 0:
                break
            # pyzmq takes a float timeout (ms), though its stubs say int
            ready = dict(poller.poll(wait * 1000))  # type: ignore[arg-type]
            if socket in ready:
                try:
                    return wire.decode(socket.recv_multipart(copy=False), max_arrays=1), None
                except wire.WireError as error:
                    raise LimprobError(
                        f"chip at {self.address}: malformed answer ({error})"
                    ) from None
            if self._monitor in ready:
                was_up = down_since is None
                down_since = self._event(down_since)
                if was_up and down_since is not None:
                    break  # dropped: the request may be lost, ask again
        self._drop_socket()
        return None, down_since

    def _event(self, down_since: float | None) -> float | None:
        """Read one connection event: the new ``down_since`` (None once connected)."""
        assert self._monitor is not None  # called by _attempt once connected
        event = recv_monitor_message(self._monitor)["event"]
        if event == zmq.EVENT_CONNECTED:
            self._up = True
            return None
        if event == zmq.EVENT_DISCONNECTED:
            self._up = False
            return time.monotonic() if down_since is None else down_since
        return down_since

    def _connected(self) -> zmq.Socket:
        if self._socket is None:
            socket = self._context.socket(zmq.DEALER)
            socket.setsockopt(zmq.LINGER, 0)
            socket.setsockopt(zmq.RECONNECT_IVL, 50)
            socket.setsockopt(zmq.RECONNECT_IVL_MAX, 1000)
            # ZMTP heartbeats, answered by the server's I/O thread even while its chip runs:
            # a silent peer is a dropped connection after HEARTBEAT_TIMEOUT
            socket.setsockopt(zmq.HEARTBEAT_IVL, 1000)
            socket.setsockopt(zmq.HEARTBEAT_TIMEOUT, 5000)
            self._monitor = socket.get_monitor_socket(zmq.EVENT_CONNECTED | zmq.EVENT_DISCONNECTED)
            socket.connect(f"tcp://{self.host}:{self.port}")
            self._socket, self._up = socket, False
            self._poller = zmq.Poller()
            self._poller.register(socket, zmq.POLLIN)
            self._poller.register(self._monitor, zmq.POLLIN)
        return self._socket

    def _drop_socket(self) -> None:
        if self._socket is not None:
            assert self._monitor is not None  # made with the socket
            self._socket.disable_monitor()
            self._monitor.close(linger=0)
            self._socket.close(linger=0)
            self._socket = self._monitor = self._poller = None
            self._up = False
