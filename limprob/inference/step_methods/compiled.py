"""One compiled function of a model's raveled sampled variables, as PyMC's step methods
build it: the variables to sample, and the model's log-density with its pointwise
log-likelihoods as outputs."""

from __future__ import annotations

from typing import Any

import numpy as np
import pymc as pm
from pymc.pytensorf import compile as compile_pymc
from pymc.pytensorf import join_nonshared_inputs
from pymc.util import get_value_vars_from_user_vars
from pytensor.compile import Function
from pytensor.graph.basic import Variable


def resolve_vars(
    model: pm.Model | None, vars: Any, initial_point: dict[str, np.ndarray] | None
) -> tuple[pm.Model, list[Variable], dict[str, np.ndarray]]:
    """The model, the value variables to sample (default: all continuous ones) and the initial
    point, as PyMC's step methods resolve them."""
    model = pm.modelcontext(model)
    if initial_point is None:
        initial_point = model.initial_point()
    vars = (
        model.continuous_value_vars if vars is None else get_value_vars_from_user_vars(vars, model)
    )
    return model, vars, initial_point


def compile_raveled(
    outputs: list[Variable],
    *,
    vars: list[Variable],
    shared: dict,
    initial_point: dict[str, np.ndarray],
    compile_kwargs: dict | None,
) -> Function:
    """Compile ``q -> outputs`` where ``q`` is ``vars`` raveled and joined into one vector and
    every other value variable is read from its shared variable in ``shared``."""
    outputs, joined = join_nonshared_inputs(
        point=initial_point, outputs=outputs, inputs=vars, shared_inputs=shared
    )
    function = compile_pymc([joined], outputs, **(compile_kwargs or {}))
    function.trust_input = True
    return function


def pointwise_log_likelihoods(model: pm.Model) -> tuple[list[str], list[Variable]]:
    """Names and graphs of each observed variable's elementwise log-likelihood and each
    potential's value, evaluated at the value variables as ``model.logp`` does (so they share
    its nodes and cost no extra evaluation)."""
    observed, potentials = list(model.observed_RVs), list(model.potentials)
    graphs = [
        *(model.logp(vars=observed, sum=False) if observed else []),
        *model.replace_rvs_by_values(potentials),
    ]
    return [*(rv.name for rv in observed), *(p.name for p in potentials)], graphs
