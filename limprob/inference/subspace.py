"""Two-phase sampling: a full-space adaptation phase, then MH in an affine subspace of it.

A run with ``subspace`` other than ``none`` spends its ``tune`` steps per chain in three parts
(:func:`phase_lengths`):

1. **Full space, the configured sampler's own tuning** (``tune_own`` steps), then
2. **full space, a fixed kernel** (``path`` steps): the path the subspace is built from. Its
   draws, their log-likelihoods and stats stay in the trace as the ArviZ groups
   ``warmup_posterior``, ``warmup_log_likelihood`` and ``warmup_sample_stats``, and the
   convergence verdict reports their function-space diagnostics beside the subspace ones.
3. **Subspace tuning** (``tune_subspace`` steps) of adaptive Metropolis in ``z``
   (:class:`~limprob.inference.step_methods.AdaptiveMetropolis`), then the ``draws`` of the
   subspace phase with the adaptation frozen: a valid fixed-kernel MH chain.

The weights are raveled as ``[W_in.ravel(), W_out.ravel()]`` (d of them) and live on

    W = W_c + P z,    P (d, K) of full column rank,    z in R^K,

one subspace for all chains, built from the path of the chain whose path has the highest mean
training log-likelihood (the chip picks the mode; the trace's ``subspace`` group holds its
``W_c`` and ``P``, its ``source_chain`` attribute the chain):

- ``pca:K``: ``W_c`` the mean of that path, ``P``'s columns its top-K principal directions,
  each scaled by the path's standard deviation along it (Izmailov, Maddox, Kirichenko,
  Garipov, Vetrov and Wilson 2019, "Subspace inference for Bayesian deep learning"); a path
  too short or sticky to move along K directions is completed by orthonormal directions it
  did not move along, with the least scale it moved by;
- ``readout``: ``W_in`` fixed at the path's mean, ``z = W_out`` (``K = H C``; ``W_c`` holds
  zeros in the readout);
- ``random:K``: ``W_c`` the path's mean, ``P`` K orthonormal directions drawn at random (QR of
  a Gaussian matrix, seeded by the run's seed).

The chains start from that path's draws projected on the subspace, spread along it (chain 0
from its last draw). They all target one distribution, so the cross-chain R-hat and ESS mean
what they do in full space. Other designs measured worse: a subspace of all chains' paths
pooled is dominated by the directions between their modes and centred on their average, a
poor network; a subspace per chain leaves each chain in its own mode, so the chains target
different distributions and the cross-chain R-hat of the log-likelihood stays far above 1.

**Prior on z.** For ``W ~ N(0, s^2 I_d)`` the prior density restricted to the subspace is, as
a function of z,

    log p(W_c + P z) = -|W_c + P z|^2 / (2 s^2) + const
                     = -(z - m)^T (P^T P / s^2) (z - m) / 2 + const,
    m = -(P^T P)^{-1} P^T W_c,

so ``z ~ N(m, s^2 (P^T P)^{-1})`` (:meth:`Subspace.prior`): the Gaussian prior conditioned on
the affine subspace. With it the subspace posterior ``pi(z) ~ p(y | W_c + P z) p(W_c + P z)``
is the full posterior's density restricted to the subspace, up to a constant: MH in ``z``
samples the full posterior **restricted to the subspace**, exactly, and nothing outside it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pymc as pm
import xarray as xr

from limprob import interruption
from limprob.chip.protocol import Chip
from limprob.errors import LimprobError
from limprob.inference.sampling import SamplerSettings, Step, name_block_dims, sample
from limprob.inference.step_methods import AdaptiveMetropolis, CountedStep, take_recorded_stats

MODES = ("none", "pca", "readout", "random")
"""``none`` (full space throughout), ``pca:K``, ``readout``, ``random:K``."""
WEIGHTS = ("W_in", "W_out")
"""The sampled weights, in the order they are raveled."""
SUBSPACE_TUNING_FRACTION = 0.2
"""Share of ``tune`` spent tuning the subspace phase's adaptive Metropolis."""
MIN_TUNE = 10
"""Fewest tuning steps a two-phase run takes (each part needs a few)."""
BASIS_SOURCES = {
    "pca": "principal directions of the best chain's full-space path, scaled by its "
    "standard deviations",
    "readout": "the readout weights W_out, W_in fixed at the best chain's full-space path mean",
    "random": "random orthonormal directions (seeded) through the best chain's full-space "
    "path mean",
}


def parse(text: str) -> tuple[str, int | None]:
    """``(mode, K)`` of a ``--subspace`` value (K None for ``none`` and ``readout``);
    :class:`LimprobError` for anything else."""
    mode, _, k = str(text).partition(":")
    wrong = LimprobError(
        f"subspace must be none, pca:K, readout or random:K with K a positive integer, got {text!r}"
    )
    if mode not in MODES:
        raise wrong
    if mode in ("none", "readout"):
        if k:
            raise wrong
        return mode, None
    if not k.isdigit() or int(k) < 1:
        raise wrong
    return mode, int(k)


def check_settings(subspace: str, *, limprob_sampler: bool, screen: str, tune: int) -> None:
    """Refuse, with one line, a subspace with settings it does not fit: PyMC's own samplers
    (they record no log-likelihood, so the full-space diagnostics would cost more queries), a
    screen (the subspace phase has none) or fewer than :data:`MIN_TUNE` tuning steps."""
    mode, _ = parse(subspace)
    if mode == "none":
        return
    if not limprob_sampler:
        raise LimprobError(
            "a subspace's full-space phase needs one of limprob's samplers "
            "(pcn, slice, demcz, blocked), not PyMC's own"
        )
    if screen != "none":
        raise LimprobError(
            "a subspace run takes no screen (its subspace phase has none): "
            "drop --screen or --subspace"
        )
    if tune < MIN_TUNE:
        raise LimprobError(
            f"a subspace is built during tuning: give at least {MIN_TUNE} tuning steps, not {tune}"
        )


def phase_lengths(tune: int) -> tuple[int, int, int]:
    """``(tune_own, path, tune_subspace)`` steps per chain, summing to ``tune``:
    ``tune_subspace = max(1, round(0.2 tune))`` and the rest split in half between the
    configured sampler's own tuning and the fixed-kernel path."""
    tune_subspace = max(1, round(SUBSPACE_TUNING_FRACTION * tune))
    full = tune - tune_subspace
    return full // 2, full - full // 2, tune_subspace


def check_dimension(subspace: str, n_weights: int, path: int) -> None:
    """Refuse a K above the network's ``n_weights`` or, for ``pca``, above what a chain's path
    of ``path`` draws can span."""
    mode, k = parse(subspace)
    # parse gives K for pca and random (the comparisons below never see None)
    if mode in ("pca", "random") and k > n_weights:  # type: ignore[operator]
        raise LimprobError(
            f"subspace {subspace}: K = {k} is above the network's {n_weights} weights"
        )
    if mode == "pca" and k > path - 1:  # type: ignore[operator]
        raise LimprobError(
            f"subspace {subspace}: a chain's full-space path has {path} draws, "
            f"which span at most {path - 1} directions; give more tuning "
            f"steps or a smaller K"
        )


@dataclass(frozen=True)
class Subspace:
    """The affine subspace ``W = centre + basis z`` of the raveled weights."""

    centre: np.ndarray
    """``W_c`` (d,)."""
    basis: np.ndarray
    """``P`` (d, K), full column rank."""
    mode: str
    shapes: tuple[tuple[int, ...], ...]
    """Shapes of ``W_in`` and ``W_out``."""

    @property
    def dimension(self) -> int:
        """K, the number of directions (columns of the basis ``P``)."""
        return self.basis.shape[1]

    @property
    def source(self) -> str:
        """Where the basis comes from, in words."""
        return BASIS_SOURCES[self.mode]

    def prior(self, sigma_w: float) -> tuple[np.ndarray, np.ndarray]:
        """Mean ``m = -(P^T P)^{-1} P^T W_c`` and precision ``P^T P / sigma_w^2`` of z under
        ``W ~ N(0, sigma_w^2 I)`` restricted to the subspace (module docstring)."""
        gram = self.basis.T @ self.basis
        return -np.linalg.solve(gram, self.basis.T @ self.centre), gram / sigma_w**2

    def project(self, weights: np.ndarray) -> np.ndarray:
        """The z whose point ``W_c + P z`` is nearest (least squares) to each row of
        ``weights`` (..., d)."""
        deviations = np.asarray(weights, dtype=float) - self.centre
        solution, *_ = np.linalg.lstsq(
            self.basis, deviations.reshape(-1, self.centre.size).T, rcond=None
        )
        return solution.T.reshape(*deviations.shape[:-1], self.dimension)


def raveled_path(posterior: xr.Dataset) -> np.ndarray:
    """The weights of every draw raveled as ``[W_in.ravel(), W_out.ravel()]`` (chain, draw,
    d)."""
    chains, draws = posterior.sizes["chain"], posterior.sizes["draw"]
    return np.concatenate(
        [
            posterior[name].transpose("chain", "draw", ...).values.reshape(chains, draws, -1)
            for name in WEIGHTS
        ],
        axis=-1,
    )


def build_subspace(
    subspace: str, path: np.ndarray, shapes: Sequence[Sequence[int]], seed: int | Sequence[int]
) -> Subspace:
    """The subspace ``subspace`` names, from one chain's full-space ``path`` (draw, d);
    ``seed`` (an int or a list of them) draws the random directions."""
    mode, k = parse(subspace)
    pooled = np.asarray(path, dtype=float)
    centre = pooled.mean(axis=0)
    n_readout = int(np.prod(shapes[1]))
    if mode == "pca":
        _, singular, directions = np.linalg.svd(pooled - centre, full_matrices=False)
        sd = singular[:k] / np.sqrt(len(pooled) - 1)
        moved = sd > 1e-9 * max(sd[0], 1e-300)
        # a direction the path did not move along (a short or sticky path) keeps the scale
        # of the least one it moved along, or 1 if it never moved: adaptation learns the rest
        sd = np.where(moved, sd, sd[moved].min() if moved.any() else 1.0)
        basis = directions[:k].T * sd
    elif mode == "readout":
        centre = centre.copy()
        centre[-n_readout:] = 0.0
        basis = np.zeros((centre.size, n_readout))
        basis[-n_readout:] = np.eye(n_readout)
    else:
        rng = np.random.default_rng(seed)
        # parse gives K for random
        basis, _ = np.linalg.qr(rng.standard_normal((centre.size, k)))  # type: ignore[arg-type, type-var]
    return Subspace(centre, basis, mode, tuple(tuple(s) for s in shapes))


def _recorded_log_likelihood(
    tree: xr.DataTree, step: Step, model: pm.Model
) -> tuple[xr.Dataset, xr.Dataset]:
    """The sample stats (block dims named) and the log-likelihood a limprob step recorded."""
    stats, recorded = take_recorded_stats(tree["sample_stats"].to_dataset(), ["y"])
    obs = {"obs": tree["observed_data"]["y"]["obs"].values}
    log_likelihood = xr.Dataset(
        {
            name: values.rename({values.dims[-1]: "obs"}).assign_coords(obs)
            for name, values in recorded.items()
        }
    )
    return name_block_dims(stats, step, model), log_likelihood


@dataclass(frozen=True)
class FullSpacePhase:
    """What the full-space phase leaves: its PyMC tree (the path in ``posterior``), its stats
    (block dims named, ``chip_queries`` per chain) and recorded log-likelihood, the weights'
    shapes and its wall time (s)."""

    tree: xr.DataTree
    stats: xr.Dataset
    log_likelihood: xr.Dataset
    shapes: tuple
    seconds: float


def full_space_phase(
    model: pm.Model, step: Step, config: Any, initvals: list[dict], *, progressbar: bool = True
) -> FullSpacePhase:
    """The configured ``step`` (with its chip-query counter) on the full ``model`` from
    ``initvals``: its own tuning, then the fixed-kernel path (:func:`phase_lengths`).
    ``config`` is a :class:`~limprob.inference.training.TrainConfig`; a K the network or the
    path cannot hold is refused before any query."""
    tune_own, path_steps, _ = phase_lengths(config.mcmc.tune)
    shapes = tuple(tuple(model.initial_point()[name].shape) for name in WEIGHTS)
    check_dimension(config.mcmc.subspace, sum(int(np.prod(s)) for s in shapes), path_steps)
    settings = SamplerSettings(
        draws=path_steps,
        tune=tune_own,
        chains=config.mcmc.chains,
        cores=config.mcmc.cores,
        seed=config.mcmc.seed,
    )
    tree, seconds = sample(model, step, settings, initvals, progressbar=progressbar)
    if tree.attrs["interrupted"]:
        raise interruption.Interrupted(
            interruption.received() or 2,
            "nothing written: stopped in the full-space phase of a subspace run",
        )
    stats, log_likelihood = _recorded_log_likelihood(tree, step, model)
    return FullSpacePhase(tree, stats, log_likelihood, shapes, seconds)


def subspace_phase(
    full: FullSpacePhase, chip: Chip, train: xr.Dataset, config: Any, *, progressbar: bool = True
) -> tuple[xr.DataTree, float, Step]:
    """Build the subspace from the best chain's path in ``full`` and sample it with adaptive
    Metropolis (:func:`phase_lengths` tuning steps, then ``config.mcmc.draws``), every chain from
    a draw of that path projected on it (module docstring).

    Returns the subspace phase's tree (its ``chip_queries`` count both phases, per chain),
    holding the full-space path as ``warmup_*`` groups, ``W_c`` and ``P`` as the ``subspace``
    group and the subspace attributes; the wall time of both phases (s); and the subspace
    step. The full model, not the subspace one, is the one to draw the posterior predictive
    from (``y`` depends on the weights alone, which the trace holds per draw)."""
    from limprob.models.chip_subspace import SUBSPACE_DATA, build_subspace_model

    tune_own, path_steps, tune_subspace = phase_lengths(config.mcmc.tune)
    path = raveled_path(full.tree["posterior"].to_dataset())
    mean_log_likelihood = full.log_likelihood["y"].sum("obs").mean("draw").values
    best = int(np.argmax(mean_log_likelihood))
    space = build_subspace(config.mcmc.subspace, path[best], full.shapes, [config.mcmc.seed, 6])
    model = build_subspace_model(
        chip, train, space, sigma_w=config.model.sigma_w, kappa=config.model.kappa
    )
    projected = space.project(path[best])
    covariance = np.atleast_2d(np.cov(projected, rowvar=False))
    with model:
        step = CountedStep(
            AdaptiveMetropolis(
                covariance=covariance,
                covariance_warmup=max(tune_subspace // 2, 2),
                estimator=config.mcmc.estimator,
            ),
            chip,
            model=model,
        )
    positions = np.linspace(len(projected) - 1, 0, config.mcmc.chains).round().astype(int)
    settings = SamplerSettings(
        draws=config.mcmc.draws,
        tune=tune_subspace,
        chains=config.mcmc.chains,
        cores=config.mcmc.cores,
        seed=int(np.random.default_rng([config.mcmc.seed, 7]).integers(2**31)),
    )
    tree, seconds = sample(
        model, step, settings, [{"z": projected[i]} for i in positions], progressbar=progressbar
    )
    constant = tree["constant_data"].to_dataset()
    tree["constant_data"] = constant.drop_vars([name for name in SUBSPACE_DATA if name in constant])
    kept = tree["posterior"].sizes["chain"]
    full_queries = full.stats["chip_queries"].isel(draw=-1).values
    stats = tree["sample_stats"].to_dataset()
    stats["chip_queries"] = stats["chip_queries"] + full_queries[:kept, None]
    tree["sample_stats"] = stats
    tree["warmup_posterior"] = full.tree["posterior"].to_dataset()
    tree["warmup_sample_stats"] = full.stats
    tree["warmup_log_likelihood"] = full.log_likelihood
    tree["subspace"] = xr.Dataset(
        {"centre": ("weight", space.centre), "basis": (("weight", "direction"), space.basis)},
        coords={"direction": np.arange(space.dimension)},
        attrs={"source_chain": best},
    )
    tree.attrs.update(
        posterior_restricted_to_subspace=1,
        subspace_dimension=space.dimension,
        subspace_basis=space.source,
        subspace_source_chain=best,
        full_space_tune_steps=tune_own,
        full_space_path_draws=path_steps,
        subspace_tune_steps=tune_subspace,
        full_space_chip_queries=int(full_queries.sum()),
        subspace_chip_queries=int(
            (stats["chip_queries"].isel(draw=-1).values - full_queries[:kept]).sum()
        ),
    )
    return tree, full.seconds + seconds, step


def sample_in_subspace(
    model: pm.Model,
    step: Step,
    chip: Chip,
    train: xr.Dataset,
    config: Any,
    initvals: list[dict],
    *,
    progressbar: bool = True,
) -> tuple[xr.DataTree, float, Step]:
    """Both phases on ``chip``: :func:`full_space_phase` of ``model``/``step`` (the full-space
    model and the configured step, with its chip-query counter) from ``initvals``, then
    :func:`subspace_phase`, whose results (tree, wall seconds, step) it returns."""
    full = full_space_phase(model, step, config, initvals, progressbar=progressbar)
    return subspace_phase(full, chip, train, config, progressbar=progressbar)
