"""What every limprob step method shares: one compiled evaluation, cached at the current point.

A chip query is the expensive part of a log-density evaluation, so every step method here
evaluates the model through one compiled function ``q -> [model logp, *pointwise
log-likelihoods]`` and never evaluates the current point again while it is valid: the chain
state holds the position and its evaluation (as BlackJAX's random-walk kernels do), and the
stat ``evaluations`` counts the calls of that function a step made (its chip queries).

Steps of a compound step share an :class:`EvaluationCache` keyed by the whole point, so a block
whose neighbour just moved (and so just evaluated the new point) reads that evaluation instead
of querying the chip again.

On a noisy chip an evaluation is an estimate made as a
:class:`~limprob.inference.step_methods.likelihood_estimator.LikelihoodEstimator` says, and
the current point's estimate is kept (pseudo-marginal MH).
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import Callable, Iterable
from typing import Any, NamedTuple

import numpy as np
import pymc as pm
import xarray as xr
from pymc.blocking import DictToArrayBijection, RaveledVars
from pymc.pytensorf import make_shared_replacements
from pymc.step_methods.arraystep import ArrayStepShared
from pymc.step_methods.compound import StepMethodState
from pymc.step_methods.state import dataclass_state
from pytensor.compile import Function
from rich.progress import TextColumn

from limprob import interruption
from limprob.inference.step_methods.acceptance import acceptance_probability
from limprob.inference.step_methods.compiled import (
    compile_raveled,
    pointwise_log_likelihoods,
    resolve_vars,
)
from limprob.inference.step_methods.likelihood_estimator import (
    LikelihoodEstimator,
    average_in_probability,
)
from limprob.inference.step_methods.progress import Progress


def log_likelihood_stat(name: str) -> str:
    """Name of the sample stat that carries observed variable ``name``'s log-likelihood."""
    return f"log_likelihood__{name}"


def take_recorded_stats(
    stats: xr.Dataset, names: Iterable[str]
) -> tuple[xr.Dataset, dict[str, xr.DataArray]]:
    """Split ``sample_stats`` (an xarray Dataset) into the stats without the recorded
    ``log_likelihood__<name>`` variables (and their dims) and those variables, by ``name``;
    names that were not recorded are skipped."""
    recorded = {
        name: stats[log_likelihood_stat(name)]
        for name in names
        if log_likelihood_stat(name) in stats
    }
    rest = stats.drop_vars([log_likelihood_stat(n) for n in recorded]).drop_dims(
        [d for d in stats.dims if str(d).startswith("log_likelihood__")]
    )
    return rest, recorded


EVALUATION_STATS: dict[str, tuple[type, list]] = {
    "model_logp": (np.float64, []),
    "evaluations": (np.int64, []),
    "repeats": (np.int64, []),
    "pilot_log_likelihood_variance": (np.float64, []),
}
"""Stats every step records: the model's log-density at the point it ends on, the calls of the
compiled function (chip queries) it made, the calls per likelihood estimate, and the variance
of the one-call log-likelihood estimate measured by the last pilot (NaN before any)."""


class Evaluation(NamedTuple):
    """One call of the compiled log-density at a point."""

    target: float
    """The log-density the step's acceptance rule uses: ``model_logp``, or for steps that
    propose from the prior, ``model_logp`` less the prior of the sampled variables."""
    model_logp: float
    pointwise: list


class EvaluationCache:
    """The last evaluation made at a whole point (all value variables), shared by the steps of
    a compound step: ``key`` names the point, ``model_logp`` and ``pointwise`` are its
    evaluation."""

    key: tuple | None
    model_logp: float | None
    pointwise: list | None

    def __init__(self) -> None:
        self.clear()

    def clear(self) -> None:
        """Forget the cached evaluation."""
        self.key, self.model_logp, self.pointwise = None, None, None

    def store(self, key: tuple | None, model_logp: float | None, pointwise: list | None) -> None:
        """Cache the evaluation ``model_logp``, ``pointwise`` of the point named ``key``
        (:func:`point_key`)."""
        self.key, self.model_logp, self.pointwise = key, model_logp, pointwise


def point_key(point: dict) -> tuple:
    """A key that names a whole point: its variables' names and bytes."""
    return tuple((name, np.asarray(point[name]).tobytes()) for name in sorted(point))


@dataclass_state
class CachedEvaluationState(StepMethodState):
    """What a :class:`CachedEvaluationStep` carries from one step to the next, besides its
    random generator: PyMC's ``sampling_state`` reads and sets it (a checkpoint stores it), so
    a chain restored from it continues exactly as it would have.

    ``_cached_q`` and ``_cached`` are the current point and its evaluation, ``shared_evaluation``
    the contents of the evaluation cache shared with the other blocks (a restored cache spares
    the chip a query, and on a noisy chip keeps the current point's estimate, as
    pseudo-marginal MH needs).
    """

    tune: bool
    repeats: int
    pilot_variance: float
    _pilot_due: bool
    _cached_q: np.ndarray | None
    _cached: Evaluation | None
    shared_evaluation: tuple


class CachedEvaluationStep(ArrayStepShared):
    """Base of limprob's step methods: one compiled function, one call per evaluation.

    The function maps the raveled sampled variables ``q`` to ``[logp(q), *pointwise
    log-likelihoods]``. When ``target_is_likelihood`` (steps whose proposals are reversible with
    respect to the Gaussian prior of the sampled variables) the acceptance rule uses
    ``L(q) = logp(q) - log prior(q)``; the prior comes from a second compiled function that
    touches no chip. Otherwise it uses ``logp(q)``.

    ``_compile(outputs)`` compiles further functions of ``q`` that read the other variables from
    the same shared inputs (cheap ones that touch no chip, such as a prior).

    Subclasses implement :meth:`_transition`, which gets the evaluation of the current point,
    evaluates proposals with :meth:`_evaluate` and moves with :meth:`_move_to`. Every step
    records ``model_logp``, ``evaluations`` and ``log_likelihood__<name>`` (pointwise, object
    dtype) at the point it ends on.

    The constructor is the one every step method shares: a subclass takes its own parameters,
    passes the rest on as ``**step_options``, and reads the model, its sampled variables and
    the initial point in :meth:`_prepare`, which runs before anything is compiled from them.

    Parameters
    ----------
    vars : variables to sample (default: all continuous free variables).
    record_log_likelihood : record each observed variable's pointwise log-likelihood (and each
        ``pm.Potential``'s value) at the current point as a sample stat
        (``log_likelihood__<name>``); it comes from the same evaluation as the log-density, so
        it costs nothing extra.
    cache : an :class:`EvaluationCache` shared with the other steps of a compound step
        (default: one of its own).
    estimator : how a noisy likelihood is estimated
        (:class:`~limprob.inference.step_methods.likelihood_estimator.LikelihoodEstimator`):
        repeats per estimate, and whether the current point's estimate is kept
        (pseudo-marginal).
    model, rng, initial_point, compile_kwargs, blocked : as for PyMC's step methods.
    """

    stats_dtypes_shapes: dict[str, tuple[type, list | None]]
    rng: np.random.Generator
    _cached_q: np.ndarray | None
    _cached: Evaluation | None
    _own_log_prior: Function | None
    default_blocked = True
    target_is_likelihood = False
    progress = Progress()
    _state_class = CachedEvaluationState

    def __init__(
        self,
        vars: Any = None,
        *,
        record_log_likelihood: bool = True,
        cache: EvaluationCache | None = None,
        estimator: LikelihoodEstimator | None = None,
        model: pm.Model | None = None,
        rng: Any = None,
        initial_point: dict[str, np.ndarray] | None = None,
        compile_kwargs: dict | None = None,
        blocked: bool = True,
    ) -> None:
        model, vars, initial_point = resolve_vars(model, vars, initial_point)
        shared = make_shared_replacements(initial_point, vars, model)
        self._compile_inputs = dict(
            vars=vars, shared=shared, initial_point=initial_point, compile_kwargs=compile_kwargs
        )
        self._prepare(model, vars, initial_point)
        # every step computes the pointwise log-likelihoods (they come with the same evaluation,
        # and a shared cache must hold them for whichever block records them)
        observed_names, pointwise = pointwise_log_likelihoods(model)
        self._evaluate_function = self._compile([model.logp(), *pointwise])
        self._observed_names = observed_names if record_log_likelihood else []
        self._own_log_prior = (
            self._compile([model.logp(vars=[model.values_to_rvs[v] for v in vars])])
            if self.target_is_likelihood
            else None
        )
        stats = {**self.stats_dtypes_shapes, **EVALUATION_STATS}
        for name in self._observed_names:
            stats[log_likelihood_stat(name)] = (object, None)
        self.stats_dtypes_shapes = stats
        self.stats_dtypes = [{name: dtype for name, (dtype, _) in stats.items()}]
        self.cache = EvaluationCache() if cache is None else cache
        self.estimator = LikelihoodEstimator() if estimator is None else estimator
        super().__init__(vars, shared, blocked=blocked, rng=rng)
        self.tune = True
        self._evaluations = 0
        self._reset_chain()

    def _prepare(
        self, model: pm.Model, vars: list[Any], initial_point: dict[str, np.ndarray]
    ) -> None:
        """Read what the step method needs of the model, its sampled value variables ``vars``
        and the initial point (sizes, a prior), and compile its own cheap functions with
        :meth:`_compile`; called once by the constructor (subclasses override it)."""

    @property
    def shared_evaluation(self) -> tuple:
        """The shared evaluation cache's ``(key, model_logp, pointwise)``; set in place, so the
        blocks of a compound step keep sharing one cache."""
        return self.cache.key, self.cache.model_logp, self.cache.pointwise

    @shared_evaluation.setter
    def shared_evaluation(self, contents: tuple) -> None:
        self.cache.store(*contents)

    def _compile(self, outputs: list[Any]) -> Function:
        """A function of ``q`` reading the other variables from this step's shared inputs."""
        return compile_raveled(outputs, **self._compile_inputs)

    def _reset_chain(self) -> None:
        """Forget everything about the previous chain (subclasses extend this)."""
        self._cached_q = None
        self._cached = None
        self.cache.clear()
        self.repeats = 1 if self.estimator.auto else int(self.estimator.repeats)
        self.pilot_variance = np.nan
        self._pilot_due = self.estimator.auto

    def stop_tuning(self) -> None:
        """End tuning; with ``repeats="auto"`` a new pilot then chooses ``repeats`` for
        sampling."""
        super().stop_tuning()
        self._pilot_due = self.estimator.auto

    def _pilot(self, q: np.ndarray) -> None:
        """Measure the variance of the one-call log-likelihood estimate at ``q`` and set
        ``repeats`` from it (:class:`LikelihoodEstimator`); the current point's estimate is
        then drawn again with the new ``repeats``."""
        totals = []
        for _ in range(self.estimator.pilot_calls):
            self._evaluations += 1
            _, *pointwise = self._evaluate_function(q)
            totals.append(sum(float(np.sum(values)) for values in pointwise))
        self.pilot_variance = float(np.var(totals, ddof=1))
        self.repeats = self.estimator.repeats_for(self.pilot_variance)
        self._cached_q = None
        self._pilot_due = False

    def setup_chain(self, rng: np.random.Generator, tune: int, draws: int) -> None:
        """Start a chain: set the generator and whether it tunes, and forget the previous chain."""
        super().setup_chain(rng, tune, draws)
        self.tune = tune > 0
        self._reset_chain()

    def step(self, point: dict) -> tuple[dict, list[dict]]:
        """One step from ``point``: the current evaluation is read from the shared cache when it
        holds this very point (this step's last move, or another block's), else evaluated again;
        the new point's evaluation is cached for the next step."""
        if self.cache.key == point_key(point):
            q = DictToArrayBijection.map({v.name: point[v.name] for v in self.vars}).data
            self._cached_q = q
            model_logp, pointwise = self.cache.model_logp, self.cache.pointwise
            assert model_logp is not None and pointwise is not None  # the cache holds the point
            self._cached = self._evaluation(q, model_logp, pointwise)
        else:
            self._cached_q = None
        new_point, stats = super().step(point)
        assert self._cached is not None  # astep leaves the evaluation of the point it ends on
        self.cache.store(point_key(new_point), self._cached.model_logp, self._cached.pointwise)
        return new_point, stats

    def _evaluation(self, q: np.ndarray, model_logp: float, pointwise: list) -> Evaluation:
        if self.target_is_likelihood:
            assert self._own_log_prior is not None  # compiled when the target is the likelihood
            return Evaluation(model_logp - float(self._own_log_prior(q)[0]), model_logp, pointwise)
        return Evaluation(model_logp, model_logp, pointwise)

    def _evaluate(self, q: np.ndarray) -> Evaluation:
        """An estimate at ``q``: ``repeats`` calls of the compiled function (chip queries),
        averaged in probability space (:class:`LikelihoodEstimator`); one call is returned as
        it is."""
        calls = []
        for repeat in range(self.repeats):
            if repeat:  # a signal stops a long estimate at its next chip query
                interruption.stop_mid_step()
            self._evaluations += 1
            calls.append(self._evaluate_function(q))
        model_logp, *pointwise = calls[0]
        if self.repeats > 1:
            averaged = average_in_probability([call[1:] for call in calls])
            model_logp = (
                float(model_logp)
                - sum(float(np.sum(p)) for p in pointwise)
                + sum(float(np.sum(p)) for p in averaged)
            )
            pointwise = averaged
        return self._evaluation(q, float(model_logp), pointwise)

    def _move_to(self, q: np.ndarray, evaluation: Evaluation) -> None:
        self._cached_q, self._cached = q, evaluation

    def _current(self, q: np.ndarray) -> Evaluation:
        """The current point's evaluation: cached unless stale."""
        if self._cached_q is None or not np.array_equal(q, self._cached_q):
            self._move_to(q.copy(), self._evaluate(q))
        assert self._cached is not None  # set with _cached_q
        return self._cached

    def _metropolis(
        self, current: Evaluation, proposal: np.ndarray, log_ratio_offset: float = 0.0
    ) -> tuple[float, bool]:
        """Evaluate ``proposal`` once and move there with probability
        ``min(1, exp(target(q') - target(q) - log_ratio_offset))``; return that probability
        and whether it moved."""
        evaluation = self._evaluate(proposal)
        accept = acceptance_probability(evaluation.target - current.target - log_ratio_offset)
        accepted = bool(self.rng.uniform() < accept)
        if accepted:
            self._move_to(proposal, evaluation)
        return accept, accepted

    def astep(self, q0: RaveledVars) -> tuple[RaveledVars, list[dict]]:
        """One transition of the raveled variables ``q0`` and its stats (PyMC's ``astep``): a
        pilot if one is due, then the subclass's ``_transition`` from the current evaluation."""
        self._evaluations = 0
        if self._pilot_due:
            self._pilot(q0.data)
        if self.estimator.re_estimate_current:
            self._cached_q = None
        stats = self._transition(q0.data, self._current(q0.data))
        assert self._cached is not None and self._cached_q is not None  # set by _current
        stats.update(
            model_logp=self._cached.model_logp,
            evaluations=self._evaluations,
            repeats=self.repeats,
            pilot_log_likelihood_variance=self.pilot_variance,
        )
        stats.update(
            {
                log_likelihood_stat(name): values
                for name, values in zip(self._observed_names, self._cached.pointwise)
            }
        )
        return RaveledVars(self._cached_q.copy(), q0.point_map_info), [stats]

    @abstractmethod
    def _transition(self, q: np.ndarray, current: Evaluation) -> dict:
        """Make one transition from ``q`` (whose evaluation is ``current``); return the
        method's own stats."""

    def _progressbar_config(
        self, n_chains: int = 1
    ) -> tuple[list[TextColumn], dict[str, list[int]]]:
        return self.progress.config(n_chains)

    def _make_progressbar_update_functions(
        self,
    ) -> tuple[Callable[[dict[str, Any]], dict[str, Any]]]:
        return self.progress.update_functions()
