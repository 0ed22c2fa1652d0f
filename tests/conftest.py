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
