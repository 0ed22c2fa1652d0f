"""limprob: training neuromorphic hardware under uncertainty with PyMC and ArviZ."""

from importlib.metadata import PackageNotFoundError, version

from limprob.errors import LimprobError

try:
    __version__ = version("limprob")
except PackageNotFoundError:  # running from a source tree that was not installed
    __version__ = "0.0.0"

__all__ = ["LimprobError", "__version__"]
