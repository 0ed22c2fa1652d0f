import pytest

from limprob.data import load_table, split
from limprob.inference import TrainConfig


@pytest.fixture(scope="session")
def wisconsin():
    return load_table()


@pytest.fixture(scope="session")
def data(wisconsin):
    return split(wisconsin, seed=0)


TINY = dict(hidden=8, time_steps=32, draws=1000, tune=500, chains=2, predictive_draws=10,
            train_fraction=0.5)


@pytest.fixture
def tiny_config():
    """A run small enough for tests: 30-8-2 network, 2 x 1500 proposals on half the training data."""
    return TrainConfig(strength=1.0, **TINY)


SMALL_TRACE = dict(strength=0.0, hidden=4, time_steps=16, draws=20, tune=20, chains=2,
                   predictive_draws=6, train_fraction=0.3)
"""A trace for commands that read one (export, plot): 30-4-2 on the ideal chip, 2 x 40 steps."""


@pytest.fixture(scope="session")
def small_trace(tmp_path_factory):
    """The path of a saved :data:`SMALL_TRACE` training trace (about 20 s, once per session)."""
    from limprob.inference import train
    from limprob.io import save_trace

    path = tmp_path_factory.mktemp("small") / "run.nc"
    save_trace(train(TrainConfig(**SMALL_TRACE), progressbar=False), path)
    return path
