"""Probe measurements: what a chip does with weights we chose, recorded as a dataset.

A probe is one chip query: seeded random weights ``W_in``, ``W_out`` written to the chip and a
fixed set of probe inputs run through it; the chip's output spike counts are recorded. Probe
``p`` draws its weights from ``Normal(0, s_p)`` with the scales ``s_p`` spaced geometrically
over ``scales`` so that some probes drive the synapses into saturation and others stay in the
linear range (limprob's choice: it separates gain from saturation). The result is an
:class:`xarray.Dataset`:

    counts (probe, obs, output)    W_in (probe, input, hidden)    W_out (probe, hidden, output)
    x (obs, input)                 scale (probe)

with the chip's identity, the seed and the number of queries in its attributes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np
import xarray as xr

from limprob.chip.protocol import Chip, require_chip
from limprob.errors import LimprobError
from limprob.validation import positive_integer

DEFAULT_SCALES = (0.3, 2.0)
"""Smallest and largest probe weight scale (the prior of the weights is Normal(0, 1))."""


def probe_weights(
    n_probes: int,
    n_inputs: int,
    n_hidden: int,
    n_outputs: int,
    seed: int,
    scales: tuple[float, float] = DEFAULT_SCALES,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded probe weights: ``W_in`` (probe, input, hidden), ``W_out`` (probe, hidden,
    output) and the scale of each probe."""
    n_probes = positive_integer("the number of probes", n_probes)
    low, high = scales
    if not (0 < low <= high and np.isfinite(high)):
        raise LimprobError(f"probe scales must satisfy 0 < low <= high, got {scales}")
    rng = np.random.default_rng([seed, 11])
    scale = np.geomspace(low, high, n_probes)
    w_in = rng.standard_normal((n_probes, n_inputs, n_hidden)) * scale[:, None, None]
    w_out = rng.standard_normal((n_probes, n_hidden, n_outputs)) * scale[:, None, None]
    return w_in, w_out, scale


def probe_inputs(features: xr.Dataset, n_obs: int, seed: int) -> xr.Dataset:
    """``n_obs`` rows of a feature table (``features (obs, feature)``), chosen by seed."""
    total = features.sizes["obs"]
    if int(n_obs) != n_obs or not 1 <= n_obs <= total:
        raise LimprobError(f"probe inputs must be between 1 and {total} rows, got {n_obs}")
    rows = np.sort(np.random.default_rng([seed, 13]).choice(total, int(n_obs), replace=False))
    return features.isel(obs=rows)


def record_probes(
    chip: Chip,
    x: np.ndarray,
    n_probes: int = 16,
    seed: int = 0,
    scales: tuple[float, float] = DEFAULT_SCALES,
    feature_names: Sequence[str] | np.ndarray | None = None,
    class_names: Sequence[str] | np.ndarray | None = None,
    obs_index: Sequence[int] | np.ndarray | None = None,
) -> xr.Dataset:
    """Run ``n_probes`` probe weight sets on ``chip`` with inputs ``x`` (obs, input): one
    query each. Returns the probe dataset of the module docstring."""
    require_chip(chip, "the probed chip")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[1] != chip.n_inputs:
        raise LimprobError(f"probe inputs of shape {x.shape} do not fit {chip.n_inputs} inputs")
    h = chip.network.n_hidden
    w_in, w_out, scale = probe_weights(n_probes, chip.n_inputs, h, chip.n_outputs, seed, scales)
    before = chip.queries
    counts = np.stack([chip.run(w_in[p], w_out[p], x) for p in range(n_probes)])
    queries = chip.queries - before
    describe = chip.describe()
    return xr.Dataset(
        {
            "counts": (("probe", "obs", "output"), counts),
            "W_in": (("probe", "input", "hidden"), w_in),
            "W_out": (("probe", "hidden", "output"), w_out),
            "x": (("obs", "input"), x),
            "scale": ("probe", scale),
        },
        coords={
            "probe": np.arange(n_probes),
            "obs": np.arange(x.shape[0]) if obs_index is None else np.asarray(obs_index),
            "input": (
                np.arange(chip.n_inputs) if feature_names is None else np.asarray(feature_names)
            ),
            "hidden": np.arange(h),
            "output": (
                np.arange(chip.n_outputs) if class_names is None else np.asarray(class_names)
            ),
        },
        attrs={
            "probe_seed": int(seed),
            "probe_chip_queries": int(queries),
            "probe_scale_low": float(scales[0]),
            "probe_scale_high": float(scales[1]),
            **describe,
        },
    )


def record_probes_from_table(
    chip: Chip,
    features: xr.Dataset,
    n_probes: int = 16,
    n_obs: int = 32,
    seed: int = 0,
    scales: tuple[float, float] = DEFAULT_SCALES,
) -> xr.Dataset:
    """:func:`record_probes` on ``n_obs`` rows of a feature table chosen by ``seed``."""
    rows = probe_inputs(features, n_obs, seed)
    return record_probes(
        chip,
        rows["features"].values,
        n_probes,
        seed,
        scales,
        feature_names=rows["feature"].values,
        class_names=rows["class"].values if "class" in rows.coords else None,
        obs_index=rows["obs"].values,
    )


def probe_attrs(probes: xr.Dataset) -> dict:
    """What a twin trace says of its probes: the chip's identity, the probe settings, and the
    chip queries they cost (the twin's only training queries)."""
    return {
        **{k: v for k, v in probes.attrs.items() if k.startswith(("chip", "probe_", "network_"))},
        "n_probes": probes.sizes["probe"],
        "n_probe_obs": probes.sizes["obs"],
        "training_chip_queries": int(probes.attrs.get("probe_chip_queries", probes.sizes["probe"])),
    }


PROBE_DIMS = {
    "counts": ("probe", "obs", "output"),
    "W_in": ("probe", "input", "hidden"),
    "W_out": ("probe", "hidden", "output"),
    "x": ("obs", "input"),
}
"""The variables a probe dataset must hold, with their dims."""


def check_probes(probes: xr.Dataset, source: str = "probe dataset") -> xr.Dataset:
    """Raise :class:`LimprobError` unless ``probes`` has the variables and dims of
    :func:`record_probes`, numeric and finite, with sizes that agree, counts that are
    non-negative, and network attributes (when present) that make a network; return it."""
    from limprob.snn import Network
    from limprob.trace import NETWORK_PREFIX, network_from_attrs

    for name, dims in PROBE_DIMS.items():
        if name not in probes:
            raise LimprobError(f"{source}: not a probe dataset (no variable {name!r})")
        if probes[name].dims != dims:
            raise LimprobError(f"{source}: {name} has dims {probes[name].dims}, expected {dims}")
        if probes[name].dtype.kind not in "biuf":
            raise LimprobError(f"{source}: {name} holds {probes[name].dtype}, not numbers")
        if probes[name].size == 0:
            raise LimprobError(f"{source}: {name} is empty")
        with np.errstate(all="ignore"):
            if not np.all(np.isfinite(probes[name].values)):
                raise LimprobError(f"{source}: {name} holds non-finite values")
    if np.any(probes["counts"].values < 0):
        raise LimprobError(f"{source}: negative spike counts")
    attributes = {
        key: value for key, value in probes.attrs.items() if key.startswith(NETWORK_PREFIX)
    }
    try:
        network_from_attrs(probes.attrs, n_hidden=probes.sizes["hidden"], nominal=Network())
    except LimprobError as error:  # before ValueError, which it is
        raise LimprobError(
            f"{source}: its network attributes do not make a network ({error})"
        ) from None
    except (TypeError, ValueError, OverflowError):
        raise LimprobError(
            f"{source}: its network attributes {attributes} are not numbers"
        ) from None
    return probes


def load_probes(path: str | Path, *, max_memory: float | None = None) -> xr.Dataset:
    """Read and check a probe dataset written by ``limprob probe`` (or by a real chip's own
    driver with the same variables): :func:`limprob.io.read_netcdf` (size bounded before
    reading, one line for a corrupt file), then :func:`check_probes`."""
    from limprob.io import read_netcdf

    return check_probes(read_netcdf(path, "probe dataset", max_memory=max_memory), str(path))
