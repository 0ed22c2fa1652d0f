"""Command-line options whose defaults come from a configuration class, declared once.

An option is ``(flag, field, help)`` (further entries are the caller's): ``--flag`` sets the
configuration field ``field`` (``part.field``: the field of one part of a composed
configuration, such as ``network.n_steps``, parsed into ``args.network_n_steps``,
:func:`option_dest`), its type and default are those of the field in the configuration's
defaults, and the help shows the default. :func:`config_fields` collects the parsed values to
construct the configuration, and :func:`replace_fields` puts them into one.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping, Sequence
from dataclasses import replace
from operator import attrgetter
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import xarray as xr


class _Recorded:
    """An argparse action that also adds its destination to ``namespace.given_options``, so a
    command can tell an option given on the command line from one left at its default."""

    dest: str

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        # mixed into an argparse action (below), whose __call__ this extends
        super().__call__(parser, namespace, values, option_string)  # type: ignore[misc]
        namespace.given_options = getattr(namespace, "given_options", set()) | {self.dest}


class RecordedStore(_Recorded, argparse._StoreAction):
    """``store``, recorded (:func:`given_options`)."""


class RecordedStoreTrue(_Recorded, argparse._StoreTrueAction):
    """``store_true``, recorded (:func:`given_options`)."""


def record_given_options(parser: argparse.ArgumentParser) -> None:
    """Make ``parser``'s plain and ``store_true`` options record that they were given."""
    for name in (None, "store"):
        parser.register("action", name, RecordedStore)
    parser.register("action", "store_true", RecordedStoreTrue)


def given_options(args: argparse.Namespace) -> set[str]:
    """The destinations of the options given on the command line (parsers set up with
    :func:`record_given_options`)."""
    return set(getattr(args, "given_options", set()))


def add_later(
    parser: argparse.ArgumentParser, add_options: Callable[[argparse.ArgumentParser], object]
) -> None:
    """Add a subcommand's options (``add_options(parser)``) when the subcommand is used: the
    CLI's parsers wait until they parse or print their help, so that ``limprob --help`` does
    not import what the options' defaults come from; any other parser gets them at once."""
    later = getattr(parser, "add_later", None)
    if later is None:
        add_options(parser)
    else:
        later(add_options)


NETWORK_OPTIONS = (
    ("hidden", "network.n_hidden", "hidden LIF neurons (Network.n_hidden)"),
    ("time-steps", "network.n_steps", "time steps T of the network (Network.n_steps)"),
)
"""The network's size, for commands whose configuration has a ``network``
(:class:`~limprob.snn.Network`)."""
SAMPLER_OPTIONS = (
    ("draws", "draws", "MCMC draws per chain kept after tuning"),
    ("tune", "tune", "MCMC tuning steps per chain"),
    ("chains", "chains", "MCMC chains"),
    ("seed", "seed", "seed of the sampler"),
)
"""The sampler settings every MCMC command takes (limprob.inference.sampling.SamplerSettings)."""


FLAG_ALIASES = {"time-steps": ("steps",)}
"""Older spellings a flag still accepts: ``--steps``, which reads as sampler steps, is
``--time-steps`` (deprecated)."""


def flags(flag: str) -> list[str]:
    """``--flag`` and its deprecated spellings (:data:`FLAG_ALIASES`)."""
    return [f"--{flag}", *(f"--{alias}" for alias in FLAG_ALIASES.get(flag, ()))]


def add_options(
    parser: argparse.ArgumentParser, defaults: Any, options: Sequence[tuple[Any, ...]]
) -> None:
    """Add ``--flag`` (and its deprecated spellings) for each ``(flag, field, help)``, typed
    and defaulted by ``defaults``' ``field`` (``part.field``: a part's field)."""
    for flag, name, help_text in options:
        default = attrgetter(name)(defaults)
        parser.add_argument(
            *flags(flag),
            dest=option_dest(name),
            type=type(default),
            default=default,
            help=f"{help_text} (default {default})",
        )


def option_dest(field: str) -> str:
    """Where argparse keeps the option of the configuration field ``field``: ``part.field``
    as ``part_field``."""
    return field.replace(".", "_")


def config_fields(args: argparse.Namespace, options: Sequence[tuple[Any, ...]]) -> dict:
    """The fields of ``options`` that were given (not None), by configuration field name
    (``part.field`` for a part's)."""
    names = [option[1] for option in options]
    values = {name: getattr(args, option_dest(name)) for name in names}
    return {name: value for name, value in values.items() if value is not None}


def replace_fields[C](config: C, fields: Mapping[str, Any]) -> C:
    """``config`` (a dataclass) with ``fields`` (:func:`config_fields`) replaced, a part's
    field ``part.field`` in that part."""
    plain = {name: value for name, value in fields.items() if "." not in name}
    parts: dict[str, dict[str, Any]] = {}
    for name, value in fields.items():
        if "." in name:
            part, field = name.split(".", 1)
            parts.setdefault(part, {})[field] = value
    nested = {part: replace(getattr(config, part), **values) for part, values in parts.items()}
    return replace(config, **plain, **nested)  # type: ignore[type-var]


def add_reset_option(parser: argparse.ArgumentParser, default: str | None, help_text: str) -> None:
    """``--reset subtract|zero``: what a spike does to the potential
    (:data:`limprob.snn.RESETS`)."""
    from limprob.snn import RESETS

    parser.add_argument("--reset", choices=RESETS, default=default, help=help_text)


def add_table_options(parser: argparse.ArgumentParser) -> None:
    """``--dataset NAME`` (a built-in data set) or ``--data FILE`` (the user's own table)."""
    from limprob.data import DATASETS

    tables = parser.add_mutually_exclusive_group()
    tables.add_argument(
        "--dataset",
        choices=DATASETS,
        default=None,
        help="built-in data set (default wisconsin; see docs/datasets.md)",
    )
    tables.add_argument(
        "--data",
        default=None,
        help="your own CSV (a header and a label column of class indices) or NetCDF table",
    )


def add_network_choice(parser: argparse.ArgumentParser) -> None:
    """``--hidden`` (the network's ``n_hidden``) and ``--kappa``, defaulting to the chosen data
    set's (:data:`limprob.models.defaults.DATASET_NETWORKS`)."""
    parser.add_argument(
        "--hidden",
        dest="network_n_hidden",
        type=int,
        default=None,
        help="hidden LIF neurons, Network.n_hidden (default: the data set's, 16 for "
        "Wisconsin; docs/datasets.md)",
    )
    parser.add_argument(
        "--kappa",
        type=float,
        default=None,
        help="readout gain of the likelihood softmax(kappa c / T) (default: "
        "the data set's, 8 for Wisconsin)",
    )


def network_choice(args: argparse.Namespace) -> dict:
    """``n_hidden`` and ``kappa``: those given, else the data set's defaults (a user's table
    ``--data`` gets Wisconsin's)."""
    from limprob.models.defaults import dataset_network

    chosen = dataset_network(None if args.data else args.dataset)
    given = {"n_hidden": args.network_n_hidden, "kappa": args.kappa}
    return chosen | {name: value for name, value in given.items() if value is not None}


def load_chosen_table(args: argparse.Namespace) -> xr.Dataset:
    """The table ``--dataset`` or ``--data`` names (Wisconsin when neither); reading ``--data``
    is refused before it starts if it would need more memory than ``--max-memory`` (where the
    command has one) or than is available."""
    from limprob.data import load_dataset, load_table

    if args.data:
        return load_table(args.data, max_memory=getattr(args, "max_memory", None))
    return load_dataset(args.dataset or "wisconsin")


def repeats(text: str) -> int | str:
    """``--repeats``: a positive integer or ``auto``."""
    if text == "auto":
        return text
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be a positive integer or 'auto', not {text!r}"
        ) from None


def weight_bits(text: str) -> int | None:
    """``--weight-bits``: an integer number of bits, or ``none`` for continuous weights."""
    if text.lower() in ("none", "0"):
        return None
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"must be an integer 1..16 or 'none', not {text!r}"
        ) from None


def add_chip_noise_options(parser: argparse.ArgumentParser, defaults: Any) -> None:
    """``--noise`` and ``--weight-bits`` of the simulated chip (defaults from ``defaults``)."""
    parser.add_argument(
        "--noise",
        type=float,
        default=defaults.noise,
        help="membrane noise of the simulated chip, standard deviation in "
        "units of the threshold, per neuron, sample and step "
        "(default %(default)s)",
    )
    parser.add_argument(
        "--weight-bits",
        type=weight_bits,
        default=defaults.weight_bits,
        metavar="B|none",
        help="resolution of the chip's weight converter over [-2, 2], 1..16 "
        "bits (default: none, continuous)",
    )


def add_max_memory(parser: argparse.ArgumentParser, what: str) -> None:
    """``--max-memory BYTES``: the memory ``what`` may take (default: what is available)."""
    parser.add_argument(
        "--max-memory",
        type=float,
        default=None,
        metavar="BYTES",
        help=f"refuse the run, before any work, when {what} is estimated to "
        "need more memory than this (default: the memory available now)",
    )
