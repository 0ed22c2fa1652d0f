"""What every limprob step method shares: one compiled evaluation, cached at the current point.

A chip query is the expensive part of a log-density evaluation, so every step method here
evaluates the model through one compiled function ``q -> [model logp, *pointwise
log-likelihoods]`` and never evaluates the current point again while it is valid: the chain
state holds the position and its evaluation (as BlackJAX's random-walk kernels do), and the
stat ``evaluations`` counts the calls of that function a step made (its chip queries).

Steps of a compound step share an :class:`EvaluationCache` keyed by the whole point, so a block
whose neighbour just moved (and so just evaluated the new point) reads that evaluation instead
of querying the chip again.

On a noisy chip an evaluation is a random estimate. A :class:`LikelihoodEstimator` then makes
it ``R`` calls averaged in probability space (an unbiased estimate of the likelihood), and
because the current point's estimate is kept, never drawn again, the step is pseudo-marginal
MH (Andrieu and Roberts 2009): it targets the exact posterior. ``re_estimate_current`` draws
it again on every step instead (Monte Carlo within Metropolis), which is only approximate.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pymc as pm
from pymc.blocking import DictToArrayBijection, RaveledVars
from pymc.pytensorf import compile as compile_pymc
from pymc.pytensorf import constant_fold, join_nonshared_inputs, make_shared_replacements
from pymc.step_methods.arraystep import ArrayStepShared
from pymc.step_methods.compound import StepMethodState
from pymc.step_methods.state import dataclass_state
from pymc.util import get_value_vars_from_user_vars
from pytensor.tensor.random.basic import NormalRV
from rich.progress import TextColumn
from rich.table import Column
from scipy.special import logsumexp

from limprob import interruption

TARGET_ACCEPT = 0.234
"""Acceptance rate that is optimal for random-walk Metropolis in many dimensions
(Roberts, Gelman and Gilks 1997)."""


Screen = Callable[[np.ndarray], float]
"""A cheap approximate log-likelihood of the raveled sampled variables (a software model of the
chip): ``screen(q) -> float`` (nats), for delayed acceptance."""


def log_likelihood_stat(name: str) -> str:
    """Name of the sample stat that carries observed variable ``name``'s log-likelihood."""
    return f"log_likelihood__{name}"


def take_recorded_stats(stats, names):
    """Split ``sample_stats`` (an xarray Dataset) into the stats without the recorded
    ``log_likelihood__<name>`` variables (and their dims) and those variables, by ``name``;
    names that were not recorded are skipped."""
    recorded = {name: stats[log_likelihood_stat(name)] for name in names
                if log_likelihood_stat(name) in stats}
    rest = stats.drop_vars([log_likelihood_stat(n) for n in recorded]).drop_dims(
        [d for d in stats.dims if d.startswith("log_likelihood__")])
    return rest, recorded


def robbins_monro_log_scale(log_scale: float, accept_prob: float, iteration: int,
                            target: float = TARGET_ACCEPT, decay: float = 0.6) -> float:
    """One stochastic-approximation step of a log step size toward ``target``:

        log s <- log s + (a - target) / (iteration + 1) ** decay

    where ``a`` is this proposal's acceptance probability. Diminishing steps (decay in
    (0.5, 1]) make the adaptation settle.
    """
    return log_scale + (accept_prob - target) / (iteration + 1.0) ** decay


def acceptance_probability(log_ratio: float) -> float:
    """``min(1, exp(log_ratio))``, and 0 when the ratio is undefined (NaN)."""
    return 0.0 if np.isnan(log_ratio) else float(np.exp(min(0.0, log_ratio)))


def resolve_vars(model, vars, initial_point):
    """The model, the value variables to sample (default: all continuous ones) and the initial
    point, as PyMC's step methods resolve them."""
    model = pm.modelcontext(model)
    if initial_point is None:
        initial_point = model.initial_point()
    vars = (model.continuous_value_vars if vars is None
            else get_value_vars_from_user_vars(vars, model))
    return model, vars, initial_point


def compile_raveled(outputs, *, vars, shared, initial_point, compile_kwargs):
    """Compile ``q -> outputs`` where ``q`` is ``vars`` raveled and joined into one vector and
    every other value variable is read from its shared variable in ``shared``."""
    outputs, joined = join_nonshared_inputs(
        point=initial_point, outputs=outputs, inputs=vars, shared_inputs=shared
    )
    function = compile_pymc([joined], outputs, **(compile_kwargs or {}))
    function.trust_input = True
    return function


def pointwise_log_likelihoods(model):
    """Names and graphs of each observed variable's elementwise log-likelihood and each
    potential's value, evaluated at the value variables as ``model.logp`` does (so they share
    its nodes and cost no extra evaluation)."""
    observed, potentials = list(model.observed_RVs), list(model.potentials)
    graphs = [*(model.logp(vars=observed, sum=False) if observed else []),
              *model.replace_rvs_by_values(potentials)]
    return [*(rv.name for rv in observed), *(p.name for p in potentials)], graphs


class GaussianPrior(NamedTuple):
    """The independent prior ``q_i ~ Normal(mu_i, sigma_i)`` of the raveled sampled variables."""

    mu: np.ndarray
    sigma: np.ndarray

    @classmethod
    def of(cls, model, vars, initial_point, sampler: str) -> GaussianPrior:
        """Read ``mu`` and ``sigma`` per coordinate from the ``pm.Normal`` random variables of
        ``vars``; ``ValueError`` unless each is an untransformed ``pm.Normal`` with constant
        parameters."""
        mus, sigmas = [], []
        for value in vars:
            rv = model.values_to_rvs[value]
            if not isinstance(rv.owner.op, NormalRV):
                raise ValueError(f"{sampler} needs a Normal prior, but {rv.name} is "
                                 f"{type(rv.owner.op).__name__}")
            if model.rvs_to_transforms.get(rv) is not None:
                raise ValueError(f"{sampler} needs an untransformed Normal prior, but {rv.name} "
                                 f"has the transform {model.rvs_to_transforms[rv]}")
            try:
                mu, sigma = constant_fold(rv.owner.op.dist_params(rv.owner))
            except ValueError as error:
                raise ValueError(f"{sampler} needs constant mu and sigma, but those of "
                                 f"{rv.name} depend on other variables or data") from error
            shape = initial_point[value.name].shape
            mus.append(np.broadcast_to(mu, shape).ravel())
            sigmas.append(np.broadcast_to(sigma, shape).ravel())
        prior = cls(np.concatenate(mus).astype(float), np.concatenate(sigmas).astype(float))
        if not np.all(prior.sigma > 0):
            raise ValueError(f"{sampler} needs sigma > 0")
        return prior


class Progress:
    """Progress-bar columns showing some stats, as ``(stat, header, format)``."""

    def __init__(self, *fields: tuple[str, str, str]):
        self.fields = fields

    def config(self, n_chains: int):
        """The progress bar's columns and their initial values, for ``n_chains`` chains (PyMC's
        progress-bar interface)."""
        columns = [TextColumn(f"{{task.fields[{stat}]:{fmt}}}",
                              table_column=Column(header, ratio=1))
                   for stat, header, fmt in self.fields]
        return columns, {stat: [0] * n_chains for stat, _, _ in self.fields}

    def update_functions(self):
        """The function that picks the shown stats from a step's stats (PyMC's progress-bar
        interface)."""
        def update_stats(step_stats):
            return {stat: step_stats[stat] for stat, _, _ in self.fields}

        return (update_stats,)


EVALUATION_STATS = {"model_logp": (np.float64, []), "evaluations": (np.int64, []),
                    "repeats": (np.int64, []), "pilot_log_likelihood_variance": (np.float64, [])}
"""Stats every step records: the model's log-density at the point it ends on, the calls of the
compiled function (chip queries) it made, the calls per likelihood estimate, and the variance
of the one-call log-likelihood estimate measured by the last pilot (NaN before any)."""


@dataclass(frozen=True)
class LikelihoodEstimator:
    """How a step estimates the likelihood at a point when each call of the model is noisy.

    With ``R = repeats`` calls returning pointwise log-likelihoods ``l_ir`` (nats), the
    estimate of each observation's likelihood is their mean in probability space,

        log p_hat_i = log (1/R) sum_r exp(l_ir),

    unbiased for ``p_i`` if each call is; with independent noise across observations the
    product ``prod_i p_hat_i`` is unbiased for the likelihood. ``repeats = "auto"`` measures
    the variance ``s1^2`` of the one-call estimate of ``sum_i l_i`` at the current point with
    ``pilot_calls`` calls, at the start of each chain and again at the end of tuning, and sets
    ``R = ceil(s1^2 / target_variance)`` (at most ``max_repeats``): the variance of the log of
    the R-call average is about ``s1^2 / R``, and pseudo-marginal MH is most efficient near
    ``1`` (Doucet, Pitt, Deligiannidis and Kohn 2015; Sherlock et al. 2015).
    ``re_estimate_current`` draws the current point's estimate again on every step: Monte
    Carlo within Metropolis, approximate.
    """

    repeats: int | str = 1
    re_estimate_current: bool = False
    target_variance: float = 1.0
    pilot_calls: int = 20
    max_repeats: int = 64

    def __post_init__(self):
        if self.repeats != "auto" and not (isinstance(self.repeats, int | np.integer)
                                           and self.repeats >= 1):
            raise ValueError(f"repeats must be a positive integer or 'auto', not "
                             f"{self.repeats!r}")
        if self.pilot_calls < 2 or self.max_repeats < 1 or not self.target_variance > 0:
            raise ValueError("the pilot needs at least 2 calls, max_repeats >= 1 and a "
                             "positive target variance")

    @property
    def auto(self) -> bool:
        """Whether a pilot chooses ``repeats`` (``repeats == "auto"``)."""
        return self.repeats == "auto"

    def repeats_for(self, variance: float) -> int:
        """The smallest ``R`` with ``variance / R <= target_variance``, in 1 .. max_repeats."""
        wanted = math.ceil(variance / self.target_variance) if np.isfinite(variance) else (
            self.max_repeats)
        return int(min(max(wanted, 1), self.max_repeats))


def average_in_probability(calls: list[list[np.ndarray]]) -> list[np.ndarray]:
    """``log (1/R) sum_r exp(l_r)`` elementwise, for each of the pointwise arrays of ``R``
    calls (``calls[r][k]``: call ``r``'s ``k``-th pointwise array)."""
    n_calls = len(calls)
    return [logsumexp(np.stack([np.asarray(call[k], dtype=float) for call in calls]), axis=0)
            - np.log(n_calls) for k in range(len(calls[0]))]
MOVE_STATS = {"accept": (np.float64, []), "accepted": (bool, [])}
"""Stats of a Metropolis-Hastings move: the acceptance probability and whether it moved."""


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

    def __init__(self):
        self.clear()

    def clear(self):
        """Forget the cached evaluation."""
        self.key, self.model_logp, self.pointwise = None, None, None

    def store(self, key, model_logp: float, pointwise: list):
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

    ``cache``: an :class:`EvaluationCache` shared with the other steps of a compound step
    (default: one of its own).
    """

    default_blocked = True
    target_is_likelihood = False
    progress = Progress()
    _state_class = CachedEvaluationState

    def __init__(self, vars, *, model, initial_point, record_log_likelihood, compile_kwargs,
                 blocked, rng, cache: EvaluationCache | None = None,
                 estimator: LikelihoodEstimator | None = None):
        shared = make_shared_replacements(initial_point, vars, model)
        self._compile_inputs = dict(vars=vars, shared=shared, initial_point=initial_point,
                                    compile_kwargs=compile_kwargs)
        # every step computes the pointwise log-likelihoods (they come with the same evaluation,
        # and a shared cache must hold them for whichever block records them)
        observed_names, pointwise = pointwise_log_likelihoods(model)
        self._evaluate_function = self._compile([model.logp(), *pointwise])
        self._observed_names = observed_names if record_log_likelihood else []
        self._own_log_prior = (
            self._compile([model.logp(vars=[model.values_to_rvs[v] for v in vars])])
            if self.target_is_likelihood else None)
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

    @property
    def shared_evaluation(self) -> tuple:
        """The shared evaluation cache's ``(key, model_logp, pointwise)``; set in place, so the
        blocks of a compound step keep sharing one cache."""
        return self.cache.key, self.cache.model_logp, self.cache.pointwise

    @shared_evaluation.setter
    def shared_evaluation(self, contents: tuple):
        self.cache.store(*contents)

    def _compile(self, outputs):
        """A function of ``q`` reading the other variables from this step's shared inputs."""
        return compile_raveled(outputs, **self._compile_inputs)

    def _reset_chain(self):
        """Forget everything about the previous chain (subclasses extend this)."""
        self._cached_q = None
        self._cached = None
        self.cache.clear()
        self.repeats = 1 if self.estimator.auto else int(self.estimator.repeats)
        self.pilot_variance = np.nan
        self._pilot_due = self.estimator.auto

    def stop_tuning(self):
        """End tuning; with ``repeats="auto"`` a new pilot then chooses ``repeats`` for
        sampling."""
        super().stop_tuning()
        self._pilot_due = self.estimator.auto

    def _pilot(self, q: np.ndarray):
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

    def setup_chain(self, rng, tune, draws):
        """Start a chain: set the generator and whether it tunes, and forget the previous chain."""
        super().setup_chain(rng, tune, draws)
        self.tune = tune > 0
        self._reset_chain()

    def step(self, point):
        """One step from ``point``: the current evaluation is read from the shared cache when it
        holds this very point (this step's last move, or another block's), else evaluated again;
        the new point's evaluation is cached for the next step."""
        if self.cache.key == point_key(point):
            q = DictToArrayBijection.map({v.name: point[v.name] for v in self.vars}).data
            self._cached_q = q
            self._cached = self._evaluation(q, self.cache.model_logp, self.cache.pointwise)
        else:
            self._cached_q = None
        new_point, stats = super().step(point)
        self.cache.store(point_key(new_point), self._cached.model_logp, self._cached.pointwise)
        return new_point, stats

    def _evaluation(self, q: np.ndarray, model_logp: float, pointwise: list) -> Evaluation:
        if self.target_is_likelihood:
            return Evaluation(model_logp - float(self._own_log_prior(q)[0]), model_logp,
                              pointwise)
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
            model_logp = (float(model_logp) - sum(float(np.sum(p)) for p in pointwise)
                          + sum(float(np.sum(p)) for p in averaged))
            pointwise = averaged
        return self._evaluation(q, float(model_logp), pointwise)

    def _move_to(self, q: np.ndarray, evaluation: Evaluation):
        self._cached_q, self._cached = q, evaluation

    def _current(self, q: np.ndarray) -> Evaluation:
        """The current point's evaluation: cached unless stale."""
        if self._cached_q is None or not np.array_equal(q, self._cached_q):
            self._move_to(q.copy(), self._evaluate(q))
        return self._cached

    def _metropolis(self, current: Evaluation, proposal: np.ndarray,
                    log_ratio_offset: float = 0.0) -> tuple[float, bool]:
        """Evaluate ``proposal`` once and move there with probability
        ``min(1, exp(target(q') - target(q) - log_ratio_offset))``; return that probability
        and whether it moved."""
        evaluation = self._evaluate(proposal)
        accept = acceptance_probability(evaluation.target - current.target - log_ratio_offset)
        accepted = bool(self.rng.uniform() < accept)
        if accepted:
            self._move_to(proposal, evaluation)
        return accept, accepted

    def astep(self, q0: RaveledVars):
        """One transition of the raveled variables ``q0`` and its stats (PyMC's ``astep``): a
        pilot if one is due, then the subclass's ``_transition`` from the current evaluation."""
        self._evaluations = 0
        if self._pilot_due:
            self._pilot(q0.data)
        if self.estimator.re_estimate_current:
            self._cached_q = None
        stats = self._transition(q0.data, self._current(q0.data))
        stats.update(model_logp=self._cached.model_logp, evaluations=self._evaluations,
                     repeats=self.repeats, pilot_log_likelihood_variance=self.pilot_variance)
        stats.update({log_likelihood_stat(name): values
                      for name, values in zip(self._observed_names, self._cached.pointwise)})
        return RaveledVars(self._cached_q.copy(), q0.point_map_info), [stats]

    @abstractmethod
    def _transition(self, q: np.ndarray, current: Evaluation) -> dict:
        """Make one transition from ``q`` (whose evaluation is ``current``); return the
        method's own stats."""

    def _progressbar_config(self, n_chains=1):
        return self.progress.config(n_chains)

    def _make_progressbar_update_functions(self):
        return self.progress.update_functions()


class DelayedAcceptance:
    """Stage 1 of delayed acceptance (Christen and Fox 2005), mixed into a step method that
    has ``screen``, ``rng`` and a ``_screen_cache`` (reset per chain to ``{}``).

    For a proposal ``q -> q'`` whose Hastings ratio with respect to the prior ``p`` is ``r_p``,
    stage 1 accepts with ``a_1 = min(1, exp(s(q') - s(q)) r_p)``, ``s`` the cheap screen (a
    software model of the chip); only then is the expensive log-likelihood ``L`` evaluated, and
    stage 2 accepts with

        a_2 = min(1, exp([L(q') - L(q)] - [s(q') - s(q)])).

    The two-stage kernel is reversible with respect to the exact posterior ``p exp(L)``,
    whatever ``s``: a poor screen costs efficiency, never exactness.
    """

    def _screen_stage(self, q: np.ndarray, proposal: np.ndarray,
                      log_prior_ratio: float) -> float | None:
        """Stage 1: ``s(q') - s(q)`` if the proposal passes the screen, None if it is screened
        out. ``s(q)`` comes from the cache (it was the previous step's point or proposal)."""
        current = self._screen_cache.get(q.tobytes())
        if current is None:
            current = float(self.screen(q))
        proposed = float(self.screen(proposal))
        self._screen_cache = {q.tobytes(): current, proposal.tobytes(): proposed}
        screen_ratio = proposed - current
        passed = self.rng.uniform() < acceptance_probability(screen_ratio + log_prior_ratio)
        return screen_ratio if passed else None
