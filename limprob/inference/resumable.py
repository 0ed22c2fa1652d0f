"""Sampling that writes a checkpoint as it goes and resumes from one.

:func:`sample_with_checkpoint` does what ``pm.sample`` does for a training run on one core
(:func:`limprob.inference.sampling.sample`): the same random streams per chain, the same start
points, the same trace, chains one after another. It runs each chain's loop itself (as PyMC's
``_iter_sample`` does), so that every ``checkpoint.every`` steps it can write the chain's new
draws and its step methods' ``sampling_state`` (:mod:`limprob.inference.checkpoint`), and so
that a chain found in the checkpoint goes on from its last write: its draws are read back into
the trace, its step methods and the chip's query count restored, and the loop continues at the
next step. With the same seeds the result is the trace ``sample`` returns, bit for bit,
whether or not the run was stopped and resumed on the way (tests/test_checkpoint.py).
"""

from __future__ import annotations

import copy
import logging
import time
import warnings

import numpy as np
import pymc as pm
import xarray as xr
from pymc.backends import init_traces
from pymc.backends.ndarray import NDArray
from pymc.initial_point import make_initial_point_fns_per_chain
from pymc.progress_bar import MCMCProgressBarManager
from pymc.sampling.mcmc import _sample_return
from pymc.stats.convergence import log_warning_stats
from pymc.util import get_random_generator

from limprob import interruption
from limprob.chip.protocol import Chip
from limprob.errors import LimprobError
from limprob.inference.checkpoint import ChainProgress, Checkpoint
from limprob.inference.sampling import SamplerSettings, Step, completion_attrs

log = logging.getLogger("pymc")


def sample_with_checkpoint(
    model: pm.Model,
    step: Step,
    settings: SamplerSettings,
    initvals: list[dict],
    checkpoint: Checkpoint,
    *,
    chip: Chip,
    progressbar: bool = True,
) -> tuple[xr.DataTree, float]:
    """Sample ``model`` with ``step`` (a complete step method) and ``settings`` (one core),
    writing ``checkpoint`` every ``checkpoint.every`` steps of a chain and at a signal, and
    resuming the chains it holds; returns the DataTree and the wall time of this call's
    sampling (s).

    ``chip``: the chip ``step`` queries. Its query count is part of a chain's state, saved
    with it and set back with :meth:`~limprob.chip.protocol.Chip.continue_from`, so a noisy
    chip meets the same noise in a resumed run.

    Signals work as in :func:`~limprob.inference.sampling.sample`: the first stops sampling
    at the end of the current step, after which the chain's progress is written. The tree's
    attributes say what it holds (:func:`completion_attrs`) and what came from the checkpoint:
    ``resumed`` (1 if the checkpoint was opened to resume a run, :meth:`Checkpoint.open`),
    ``resumed_draws`` (draws after tuning read back, all chains) and ``resumed_steps`` (steps
    read back, tuning included), and ``checkpoint_every``.
    """
    started = time.perf_counter()
    with model, warnings.catch_warnings(), interruption.handled(), interruption.deferred():
        warnings.filterwarnings("ignore", message=".*CompoundStep.*")
        tune, chains = settings.tune, settings.chains
        # pm.sample's random streams and start points: one generator per chain, which first
        # draws the seed of the chain's start point
        rngs = get_random_generator(settings.seed).spawn(chains)
        seeds = [rng.integers(2**30) for rng in rngs]
        makers = make_initial_point_fns_per_chain(
            model=model, overrides=initvals, jitter_rvs=set(), chains=chains
        )
        starts = [make(seed) for make, seed in zip(makers, seeds, strict=True)]
        _, traces = init_traces(
            backend=None,
            chains=chains,
            expected_length=settings.draws + tune,
            step=step,
            initial_point=starts[0],
            model=model,
            tune=tune,
        )
        log.info(
            f"Sequential sampling ({chains} chains in 1 job), writing a checkpoint every "
            f"{checkpoint.every} steps to {checkpoint.path}"
        )
        initial_state = step.sampling_state
        progress = MCMCProgressBarManager(
            step_method=step,
            chains=chains,
            draws=settings.draws,
            tune=tune,
            progressbar=progressbar,
            progressbar_theme=None,
        )
        restored = []
        goes_on = f"limprob train --resume {checkpoint.path} goes on from its last write"
        try:
            with progress:
                for chain in range(chains):
                    step.sampling_state = initial_state
                    restored.append(
                        _sample_chain(
                            chain,
                            step,
                            traces[chain],
                            rngs[chain],
                            starts[chain],
                            settings,
                            checkpoint,
                            chip,
                            progress,
                        )
                    )
                    if interruption.received() is not None:
                        break
        except interruption.Interrupted as stopped:  # a second signal: stopped mid-step
            raise interruption.Interrupted(stopped.signum, f"nothing written; {goes_on}") from None
        try:
            tree = _sample_return(
                run=None,
                traces=traces,
                tune=tune,
                t_sampling=time.perf_counter() - started,
                discard_tuned_samples=True,
                compute_convergence_checks=False,
                return_inferencedata=True,
                keep_warning_stat=False,
                idata_kwargs={},
                model=model,
            )
        except ValueError as error:  # "Not enough samples to build a trace."
            received = interruption.received()
            if received is None or "enough samples" not in str(error):
                raise
            raise interruption.Interrupted(
                received,
                f"nothing written: no draw after tuning was completed; {goes_on} "
                f"({sum(t.draw_idx for t in traces)} steps)",
            ) from None
        signum = interruption.received()
    tree.attrs.update(completion_attrs(tree, settings, signum))
    tree.attrs.update(
        resumed=int(checkpoint.resuming),
        checkpoint_every=checkpoint.every,
        resumed_steps=sum(restored),
        resumed_draws=sum(max(steps - tune, 0) for steps in restored),
    )
    return tree, time.perf_counter() - started


def _sample_chain(
    chain: int,
    step: Step,
    trace: NDArray,
    rng: np.random.Generator,
    start: dict,
    settings: SamplerSettings,
    checkpoint: Checkpoint,
    chip: Chip,
    progress: MCMCProgressBarManager,
) -> int:
    """Sample chain ``chain`` into ``trace`` from where the checkpoint left it (its start if
    nowhere), writing its progress every ``checkpoint.every`` steps, at its end and when a
    signal came; returns the steps read back from the checkpoint."""
    tune, total = settings.tune, settings.tune + settings.draws
    step.setup_chain(rng, tune, settings.draws)
    step.tune = bool(tune)
    saved = checkpoint.progress(chain)
    if saved is None:
        point, done = start, 0
        if hasattr(step, "reset_tuning"):
            step.reset_tuning()
    else:
        point, done = _restore(chain, saved, step, trace, checkpoint, chip)
    written, stats, finished = done, None, False
    stoppable = _stoppable_mid_step(step)
    try:
        for i in range(done, total):
            # a step that may be stopped between its chip queries: the chain as it stood
            # before it, to be written if it is
            before = (
                (point, copy.deepcopy(step.sampling_state), getattr(chip, "queries", None))
                if stoppable
                else None
            )
            if i == tune:
                step.stop_tuning()
            try:
                point, stats = step.step(point)
            except interruption.StoppedMidStep:  # the step is abandoned, the chain written
                if i > written:  # as it stood before it
                    # StoppedMidStep comes only from a step that stops mid-step: before is set
                    checkpoint.record(
                        chain,
                        ChainProgress(  # type: ignore[call-arg, misc]
                            i, *before, saved.draw_files if saved else ()
                        ),
                        max(written, tune),
                        _trace_draws(trace, max(written, tune), i),
                    )
                break
            trace.record(point, stats, in_warmup=i < tune)
            log_warning_stats(stats)
            progress.update(chain_idx=chain, is_last=False, draw=i, stats=stats, tuning=i < tune)
            stopping = interruption.received() is not None
            if (i + 1) % checkpoint.every == 0 or i + 1 == total or stopping:
                saved = checkpoint.record(
                    chain,
                    ChainProgress(
                        i + 1,
                        point,
                        step.sampling_state,
                        chip.queries,
                        saved.draw_files if saved else (),
                    ),
                    max(written, tune),
                    _trace_draws(trace, max(written, tune), i + 1),
                )
                written = i + 1
            if stopping:
                break
        else:
            finished = True
        if (
            finished
            and stats is not None
            and (not progress.combined_progress or chain == progress.chains - 1)
        ):
            progress.update(
                chain_idx=chain, is_last=True, draw=total - 1, stats=stats, tuning=False
            )
    finally:
        trace.close()
    return done


def _stoppable_mid_step(step: Step) -> bool:
    """Whether a signal can stop one of ``step``'s steps between its chip queries: some
    method estimates the likelihood from more than one query
    (:func:`limprob.interruption.stop_mid_step`)."""
    return any(getattr(method, "repeats", 1) != 1 for method in getattr(step, "methods", [step]))


def _restore(
    chain: int, saved: ChainProgress, step: Step, trace: NDArray, checkpoint: Checkpoint, chip: Chip
) -> tuple[dict, int]:
    """Put chain ``chain``'s saved state back: its step methods, the chip's query count, its
    draws into ``trace``; returns its point and steps done."""
    if saved.chip_queries is not None:
        chip.continue_from(saved.chip_queries)  # first: the query counter counts from it
    try:
        step.sampling_state = saved.step_state
    except (AssertionError, ValueError, AttributeError, TypeError) as error:
        raise LimprobError(
            f"{checkpoint.path}: chain {chain}'s saved state does not fit this "
            f"run's step methods ({type(error).__name__})"
        ) from None
    for first, draws in checkpoint.draws(chain, saved):
        _fill_trace(trace, first, draws)
    trace.draw_idx = saved.steps
    return saved.point, saved.steps


def _trace_draws(trace: NDArray, first: int, stop: int) -> dict[str, np.ndarray]:
    """Steps ``first`` .. ``stop - 1`` of a PyMC ``NDArray`` chain trace as ``{name: array}``:
    its variables by name, sampler ``s``'s stat ``x`` as ``stat<s>:x`` (a stat of arrays
    stacked into one array)."""
    if stop <= first:
        return {}
    draws = {name: values[first:stop] for name, values in trace.samples.items()}
    for index, stats in enumerate(trace._stats):
        for name, values in stats.items():
            part = values[first:stop]
            draws[f"stat{index}:{name}"] = np.stack(part) if part.dtype == object else part
    return draws


def _fill_trace(trace: NDArray, first: int, draws: dict[str, np.ndarray]) -> None:
    """Write ``draws`` (as :func:`_trace_draws` gives them) back into ``trace`` from step
    ``first`` on."""
    for key, values in draws.items():
        if key.startswith("stat") and ":" in key:
            index, name = key.removeprefix("stat").split(":", 1)
            target = trace._stats[int(index)][name]
        else:
            target = trace.samples[key]
        if target.dtype == object:
            for offset, value in enumerate(values):
                target[first + offset] = value
        else:
            target[first : first + len(values)] = values
