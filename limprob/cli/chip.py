"""``limprob chip serve``: serve a chip over the network to ``limprob train --chip-address``.

    limprob chip serve --port 5555 --token-file token.txt [--host 127.0.0.1]
                       [--strength 1 --chip-seed 0 --noise 0 --weight-bits none --reset R]
                       [--hidden H --time-steps T] [--dataset NAME | --data FILE]

The served chip is a simulated one built from the options, with one input per feature and one
output per class of the data set (its hidden size by default the data set's, as ``train``'s).
The server (:mod:`limprob.chip.server`) binds 127.0.0.1 unless ``--host`` says otherwise,
prints one line when it listens, and runs until SIGINT or SIGTERM (exit code 130 or 143). The
token is read from ``--token-file``, never from the command line. docs/remote-chip.md
describes the service, its security model and its faults.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from limprob import interruption
from limprob.cli.options import (
    add_chip_noise_options,
    add_later,
    add_reset_option,
    add_table_options,
    flags,
    load_chosen_table,
)
from limprob.errors import LimprobError

if TYPE_CHECKING:
    import argparse

    from limprob.chip import SimulatedChip


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``chip serve`` to the CLI's subparsers."""
    chip = commands.add_parser(
        "chip",
        help="serve a chip over the network",
        description="Commands about a chip itself: 'limprob chip serve' serves one over the "
        "network to 'limprob train --chip-address HOST:PORT'.",
        epilog="Example:\n  limprob chip serve --port 5555 --token-file ~/.limprob-token",
    )
    actions = chip.add_subparsers(dest="action", required=True, metavar="ACTION")
    serve = actions.add_parser(
        "serve",
        help="serve a simulated chip to remote training runs",
        description="Serve a simulated chip over ZeroMQ: queries from clients holding the "
        "token (read from --token-file) run one at a time, each once, under a "
        "lease one client holds for its run. Binds 127.0.0.1 unless --host says "
        "otherwise; runs until SIGINT or SIGTERM. See docs/remote-chip.md.",
        epilog="Example:\n  limprob chip serve --port 5555 --token-file ~/.limprob-token "
        "--strength 1\n  limprob train --chip-address 127.0.0.1:5555 "
        "--chip-token-file ~/.limprob-token --out runs/remote.nc",
    )
    serve.set_defaults(run=_serve)
    add_later(serve, _serve_options)


def _serve_options(serve: argparse.ArgumentParser) -> None:
    from limprob.chip.server import LEASE_IDLE, MAX_MESSAGE_BYTES
    from limprob.chip.settings import ChipSettings
    from limprob.snn import Network

    # the defaults of limprob train's chip and network, without importing PyMC
    defaults, network = ChipSettings(), Network()
    serve.add_argument("--port", type=int, required=True, help="TCP port to listen on")
    serve.add_argument(
        "--token-file",
        required=True,
        metavar="FILE",
        help="file holding the token clients must present (its first line)",
    )
    serve.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to bind (default %(default)s: this machine only)",
    )
    serve.add_argument(
        "--max-message-bytes",
        type=int,
        default=MAX_MESSAGE_BYTES,
        metavar="BYTES",
        help="largest request frame accepted; a larger one drops its sender's "
        "connection before it is read (default %(default)s)",
    )
    serve.add_argument(
        "--lease-idle",
        type=float,
        default=LEASE_IDLE,
        metavar="S",
        help="seconds without a request after which a client's lease on the "
        "chip expires (default %(default)s)",
    )
    # the simulated chip served (the chip --chip module:factory names goes beside these)
    serve.add_argument(
        "--strength",
        type=float,
        default=defaults.strength,
        help="chip distortion strength alpha >= 0 (default %(default)s)",
    )
    serve.add_argument(
        "--chip-seed",
        type=int,
        default=defaults.seed,
        help="seed of the chip's hidden mismatch (default %(default)s)",
    )
    serve.add_argument(
        "--hidden",
        type=int,
        default=None,
        help="hidden LIF neurons, Network.n_hidden (default: the data set's, 16 for Wisconsin)",
    )
    serve.add_argument(
        *flags("time-steps"),
        dest="time_steps",
        type=int,
        default=network.n_steps,
        help=f"time steps T of the network, Network.n_steps (default {network.n_steps})",
    )
    add_reset_option(
        serve,
        network.reset,
        "what a spike does to the potential: subtract the threshold, or reset it "
        "to zero (default %(default)s)",
    )
    add_chip_noise_options(serve, defaults)
    add_table_options(serve)


def served_chip(args: argparse.Namespace) -> SimulatedChip:
    """The simulated chip the options describe, one input per feature and one output per
    class of the chosen data set."""
    from limprob.chip.settings import ChipSettings, build_simulated_chip
    from limprob.models.defaults import dataset_network
    from limprob.snn import Network

    table = load_chosen_table(args)
    hidden = args.hidden or dataset_network(None if args.data else args.dataset)["n_hidden"]
    network = Network(hidden, args.time_steps, reset=args.reset)
    settings = ChipSettings(args.strength, args.chip_seed, args.noise, args.weight_bits)
    return build_simulated_chip(settings, network, table)


def _serve(args: argparse.Namespace) -> None:
    from limprob.chip.server import ChipServer, read_token

    token = read_token(args.token_file)
    if not 0 < args.port < 65536:
        raise LimprobError(f"chip serve: --port must be 1..65535, got {args.port}")
    chip = served_chip(args)
    server = ChipServer(
        chip,
        token,
        host=args.host,
        port=args.port,
        max_message_bytes=args.max_message_bytes,
        lease_idle=args.lease_idle,
    )
    try:
        with interruption.deferred():  # a signal ends the loop after the query in hand
            server.serve(
                ready=lambda: print(
                    f"serving {chip!r} at {args.host}:{server.port}; SIGINT or SIGTERM stops",
                    flush=True,
                ),
                stop=lambda: interruption.received() is not None,
            )
    finally:
        server.close()
    signum = interruption.received()
    if signum is not None:
        raise interruption.Interrupted(
            signum, f"chip server at {args.host}:{server.port} stopped after {chip.queries} queries"
        )
