"""A chip-in-the-loop training trace's network as a NIR graph: the weights of one of its point
estimates, the network it was trained with, and what the graph says of its origin.

The graph and its metadata are described in :mod:`limprob.chip.nir`; docs/nir.md says how to
take it to BrainScaleS-2, Xylo, Loihi, SpiNNaker2 or Speck.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import xarray as xr

from limprob.chip.nir import to_nir
from limprob.inference.evaluation import POINT_ESTIMATE_DESCRIPTIONS, point_estimate_weights
from limprob.snn import Network
from limprob.trace import network_from_attrs

if TYPE_CHECKING:
    import nir


def trace_weights(tree: xr.DataTree, which: str) -> tuple[np.ndarray, np.ndarray]:
    """``W_in``, ``W_out`` of point estimate ``which`` (one of
    :data:`~limprob.inference.evaluation.POINT_ESTIMATES`) of a chip-in-the-loop trace."""
    return point_estimate_weights(
        tree["posterior"].to_dataset(), tree["log_likelihood"].to_dataset(), which
    )


def export_metadata(tree: xr.DataTree, path: str | Path, which: str) -> dict:
    """What the graph says of its origin: the trace's readout gain, chip and data."""
    attrs = tree.attrs
    return {
        "kappa": float(attrs["kappa"]),
        "weights": which,
        "weights_description": POINT_ESTIMATE_DESCRIPTIONS[which],
        "source_trace": Path(path).name,
        "trained_on_chip": str(attrs.get("chip", "")),
        # a simulated chip's mismatch; a user's chip (train --chip) need not describe it
        **({"chip_strength": float(attrs["chip_strength"])} if "chip_strength" in attrs else {}),
        **({"chip_seed": int(attrs["chip_seed"])} if "chip_seed" in attrs else {}),
        "data_source": str(attrs.get("data_source", "")),
        "data_seed": int(attrs["seed"]),
        "limprob_version": str(attrs.get("version_limprob", "")),
    }


def exported_network(
    tree: xr.DataTree, path: str | Path, which: str
) -> tuple[nir.NIRGraph, Network, np.ndarray, np.ndarray]:
    """The NIR graph of point estimate ``which`` of the training trace ``tree`` read from
    ``path`` (:func:`~limprob.trace.load_training_trace`), with its network and weights:
    ``(graph, network, w_in, w_out)``."""
    network: Network = network_from_attrs(tree.attrs)
    w_in, w_out = trace_weights(tree, which)
    return to_nir(w_in, w_out, network, export_metadata(tree, path, which)), network, w_in, w_out
