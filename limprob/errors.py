"""The one exception family for mistakes a user can make.

Everything limprob raises because of bad input (data, configuration, files, command-line
arguments) is a :class:`LimprobError`. The CLI prints its message as one line and exits with
code 2; library callers catch it like any ``ValueError``.
"""


class LimprobError(ValueError):
    """Bad input from the user: the message names the problem in one line."""
