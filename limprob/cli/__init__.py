"""The ``limprob`` command line: it only composes library calls.

    limprob train    --strength 1 --out runs/run.nc     train on a simulated chip, save a trace
    limprob evaluate runs/run.nc [--json]               test accuracy and chip queries
    limprob evaluate --network net.nir                  a NIR network's accuracy, ideal chip
    limprob summary  runs/run.nc [--var-names W_out]    ArviZ summary of the posterior
    limprob energy   --params 1e15 --tokens 3e11         energy bounds of training, J
    limprob energy   runs/run.nc                          energy of that training run
    limprob study    --quick --out runs/study.nc          method x strength x seed grid on Dask
    limprob compare  A.nc B.nc [--json] [--plot F.png]     LOO (and SMC evidence) comparison
    limprob probe    --strength 1 --out probes.nc         record a chip's probe measurements
    limprob twin     probes.nc [--population] --out t.nc  fit a digital twin to the probes
    limprob export   runs/run.nc --nir net.nir            the trained network as a NIR graph
    limprob plot     runs/run.nc --out run.png            progress per chip query, rank plot
    limprob chip serve --port P --token-file F            serve a chip over the network

One module per command group registers its subcommands (``register(commands)``), with
defaults read from the configuration classes (:mod:`limprob.cli.options`). A subcommand's
options are added when that subcommand is used (:func:`limprob.cli.options.add_later`), so
``limprob --help`` and ``limprob --version`` import no numerical library: the modules of this
package import PyMC, PyTensor, ArviZ, scikit-learn and Dask only inside the functions that
need them. Bad input (a :class:`~limprob.errors.LimprobError` or a malformed argument) prints
one line ``limprob: error: ...`` and exits with code 2, leaving no output file.
SIGINT and SIGTERM stop any command (:mod:`limprob.interruption`) with one line ``limprob:
interrupted by SIG...: what was kept`` and exit code 130 or 143, never 0; ``train`` may keep
its completed draws (``--on-interrupt``).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

import limprob
from limprob import interruption
from limprob.cli import chip, compare, energy, nir, plot, study, train, twin
from limprob.cli.options import record_given_options
from limprob.errors import LimprobError

COMMAND_GROUPS = (train, energy, study, compare, twin, nir, plot, chip)
"""The modules that register subcommands, in the order ``--help`` lists them."""


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and exit code 2, descriptions and examples are
    printed as written, and options registered with :meth:`add_later` are added only when the
    parser parses or prints its help."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        if kwargs.get("description"):
            kwargs["description"] = textwrap.fill(kwargs["description"], width=88)
        super().__init__(*args, **kwargs)
        record_given_options(self)
        self._later: list[Callable[[argparse.ArgumentParser], object]] = []

    def add_later(self, add_options: Callable[[argparse.ArgumentParser], object]) -> None:
        """Call ``add_options(self)`` before this parser is first used."""
        self._later.append(add_options)

    def _add_pending(self) -> None:
        while self._later:
            self._later.pop(0)(self)

    def parse_known_args(  # type: ignore[override]  # argparse's overloads, one signature here
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._add_pending()
        return super().parse_known_args(args, namespace)

    def format_usage(self) -> str:
        self._add_pending()
        return super().format_usage()

    def format_help(self) -> str:
        self._add_pending()
        return super().format_help()

    def error(self, message: str) -> NoReturn:
        raise LimprobError(f"{self.prog}: {message}")


def build_parser() -> argparse.ArgumentParser:
    """The ``limprob`` argument parser with every command group's subcommands."""
    parser = _Parser(
        prog="limprob",
        description="Train spiking-network chips in the loop by "
        "MCMC, compare models, and bound the energy of learning.",
        epilog="Example:\n  limprob train --out runs/run.nc && limprob evaluate "
        "runs/run.nc\n\n'limprob COMMAND --help' describes a command.",
    )
    parser.add_argument("--version", action="version", version=f"limprob {limprob.__version__}")
    commands = parser.add_subparsers(
        dest="command", required=True, parser_class=_Parser, metavar="COMMAND"
    )
    for group in COMMAND_GROUPS:
        group.register(commands)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``) and return its exit code: 0, 2
    for bad input, 130 or 143 when stopped by a signal."""
    with interruption.handled():
        try:
            interruption.stop_if_received()  # a signal while the console script started
            args = build_parser().parse_args(argv)
            args.run(args)
            interruption.stop_if_received()  # a signal deferred while finishing
        except LimprobError as error:
            message = " ".join(str(error).split())  # one line, whatever a library said
            print(
                message if message.startswith("limprob") else f"limprob: error: {message}",
                file=sys.stderr,
            )
            return 2
        except KeyboardInterrupt as error:
            print(interruption.interrupted_line(error), file=sys.stderr)
            return interruption.as_interrupted(error).exit_code
        except Exception as error:  # a second signal inside compiled code: a SystemError
            stopped = interruption.cause(error)
            if stopped is None:
                raise
            print(interruption.interrupted_line(stopped), file=sys.stderr)
            return stopped.exit_code
    return 0
