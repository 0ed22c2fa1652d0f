"""Conventions shared by every limprob figure: names, symbols, chance levels, intervals, output.

One home for what a reader sees, so the command line (:mod:`limprob.inference.plots`) and the
analyses (``analyses/*.py``) say the same thing the same way:

- :func:`method_label`: a training method as a reader says it ("MH (pCN)", "backprop, ideal
  model", "backprop, in the loop");
- :data:`PARAMETER_SYMBOLS`, :data:`FAMILY_LABELS`: chip and energy-model quantities in words
  and symbols (τ_u, θ mismatch), never the code's field names;
- :func:`majority_rate`, :func:`dataset_chance`, :func:`draw_chance`: the chance level of a
  data set, the accuracy of always answering its most common class, drawn as a labelled line;
- :func:`seed_interval`, :func:`wilson_interval`: intervals of accuracies that lie in [0, 1] by
  construction;
- :func:`save_figure`: a PNG at :data:`DPI`, written atomically.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import xarray as xr
from numpy.typing import ArrayLike

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.container import ErrorbarContainer
    from matplotlib.figure import Figure

DPI = 150
"""Resolution of every PNG (dots per inch)."""

LEVEL = 0.95
"""Coverage of the accuracy intervals drawn in the figures."""

SAMPLER_LABELS = {
    "pcn": "pCN",
    "blocked": "blocked random walk",
    "slice": "elliptical slice",
    "demcz": "DE-MCz",
    "metropolis": "PyMC Metropolis",
    "demetropolisz": "PyMC DEMetropolisZ",
}
"""limprob's sampler names (:data:`limprob.inference.training.SAMPLERS`) in words."""

METHOD_LABELS = {
    "backprop": "backprop, ideal model",
    "in_the_loop_backprop": "backprop, in the loop",
    "noise_aware_backprop": "backprop, noise-aware model",
    "mh_pseudo_marginal": "MH (pCN), pseudo-marginal, automatic R",
    "mh_one_query": "MH (pCN), one query kept (R = 1)",
    "mh_re_estimate": "MH (pCN), re-estimating each step (approximate)",
}
"""Training methods other than plain MH, as a reader says them (plain MH: :func:`method_label`)."""

METHOD_COLOURS = {
    "mh": "tab:blue",
    "mh_pseudo_marginal": "tab:blue",
    "mh_one_query": "tab:cyan",
    "mh_re_estimate": "tab:purple",
    "backprop": "tab:orange",
    "noise_aware_backprop": "tab:brown",
    "in_the_loop_backprop": "tab:green",
}
"""One colour per method in every figure."""

METHOD_MARKERS = {
    "mh": "o",
    "mh_pseudo_marginal": "o",
    "mh_one_query": "v",
    "mh_re_estimate": "D",
    "backprop": "s",
    "noise_aware_backprop": "P",
    "in_the_loop_backprop": "^",
}
"""One marker per method, so the figures read in grey too."""

PARAMETER_SYMBOLS = {
    "tau_u": r"$\tau_u$",
    "tau_r": r"$\tau_r$",
    "time_ratio": r"$\tau_r / \tau_u$",
    "update_time": r"$\tau_u / \tau_r$",
    "strength": "distortion strength α",
    "inverse_w_sat": "1 / w_sat (saturation)",
    "log_gain": "log g (global gain)",
    "log_leak": "log λ (global leak)",
    "gain_spread": r"gain spread $\sigma_g$",
    "threshold_spread": r"threshold spread $\sigma_\theta$",
    "leak_spread": r"leak spread $\sigma_\lambda$",
    "count_sigma": r"count noise $\sigma_c$",
    "noise": "membrane noise σ (units of the threshold)",
    "kappa": "readout gain κ",
    "n_params": "trainable parameters N",
    "tokens": "training tokens D",
    "bits": "bits b",
}
"""Chip, network and energy-model quantities as symbols with words (matplotlib mathtext)."""

FAMILY_LABELS = {
    "saturation": "saturation",
    "gain": "gain",
    "leak": "leak",
    "threshold_mismatch": "θ mismatch",
}
"""The chip twin's distortion families (:mod:`limprob.models.chip_twin`) in words."""

DATASET_LABELS = {
    "wisconsin": "Wisconsin breast cancer",
    "yinyang": "Yin-Yang",
    "digits": "digits (8 × 8)",
    "wine": "wine",
}
"""Built-in data sets (:data:`limprob.data.DATASETS`) by the names a reader knows."""


def method_label(method: str, sampler: str | None = None) -> str:
    """``method`` (a study's or a trace's method name) in words; plain ``mh`` names its
    ``sampler`` when given: ``MH (pCN)``."""
    if method == "mh":
        return f"MH ({SAMPLER_LABELS.get(sampler, sampler)})" if sampler else "MH"
    return METHOD_LABELS.get(method, method.replace("_", " "))


def family_label(families: Sequence[str]) -> str:
    """A twin's distortion families in words: ``ideal chip`` for none, else ``saturation +
    gain + leak``."""
    return " + ".join(FAMILY_LABELS.get(f, f) for f in families) if families else "ideal chip"


def majority_rate(labels: ArrayLike) -> float:
    """Chance level of ``labels`` (integer classes): the share of the most common class, the
    accuracy of a classifier that always answers it (1/K for K balanced classes)."""
    labels = np.asarray(labels).ravel()
    if labels.size == 0:
        raise ValueError("no labels")
    return float(np.bincount(labels.astype(int)).max() / labels.size)


def dataset_chance(name: str) -> float:
    """:func:`majority_rate` of the built-in data set ``name``, over all its samples (the
    splits are stratified, so every test split has nearly this rate)."""
    from limprob.data import load_dataset

    return majority_rate(load_dataset(name)["labels"].values)


def draw_chance(ax: Axes, rate: float, label: bool = True, annotate: bool = False) -> None:
    """A dotted grey line at the chance level ``rate``, named in the legend (``label``: the
    first of several panels names it) and, with ``annotate``, its rate written just under the
    line at the left (for panels whose data sets differ in chance level)."""
    ax.axhline(
        rate,
        color="0.35",
        lw=1.0,
        ls=":",
        zorder=1,
        label="chance: majority class" + ("" if annotate else f" ({rate:.0%})") if label else None,
    )
    if annotate:
        ax.annotate(
            f"chance {rate:.0%}",
            (0.01, rate),
            xycoords=("axes fraction", "data"),
            xytext=(0, -2),
            textcoords="offset points",
            ha="left",
            va="top",
            fontsize=7,
            color="0.3",
            zorder=5,
            bbox={"boxstyle": "square,pad=0.1", "fc": "white", "ec": "none", "alpha": 0.8},
        )


def accuracy_limits(ax: Axes, *values: ArrayLike, chance: float = 1.0) -> None:
    """Accuracy axis from a round tenth below every value and the chance level, to just above
    1, so nothing touches the frame."""
    finite = np.concatenate([np.ravel(np.asarray(v, dtype=float)) for v in values] + [[chance]])
    bottom = np.floor(10 * np.nanmin(finite) - 0.3) / 10
    ax.set_ylim(max(0.0, bottom), 1.015)


def seed_interval(
    values: xr.DataArray,
    dim: str = "seed",
    level: float = LEVEL,
    resamples: int = 10_000,
    seed: int = 0,
) -> xr.Dataset:
    """Mean of accuracies over ``dim`` and its percentile-bootstrap interval.

    For every other coordinate, the finite values x_1 .. x_n along ``dim`` are resampled with
    replacement ``resamples`` times (``numpy.random.default_rng(seed)``, so the interval is
    the same on every run); ``low`` and ``high`` are the (1 - level)/2 and (1 + level)/2
    quantiles of the resampled means. Every resampled mean is a mean of values in [0, 1], so
    the interval lies in [0, 1] by construction, and inside [min x, max x]; it holds the
    ``mean`` but for pathologically skewed values. NaN where no value is finite.
    Returns a Dataset with ``mean``, ``low``, ``high`` and ``n`` (values used).
    """
    if not 0 < level < 1:
        raise ValueError(f"level {level} is not in (0, 1)")
    moved = values.transpose(..., dim)
    data = moved.values.reshape(-1, moved.sizes[dim]).astype(float)
    rng = np.random.default_rng(seed)
    mean, low, high, count = (np.full(data.shape[0], np.nan) for _ in range(4))
    for row, cell in enumerate(data):
        finite = cell[np.isfinite(cell)]
        count[row] = finite.size
        if finite.size == 0:
            continue
        means = finite[rng.integers(0, finite.size, (resamples, finite.size))].mean(axis=1)
        mean[row] = finite.mean()
        low[row], high[row] = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    dims = [d for d in moved.dims if d != dim]
    shape = [moved.sizes[d] for d in dims]
    coords = {name: coord for name, coord in moved.coords.items() if dim not in coord.dims}
    return xr.Dataset(
        {
            name: (dims, array.reshape(shape))
            for name, array in (("mean", mean), ("low", low), ("high", high), ("n", count))
        },
        coords=coords,
    )


def wilson_interval(
    successes: ArrayLike, trials: ArrayLike, level: float = LEVEL
) -> tuple[np.ndarray, np.ndarray]:
    """Wilson score interval (low, high) of a binomial proportion, successes / trials: inside
    [0, 1] by construction and around the estimate, also at 0 and ``trials`` successes.

    With z the standard normal's (1 + level)/2 quantile and p = successes / trials, the
    centre is (p + z²/2n) / (1 + z²/n) and the half-width z √(p(1-p)/n + z²/4n²) / (1 + z²/n).
    """
    from scipy.stats import norm

    k, n = np.asarray(successes, dtype=float), np.asarray(trials, dtype=float)
    if np.any(n <= 0) or np.any(k < 0) or np.any(k > n):
        raise ValueError("need 0 <= successes <= trials and trials > 0")
    z = norm.ppf((1 + level) / 2)
    p = k / n
    denominator = 1 + z**2 / n
    centre = (p + z**2 / (2 * n)) / denominator
    half = z * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2)) / denominator
    return np.clip(centre - half, 0.0, 1.0), np.clip(centre + half, 0.0, 1.0)


def interval_errorbar(
    ax: Axes, x: ArrayLike, interval: xr.Dataset, method: str, label: str, **style: Any
) -> ErrorbarContainer:
    """``interval`` (from :func:`seed_interval`) at ``x`` as points joined by a line with
    asymmetric bars, in the method's colour and marker."""
    mean = interval["mean"].values
    error = np.stack([mean - interval["low"].values, interval["high"].values - mean])
    return ax.errorbar(
        x,
        mean,
        yerr=error,
        color=METHOD_COLOURS.get(method),
        marker=METHOD_MARKERS.get(method, "o"),
        ms=5,
        capsize=3,
        lw=1.3,
        label=label,
        **style,
    )


def save_figure(figure: Figure, path: str | Path, **savefig: Any) -> Path:
    """Write ``figure`` to ``path`` as PNG at :data:`DPI`, atomically (no partial file), with
    no software stamp so the bytes depend only on the picture; close it."""
    import matplotlib.pyplot as plt

    from limprob.io import write_atomically

    try:
        return write_atomically(
            Path(path),
            lambda temporary: figure.savefig(
                temporary, format="png", dpi=DPI, metadata={"Software": None}, **savefig
            ),
        )
    finally:
        plt.close(figure)
