"""The messages a remote chip and its server exchange (:mod:`limprob.chip.remote`,
:mod:`limprob.chip.server`), over ZeroMQ.

A message is a multipart ZeroMQ message: one header frame, then one frame per array.

- the header is a JSON object in UTF-8 of at most :data:`MAX_HEADER_BYTES` bytes; a request's
  names the operation (``op``), carries the token, the lease and the request id, and lists the
  arrays that follow as ``{"shape": [...], "dtype": "<f8"}``;
- each array travels as its raw bytes, little-endian float64 (``<f8``), C order: nothing is
  ever unpickled, and a frame whose length does not match its declared shape is refused.

:func:`decode` refuses anything else with :class:`WireError`, whose message the server sends
back; it never raises anything else on any input.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

MAX_HEADER_BYTES = 4096
"""Largest header frame accepted (bytes)."""
DTYPE = "<f8"
"""The one array type on the wire: little-endian float64."""
MAX_DIMS = 4
"""Most dimensions of an array on the wire."""


class WireError(ValueError):
    """A message that is not a well-formed limprob chip message; the text says why."""


def encode(header: dict, arrays: Sequence[np.ndarray] = ()) -> list:
    """The frames of a message: ``header`` (JSON) with the array list added, then each array's
    raw little-endian float64 bytes."""
    arrays = [np.ascontiguousarray(a, dtype=DTYPE) for a in arrays]
    header = {**header, "arrays": [{"shape": list(a.shape), "dtype": DTYPE} for a in arrays]}
    return [json.dumps(header, separators=(",", ":")).encode(), *(memoryview(a) for a in arrays)]


def decode(frames: list, max_arrays: int) -> tuple[dict, list[np.ndarray]]:
    """The header and arrays of a message's ``frames`` (bytes-like), checked: a JSON object
    header, at most ``max_arrays`` arrays, each frame's length that of its declared float64
    shape. The arrays are read-only views of the frames; :class:`WireError` otherwise."""
    if not frames:
        raise WireError("empty message")
    raw = bytes(frames[0])
    if len(raw) > MAX_HEADER_BYTES:
        raise WireError(f"header of {len(raw)} bytes exceeds {MAX_HEADER_BYTES}")
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError):
        raise WireError("the header is not JSON") from None
    if not isinstance(header, dict):
        raise WireError("the header is not a JSON object")
    specs = header.get("arrays", [])
    if not isinstance(specs, list) or len(specs) != len(frames) - 1 or len(specs) > max_arrays:
        raise WireError(
            f"the header lists {len(specs) if isinstance(specs, list) else '?'} "
            f"arrays for {len(frames) - 1} frames (at most {max_arrays})"
        )
    arrays = []
    for spec, frame in zip(specs, frames[1:]):
        shape = spec.get("shape") if isinstance(spec, dict) else None
        if (
            not isinstance(shape, list)
            or len(shape) > MAX_DIMS
            or not all(type(n) is int and 0 <= n < 2**31 for n in shape)
            or spec.get("dtype") != DTYPE
        ):
            raise WireError(
                "an array's shape or dtype is malformed (little-endian float64 "
                "'<f8' of at most 4 dimensions)"
            )
        buffer = memoryview(frame)
        if buffer.nbytes != 8 * int(np.prod(shape, dtype=np.int64)):
            raise WireError(f"an array of shape {tuple(shape)} arrived as {buffer.nbytes} bytes")
        arrays.append(np.frombuffer(buffer, dtype=DTYPE).reshape(shape))
    return header, arrays
