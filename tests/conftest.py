import os

import pytest

from limprob.chip.settings import ChipSettings
from limprob.data import load_table, split
from limprob.inference import EvaluationSettings, MCMCSettings, TrainConfig
from limprob.snn import Network


@pytest.fixture(scope="session", autouse=True)
def cache_folder(tmp_path_factory):
    """The tests' cache (the energy model's device posterior) in a temporary folder, never the
    user's: subprocesses inherit it."""
    from limprob.io import CACHE_ENV

    before = os.environ.get(CACHE_ENV)
    os.environ[CACHE_ENV] = str(tmp_path_factory.mktemp("cache"))
    yield os.environ[CACHE_ENV]
    if before is None:
        del os.environ[CACHE_ENV]
    else:
        os.environ[CACHE_ENV] = before


@pytest.fixture(scope="session")
def wisconsin():
    return load_table()


@pytest.fixture(scope="session")
def data(wisconsin):
    return split(wisconsin, seed=0)


TINY = TrainConfig(
    network=Network(n_hidden=8, n_steps=32),
    mcmc=MCMCSettings(draws=1000, tune=500, chains=2),
    evaluation=EvaluationSettings(predictive_draws=10, train_fraction=0.5),
)
"""A run small enough for tests: 30-8-2 network on a strength-1 chip, 2 x 1500 proposals on
half the training data."""


SMALL_RUN_ARGS = [
    "--init",
    "prior",
    "--hidden",
    "4",
    "--steps",
    "8",
    "--train-fraction",
    "0.2",
    "--no-progress",
]
"""``limprob train`` options of a quick run: 30-4-2, 8 steps, a fifth of the training data,
from prior draws (these runs test something other than the start, and a model start would
probe the chip and train backprop first)."""


SMALL_TRACE = TrainConfig(
    network=Network(n_hidden=4, n_steps=16),
    chip=ChipSettings(strength=0.0),
    mcmc=MCMCSettings(draws=20, tune=20, chains=2),
    evaluation=EvaluationSettings(predictive_draws=6, train_fraction=0.3),
)
"""A trace for commands that read one (export, plot): 30-4-2 on the ideal chip, 2 x 40 steps."""


@pytest.fixture(scope="session")
def small_trace(tmp_path_factory):
    """The path of a saved :data:`SMALL_TRACE` training trace (about 20 s, once per session)."""
    from limprob.inference import train
    from limprob.io import save_trace

    path = tmp_path_factory.mktemp("small") / "run.nc"
    save_trace(train(SMALL_TRACE, progressbar=False), path)
    return path


SAMPLED_GROUPS = (
    "posterior",
    "log_likelihood",
    "sample_stats",
    "posterior_predictive",
    "predictions",
)
"""Groups whose variables are draws: ArviZ computes over their (chain, draw)."""


def untidy_dims(tree) -> list[str]:
    """What keeps ArviZ from reading ``tree`` as it comes: a dim PyMC left unnamed
    (``<var>_dim_<i>``) in any group, or a variable of a sampled group without chain and
    draw. Empty for a tidy trace."""
    import re

    problems = []
    for node in tree.subtree:
        for name, variable in node.to_dataset().data_vars.items():
            unnamed = [d for d in variable.dims if re.search(r"_dim_\d+$", str(d))]
            if unnamed:
                problems.append(f"{node.path}/{name}: unnamed dims {unnamed}")
            if node.name in SAMPLED_GROUPS and not {"chain", "draw"} <= set(variable.dims):
                problems.append(f"{node.path}/{name}: dims {variable.dims} lack chain, draw")
    return problems
