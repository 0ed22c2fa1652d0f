"""The independent Gaussian prior of a model's sampled variables, read from the model, for
step methods whose proposals are reversible with respect to it (pCN, elliptical slice)."""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np
import pymc as pm
from pymc.pytensorf import constant_fold
from pytensor.tensor.random.basic import NormalRV


class GaussianPrior(NamedTuple):
    """The independent prior ``q_i ~ Normal(mu_i, sigma_i)`` of the raveled sampled variables."""

    mu: np.ndarray
    sigma: np.ndarray

    @classmethod
    def of(
        cls, model: pm.Model, vars: list[Any], initial_point: dict[str, np.ndarray], sampler: str
    ) -> GaussianPrior:
        """Read ``mu`` and ``sigma`` per coordinate from the ``pm.Normal`` random variables of
        ``vars``; ``ValueError`` unless each is an untransformed ``pm.Normal`` with constant
        parameters."""
        mus, sigmas = [], []
        for value in vars:
            rv = model.values_to_rvs[value]
            if not isinstance(rv.owner.op, NormalRV):
                raise ValueError(
                    f"{sampler} needs a Normal prior, but {rv.name} is {type(rv.owner.op).__name__}"
                )
            if model.rvs_to_transforms.get(rv) is not None:
                raise ValueError(
                    f"{sampler} needs an untransformed Normal prior, but {rv.name} "
                    f"has the transform {model.rvs_to_transforms[rv]}"
                )
            try:
                mu, sigma = constant_fold(rv.owner.op.dist_params(rv.owner))
            except ValueError as error:
                raise ValueError(
                    f"{sampler} needs constant mu and sigma, but those of "
                    f"{rv.name} depend on other variables or data"
                ) from error
            shape = initial_point[value.name].shape
            mus.append(np.broadcast_to(mu, shape).ravel())
            sigmas.append(np.broadcast_to(sigma, shape).ravel())
        prior = cls(np.concatenate(mus).astype(float), np.concatenate(sigmas).astype(float))
        if not np.all(prior.sigma > 0):
            raise ValueError(f"{sampler} needs sigma > 0")
        return prior
