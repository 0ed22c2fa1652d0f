"""limprob: training neuromorphic hardware under uncertainty with PyMC and ArviZ."""

from limprob.errors import LimprobError

__all__ = ["LimprobError", "__version__"]


def __getattr__(name: str) -> str:
    # the version is looked up when asked for: importlib.metadata takes 40 ms to import, and
    # the console script (limprob.console) catches signals only once this package is imported
    if name != "__version__":
        raise AttributeError(f"module 'limprob' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("limprob")
    except PackageNotFoundError:  # running from a source tree that was not installed
        return "0.0.0"
