"""Per-block proposals: one step method per block of variables (e.g. per layer)."""

from __future__ import annotations

from typing import Any

import pymc as pm
from pymc.step_methods.compound import CompoundStep

from limprob.inference.step_methods.cached_evaluation import CachedEvaluationStep, EvaluationCache


def layer_blocks(
    model: pm.Model | None,
    step_class: type[CachedEvaluationStep],
    *,
    blocks: dict[str, list[Any]] | None = None,
    record_log_likelihood: bool = True,
    **kwargs: Any,
) -> CompoundStep:
    """One ``step_class`` instance per named block of variables, so each block (e.g. each
    layer's weights ``W_in``, ``W_out``) gets its own proposal scale.

    Parameters
    ----------
    model : the model (``None``: from the context).
    step_class : a step method class taking ``vars`` and ``record_log_likelihood``.
    blocks : ``{name: [variables or their names]}``, in the order the blocks are updated;
        default: each free random variable its own block.
    record_log_likelihood : if true, the last block records the pointwise log-likelihoods (at
        the point each iteration ends on); the others never do.
    kwargs : passed to every block's ``step_class``.

    The blocks share one
    :class:`~limprob.inference.step_methods.cached_evaluation.EvaluationCache`: a block whose
    neighbour just moved reads the evaluation the neighbour made at the new point,
    so every block costs one chip query per proposal, no more.
    """
    model = pm.modelcontext(model)
    if blocks is None:
        blocks = {rv.name: [rv] for rv in model.free_RVs}
    last = len(blocks) - 1
    cache = EvaluationCache()
    return CompoundStep(
        [
            step_class(
                [model[v] if isinstance(v, str) else v for v in block],
                model=model,
                record_log_likelihood=record_log_likelihood and i == last,
                cache=cache,
                **kwargs,
            )
            for i, block in enumerate(blocks.values())
        ]
    )
