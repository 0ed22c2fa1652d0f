"""One home for what a limprob trace says beside its draws: the attributes that describe its
network, the group of test data its predictions were made on, and reading a training trace.

A trace (an ArviZ DataTree) records the network it was trained or fitted for in the attributes

    network_n_hidden, network_n_steps, network_beta, network_theta, network_reset

(:func:`network_attrs`), which every reader turns back into a :class:`~limprob.snn.Network`
with :func:`network_from_attrs`; a probe dataset records the same attributes. The test
features and labels that ``predictions`` and ``point_estimates`` were measured on are the
group ``predictions_constant_data`` (:func:`predictions_constant_data`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from limprob.errors import LimprobError
from limprob.io import check_trace, load_trace
from limprob.snn import Network

NETWORK_PREFIX = "network_"
"""Prefix of the attributes that describe a trace's network (:func:`network_attrs`)."""


def network_attrs(network: Network) -> dict:
    """The network as trace attributes: ``network_n_hidden``, ``network_n_steps``,
    ``network_beta``, ``network_theta``, ``network_reset``."""
    return {f"{NETWORK_PREFIX}{key}": value for key, value in asdict(network).items()}


NETWORK_FIELDS = {"n_hidden": int, "n_steps": int, "beta": float, "theta": float, "reset": str}
"""The fields of a :class:`~limprob.snn.Network` and their types, as attributes read them."""


def network_from_attrs(
    attrs: Mapping[Any, Any], *, n_hidden: int | None = None, nominal: Network | None = None
) -> Network:
    """The network :func:`network_attrs` wrote into ``attrs`` (a trace's, a chip's or a probe
    dataset's).

    ``n_hidden`` gives the hidden size where the attributes need not (a probe dataset: the size
    of its weights). An attribute missing from ``attrs`` is ``nominal``'s; without ``nominal``
    only the reset may be missing (a trace written before the reset was an option: subtraction).
    :class:`LimprobError` when an attribute is missing or the values make no network;
    ``TypeError`` or ``ValueError`` when a value is not a number.
    """
    known = {} if nominal is None else asdict(nominal)
    known.setdefault("reset", "subtract")
    if n_hidden is not None:
        known["n_hidden"] = n_hidden
    fields = {}
    for key, kind in NETWORK_FIELDS.items():
        name = NETWORK_PREFIX + key
        if name in attrs and not (key == "n_hidden" and n_hidden is not None):
            fields[key] = kind(np.asarray(attrs[name]).item())
        elif key in known:
            fields[key] = known[key]
        else:
            raise LimprobError(f"the attributes lack {name}")
    return Network(**fields)


def predictions_constant_data(test: xr.Dataset) -> xr.Dataset:
    """The group ``predictions_constant_data`` of a trace: the test features ``x (obs,
    feature)`` and labels ``y (obs)`` of the split ``test`` (a labelled table,
    :mod:`limprob.data`) that the trace's predictions were measured on."""
    return xr.Dataset(
        {"x": (("obs", "feature"), test["features"].values), "y": ("obs", test["labels"].values)},
        coords={"obs": test["obs"].values, "feature": test["feature"].values},
    )


EXPORT_ATTRIBUTES = (
    "network_n_hidden",
    "network_n_steps",
    "network_beta",
    "network_theta",
    "kappa",
    "chip_strength",
    "chip_seed",
    "seed",
)
"""The numeric attributes of a training trace that its exported network is made of."""


def load_training_trace(path: str | Path) -> xr.DataTree:
    """A chip-in-the-loop training trace (``limprob train``) read from ``path``, with the
    groups and attributes its network is made of; :class:`LimprobError` naming what ``path``
    is otherwise."""
    tree = load_trace(path, needs=set())
    model = tree.attrs.get("model", tree.attrs.get("method", "unknown"))
    if model != "chip_in_the_loop":
        raise LimprobError(
            f"{path}: a {model} trace, not a chip-in-the-loop training trace (limprob train)"
        )
    missing = {"posterior", "log_likelihood"} - set(tree.children)
    if missing:
        raise LimprobError(f"{path}: limprob trace lacks the group(s) {', '.join(sorted(missing))}")
    return check_trace(tree, path, EXPORT_ATTRIBUTES)
