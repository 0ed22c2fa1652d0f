"""Step methods that respect the cost of a chip query.

:class:`BlockedMetropolis` is random-walk Metropolis-Hastings over all its variables at once:
one log-density evaluation (so one chip query) per proposal, the current point's log-density
and pointwise log-likelihood cached, and the proposal scale tuned toward a target acceptance
rate. :class:`ChipQueryCounter` rides beside any step method in a compound step and records the
chip's cumulative queries in the chain's sample stats.

Neither knows what a chip is made of: the first sees only a model's log-density, the second
only an object with a ``queries`` count.
"""

from __future__ import annotations

import numpy as np
from rich.progress import TextColumn
from rich.table import Column

import pymc as pm
from pymc.blocking import RaveledVars
from pymc.pytensorf import compile as compile_pymc
from pymc.pytensorf import join_nonshared_inputs, make_shared_replacements
from pymc.step_methods.arraystep import ArrayStepShared
from pymc.step_methods.compound import BlockedStep, Competence, CompoundStep
from pymc.util import get_value_vars_from_user_vars

TARGET_ACCEPT = 0.234
"""Acceptance rate that is optimal for random-walk Metropolis in many dimensions
(Roberts, Gelman and Gilks 1997)."""


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
    """One stochastic-approximation step of the log proposal scale toward ``target``:

        log s <- log s + (a - target) / (iteration + 1) ** decay

    where ``a`` is this proposal's acceptance probability. Diminishing steps (decay in
    (0.5, 1]) make the adaptation settle.
    """
    return log_scale + (accept_prob - target) / (iteration + 1.0) ** decay


class BlockedMetropolis(ArrayStepShared):
    """Blocked random-walk Metropolis-Hastings with a cached current log-density.

    Proposes ``q' = q + s * S * z`` with ``z ~ N(0, I)`` for all variables together, evaluates
    the model's log-density once at ``q'`` and accepts with probability
    ``min(1, exp(logp(q') - logp(q)))``. The log-density of the current point is kept, so each
    proposal costs one evaluation. During tuning the scale ``s`` follows
    :func:`robbins_monro_log_scale` toward ``target_accept``.

    Parameters
    ----------
    vars : variables to sample (default: all continuous free variables).
    S : per-coordinate proposal standard deviations (default ones).
    scaling : initial scale ``s`` (default ``2.38 / sqrt(d)``).
    target_accept : acceptance rate the tuning aims for.
    record_log_likelihood : also record each observed variable's pointwise log-likelihood (and
        each ``pm.Potential``'s value) at the current point as a sample stat
        (``log_likelihood__<name>``); it comes from the same evaluation as the log-density, so
        it costs nothing extra.
    adapt_covariance : during tuning, learn the proposal's covariance from the chain itself
        (adaptive Metropolis, Haario, Saksman and Tamminen 2001): after
        ``covariance_warmup`` tuning steps the proposal becomes ``q' = q + s L z`` with
        ``L L^T`` the running covariance of the tuning draws (plus ``1e-10 I``) and ``s``
        restarted at ``2.38 / sqrt(d)``; the covariance is frozen when tuning ends. Worth it
        for a few correlated parameters; for hundreds of weights the diagonal ``S`` is enough.
    """

    name = "blocked_metropolis"
    default_blocked = True
    stats_dtypes_shapes = {
        "accept": (np.float64, []),
        "accepted": (bool, []),
        "scaling": (np.float64, []),
        "model_logp": (np.float64, []),
    }

    def __init__(self, vars=None, *, S=None, scaling=None, target_accept=TARGET_ACCEPT,
                 record_log_likelihood=True, adapt_covariance=False, covariance_warmup=200,
                 model=None, rng=None, initial_point=None, compile_kwargs=None, blocked=True):
        model = pm.modelcontext(model)
        if initial_point is None:
            initial_point = model.initial_point()
        vars = (model.continuous_value_vars if vars is None
                else get_value_vars_from_user_vars(vars, model))
        size = int(sum(initial_point[v.name].size for v in vars))
        self.proposal_sd = np.ones(size) if S is None else np.broadcast_to(S, size).astype(float)
        self.initial_scaling = 2.38 / np.sqrt(size) if scaling is None else float(scaling)
        self.target_accept = float(target_accept)
        self.adapt_covariance = bool(adapt_covariance)
        self.covariance_warmup = int(covariance_warmup)

        shared = make_shared_replacements(initial_point, vars, model)
        observed = list(model.observed_RVs) if record_log_likelihood else []
        potentials = list(model.potentials) if record_log_likelihood else []
        # Potentials are written in terms of the random variables: evaluate them at the value
        # variables, as model.logp does, so they share its nodes (one evaluation, not two).
        pointwise = [*(model.logp(vars=observed, sum=False) if observed else []),
                     *model.replace_rvs_by_values(potentials)]
        outputs, joined = join_nonshared_inputs(
            point=initial_point, outputs=[model.logp(), *pointwise], inputs=vars,
            shared_inputs=shared,
        )
        self._evaluate = compile_pymc([joined], outputs, **(compile_kwargs or {}))
        self._evaluate.trust_input = True
        self._observed_names = [*(rv.name for rv in observed), *(p.name for p in potentials)]

        stats = dict(self.stats_dtypes_shapes)
        for name in self._observed_names:
            stats[log_likelihood_stat(name)] = (object, None)
        self.stats_dtypes_shapes = stats
        self.stats_dtypes = [{name: dtype for name, (dtype, _) in stats.items()}]
        super().__init__(vars, shared, blocked=blocked, rng=rng)
        self.tune = True
        self._reset_chain()

    def _reset_chain(self):
        self.log_scale = float(np.log(self.initial_scaling))
        self.tune_iteration = 0
        self._proposal_factor = None  # None: the diagonal proposal_sd
        self._n_seen, self._mean, self._scatter = 0, None, None
        self._cached_q = None
        self._cached_eval = None
        self._cached_others = ()

    def setup_chain(self, rng, tune, draws):
        super().setup_chain(rng, tune, draws)
        self.tune = tune > 0
        self._reset_chain()

    def reset_tuning(self):
        self.log_scale = float(np.log(self.initial_scaling))
        self.tune_iteration = 0

    def step(self, point):
        # Other variables (sampled by other steps) are shared inputs: when any of them
        # changed, the cached evaluation of the current point is stale.
        others = tuple(point[name].tobytes() for name in self.shared)
        if self._cached_q is not None and others != self._cached_others:
            self._cached_q = None
        self._cached_others = others
        return super().step(point)

    def _evaluate_at(self, q: np.ndarray):
        logp, *pointwise = self._evaluate(q)
        return float(logp), pointwise

    def astep(self, q0: RaveledVars):
        current = q0.data
        if self._cached_q is None or not np.array_equal(current, self._cached_q):
            self._cached_q, self._cached_eval = current.copy(), self._evaluate_at(current)
        logp0, pointwise0 = self._cached_eval

        scale = np.exp(self.log_scale)
        z = self.rng.standard_normal(current.size)
        step = (self.proposal_sd * z if self._proposal_factor is None
                else self._proposal_factor @ z)
        proposal = current + scale * step
        logp1, pointwise1 = self._evaluate_at(proposal)
        log_ratio = logp1 - logp0
        accept_prob = float(np.exp(min(0.0, log_ratio))) if np.isfinite(log_ratio) else 0.0
        accepted = bool(self.rng.uniform() < accept_prob)
        if accepted:
            self._cached_q, self._cached_eval = proposal, (logp1, pointwise1)

        if self.tune:
            self.log_scale = robbins_monro_log_scale(
                self.log_scale, accept_prob, self.tune_iteration, self.target_accept
            )
            self.tune_iteration += 1
            if self.adapt_covariance:
                self._learn_covariance(self._cached_q)

        logp, pointwise = self._cached_eval
        stats = {"accept": accept_prob, "accepted": accepted, "scaling": scale,
                 "model_logp": logp}
        for name, values in zip(self._observed_names, pointwise):
            stats[log_likelihood_stat(name)] = values
        return RaveledVars(self._cached_q.copy(), q0.point_map_info), [stats]

    def _learn_covariance(self, q: np.ndarray):
        """Welford update of the tuning draws' covariance; from ``covariance_warmup`` steps on,
        propose along it (the scale restarts once, at the switch)."""
        self._n_seen += 1
        if self._mean is None:
            self._mean, self._scatter = q.astype(float).copy(), np.zeros((q.size, q.size))
            return
        delta = q - self._mean
        self._mean = self._mean + delta / self._n_seen
        self._scatter = self._scatter + np.outer(delta, q - self._mean)
        if self._n_seen < self.covariance_warmup:
            return
        if self._n_seen == self.covariance_warmup:
            self.log_scale = float(np.log(2.38 / np.sqrt(q.size)))
        covariance = self._scatter / (self._n_seen - 1) + 1e-10 * np.eye(q.size)
        self._proposal_factor = np.linalg.cholesky(covariance)

    @staticmethod
    def competence(var, has_grad):
        return Competence.COMPATIBLE

    @staticmethod
    def _progressbar_config(n_chains=1):
        columns = [
            TextColumn("{task.fields[scaling]:0.3f}", table_column=Column("Scaling", ratio=1)),
            TextColumn("{task.fields[accept_rate]:0.2f}", table_column=Column("Accept", ratio=1)),
        ]
        return columns, {"scaling": [0.0] * n_chains, "accept_rate": [0.0] * n_chains}

    @staticmethod
    def _make_progressbar_update_functions():
        def update_stats(step_stats):
            return {"accept_rate": step_stats["accept"], "scaling": step_stats["scaling"]}

        return (update_stats,)


class ChipQueryCounter(BlockedStep):
    """A step that changes nothing and records ``chip_queries``: the chip's queries since the
    start of this chain (tuning included). Put it last in a compound step."""

    name = "chip_query_counter"
    stats_dtypes_shapes = {"chip_queries": (np.int64, [])}

    def __init__(self, vars=None, *, chip, model=None, blocked=True, rng=None):
        self.vars = vars
        self.chip = chip
        self._start = chip.queries

    def setup_chain(self, rng, tune, draws):
        super().setup_chain(rng, tune, draws)
        self._start = self.chip.queries

    def step(self, point):
        return point, [{"chip_queries": self.chip.queries - self._start}]

    @staticmethod
    def competence(var, has_grad):
        return Competence.INCOMPATIBLE


class CountedStep(CompoundStep):
    """A step method followed by a :class:`ChipQueryCounter`.

    Unlike a plain ``CompoundStep``, which keeps ``model_logp`` only from its last method, this
    keeps it from the last sampling method, so ``lp`` stays in the trace.
    """

    def __init__(self, step, chip, model=None):
        model = pm.modelcontext(model)
        methods = list(step.methods) if isinstance(step, CompoundStep) else [step]
        super().__init__([*methods, ChipQueryCounter(model.value_vars, chip=chip, model=model)])

    def step(self, point):
        stats = []
        for method in self.methods[:-1]:
            point, method_stats = method.step(point)
            stats.extend(method_stats)
        for method_stats in stats[:-1]:
            method_stats.pop("model_logp", None)
        point, counter_stats = self.methods[-1].step(point)
        return point, stats + counter_stats
