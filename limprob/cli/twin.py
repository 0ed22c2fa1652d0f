"""``limprob probe`` and ``limprob twin``: record a chip's probes, fit a digital twin to them.

    limprob probe --strength 1 --hidden 8 --out probes.nc      16 probe queries of a chip
    limprob twin probes.nc --out twin.nc                          per-chip twin (blocked MH)
    limprob twin probes.nc --smc --out twin_smc.nc                the same by SMC (evidence)
    limprob twin probes.nc --surrogate --out fit.nc               one fitted distortion, by
                                  surrogate gradient (every synapse and neuron; a start's twin)
    limprob twin probes.nc --population --out population.nc      the chip population twin
    limprob twin probes.nc --population --learn-noise --weight-bits auto --out p.nc
                                  ... also the chip's noise; weight bits chosen by evidence

The probe dataset holds ``counts (probe, obs, output)``, the probe weights and inputs; a real
chip's driver can write the same variables and use ``limprob twin`` unchanged. Both commands
follow the CLI's rules: bad input is one line and exit code 2, and no output file is left.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import TYPE_CHECKING

from limprob import interruption
from limprob.cli.options import (
    SAMPLER_OPTIONS,
    add_chip_noise_options,
    add_later,
    add_max_memory,
    add_options,
    add_table_options,
    config_fields,
    load_chosen_table,
    weight_bits,
)
from limprob.errors import LimprobError

if TYPE_CHECKING:
    import argparse

    import pandas as pd

PROBE_HIDDEN = 8
"""The probe command's default hidden size (smaller than training's: twins fit faster)."""


PROBE_OPTIONS = (
    ("hidden", "n_hidden", "hidden LIF neurons"),
    ("time-steps", "n_steps", "time steps T"),
)


def register(commands: argparse._SubParsersAction) -> None:
    """Add ``probe`` and ``twin`` to the CLI's subparsers."""
    probe = commands.add_parser(
        "probe",
        help="record probe measurements of a simulated chip",
        description="Run seeded probe weight sets on a simulated chip, one query each, over "
        "inputs from the training split, and write the spike counts with the "
        "probe weights and inputs (the dataset limprob twin fits).",
        epilog="Example:\n  limprob probe --strength 1 --hidden 8 --out probes.nc",
    )
    probe.set_defaults(run=run_probe)
    add_later(probe, _probe_options)
    twin = commands.add_parser(
        "twin",
        help="fit a digital twin of a chip to its probes",
        description="Fit a digital twin to a probe dataset: the per-chip twin (distortion "
        "parameters by blocked MH, or SMC with its evidence) or the chip "
        "population twin (six global parameters, each chip's mismatch integrated "
        "out; with --learn-noise also the chip's membrane noise, and with "
        "--weight-bits auto its weight resolution chosen by evidence).",
        epilog="Examples:\n  limprob twin probes.nc --out twin.nc\n"
        "  limprob twin probes.nc --population --out population.nc\n"
        "  limprob twin noisy.nc --population --learn-noise --weight-bits auto "
        "--out p.nc",
    )
    twin.set_defaults(run=run_twin)
    add_later(twin, _twin_options)


def _probe_options(probe: argparse.ArgumentParser) -> None:
    from limprob.snn import Network

    probe.add_argument(
        "--strength",
        type=float,
        default=1.0,
        help="chip distortion strength alpha >= 0 (default %(default)s)",
    )
    probe.add_argument(
        "--chip-seed",
        type=int,
        default=0,
        help="seed of the chip's hidden mismatch (default %(default)s)",
    )
    add_options(probe, Network(n_hidden=PROBE_HIDDEN), PROBE_OPTIONS)
    probe.add_argument(
        "--probes",
        type=int,
        default=16,
        help="probe weight sets, one chip query each (default %(default)s)",
    )
    probe.add_argument(
        "--obs",
        type=int,
        default=32,
        help="probe inputs from the training split (default %(default)s)",
    )
    probe.add_argument(
        "--seed",
        type=int,
        default=0,
        help="seed of the split, the inputs and the probe weights (default %(default)s)",
    )
    add_chip_noise_options(probe, SimpleNamespace(noise=0.0, weight_bits=None))
    add_table_options(probe)
    add_max_memory(probe, "the probe dataset")
    probe.add_argument("--out", required=True, help="probe dataset to write (NetCDF)")


def weight_bits_or_auto(text: str) -> int | None | str:
    """``--weight-bits``: ``auto``, or what :func:`limprob.cli.options.weight_bits` takes."""
    return "auto" if text == "auto" else weight_bits(text)


def weight_bits_list(text: str) -> tuple[int | None, ...]:
    """``--weight-bits-candidates``: comma-separated resolutions (bits or ``none``)."""
    return tuple(weight_bits(part.strip()) for part in text.split(","))


def _twin_options(twin: argparse.ArgumentParser) -> None:
    from limprob.chip.simulated import WEIGHT_RANGE
    from limprob.inference.surrogate_twin import SurrogateTwinConfig
    from limprob.twin import PopulationConfig, TwinConfig
    from limprob.twin.weight_bits import CANDIDATES, label

    twin.add_argument("probes", help="a probe dataset (from limprob probe)")
    twin.add_argument(
        "--families",
        default=None,
        help="per-chip twin: comma-separated distortion families, or 'none' for "
        f"the ideal-chip model (default {','.join(TwinConfig().families)})",
    )
    twin.add_argument(
        "--smc",
        action="store_true",
        help="per-chip twin by pm.sample_smc (keeps the log marginal likelihood)",
    )
    twin.add_argument(
        "--population",
        action="store_true",
        help="the chip population twin: six globals, each chip's mismatch integrated out",
    )
    twin.add_argument(
        "--surrogate",
        action="store_true",
        help="one fitted distortion instead of a posterior: every synapse's gain, every "
        "neuron's threshold, the saturation and the leak, by surrogate-gradient descent on "
        "the probe counts (what --init twin:TRACE trains a start through)",
    )
    twin.add_argument(
        "--fit-steps",
        type=int,
        default=None,
        help=f"surrogate twin: Adam steps (default {SurrogateTwinConfig().steps})",
    )
    twin.add_argument(
        "--leak-per-neuron",
        action="store_true",
        help="surrogate twin: fit each neuron's leak instead of one global leak scale",
    )
    add_options(
        twin,
        PopulationConfig(),
        (("chips", "n_chips", "population twin: simulated chips per evaluation"),),
    )
    twin.add_argument(
        "--learn-noise",
        action="store_true",
        help="population twin: learn the chip's membrane noise (units of the "
        "threshold) as a seventh global, prior HalfNormal(0.3)",
    )
    twin.add_argument(
        "--weight-bits",
        type=weight_bits_or_auto,
        default=None,
        metavar="B|none|auto",
        help="population twin: the simulated chips' weight converter, 1..16 "
        "bits or none (continuous); auto fits each of "
        "--weight-bits-candidates and keeps the one of largest evidence "
        "(default: none)",
    )
    twin.add_argument(
        "--weight-bits-candidates",
        type=weight_bits_list,
        default=None,
        metavar="B,B,...",
        help="the resolutions --weight-bits auto compares (default "
        f"{','.join(label(b) for b in CANDIDATES)})",
    )
    twin.add_argument(
        "--weight-range",
        type=float,
        default=WEIGHT_RANGE,
        help="population twin: the converter's range w_max, weights in "
        "[-w_max, w_max] (default %(default)s)",
    )
    twin_defaults, population_defaults = TwinConfig(), PopulationConfig()
    for flag, name, help_text in SAMPLER_OPTIONS:
        twin.add_argument(
            f"--{flag}",
            dest=name,
            type=int,
            default=None,
            help=f"{help_text} (default {getattr(twin_defaults, name)}, "
            f"population twin {getattr(population_defaults, name)})",
        )
    add_max_memory(twin, "the population twin's simulated chips")
    twin.add_argument("--out", required=True, help="trace to write (NetCDF)")
    twin.add_argument("--no-progress", action="store_true", help="hide progress bars")


def run_probe(args: argparse.Namespace) -> None:
    """``limprob probe``: record a simulated chip's probe measurements into ``--out``."""
    from limprob.chip.probes import record_probes_from_table
    from limprob.chip.settings import ChipSettings, build_simulated_chip
    from limprob.data import split
    from limprob.inference import cost
    from limprob.io import check_output_path, refuse_overwriting_inputs, save_dataset
    from limprob.snn import Network
    from limprob.validation import positive_integer, seed

    refuse_overwriting_inputs({"--out": args.out}, {"--data": args.data})
    out = check_output_path(args.out)
    seed("seed", args.seed)
    n_probes, n_obs = positive_integer("probes", args.probes), positive_integer("obs", args.obs)
    table = load_chosen_table(args)
    network = Network(**config_fields(args, PROBE_OPTIONS))
    cost.check_memory(
        cost.probe_bytes(
            probes=n_probes,
            obs=n_obs,
            inputs=table.sizes["feature"],
            hidden=network.n_hidden,
            outputs=table.sizes["class"],
        ),
        "this probe dataset",
        args.max_memory,
    )
    settings = ChipSettings(args.strength, args.chip_seed, args.noise, args.weight_bits)
    chip = build_simulated_chip(settings, network, table)
    probes = record_probes_from_table(
        chip, split(table, seed=args.seed).train, args.probes, args.obs, seed=args.seed
    )
    save_dataset(probes, out)
    print(
        f"{probes.attrs['probe_chip_queries']} probe queries of {chip!r} "
        f"({args.obs} inputs each); wrote {out}"
    )


def run_twin(args: argparse.Namespace) -> None:
    """``limprob twin``: fit a per-chip or population twin to a probe dataset and write its
    trace."""
    import arviz as az
    import pandas as pd

    from limprob.chip.probes import load_probes
    from limprob.chip.simulated import WEIGHT_RANGE
    from limprob.inference import cost
    from limprob.io import check_output_path, refuse_overwriting_inputs, save_trace
    from limprob.snn import Network
    from limprob.trace import network_from_attrs
    from limprob.twin import PopulationConfig, TwinConfig, fit_population, fit_twin, fit_twin_smc
    from limprob.twin.weight_bits import CANDIDATES, check_candidates, choose_weight_bits

    refuse_overwriting_inputs({"--out": args.out}, {"the probe dataset": args.probes})
    kinds = [f for f, on in (("--population", args.population), ("--smc", args.smc)) if on]
    if args.surrogate:
        kinds.insert(0, "--surrogate")
    if len(kinds) > 1:
        raise LimprobError(f"twin: {' and '.join(kinds)} cannot be combined")
    for flag, given in (
        ("--fit-steps", args.fit_steps is not None),
        ("--leak-per-neuron", args.leak_per_neuron),
    ):
        if given and not args.surrogate:
            raise LimprobError(f"twin: {flag} applies to the surrogate twin only (add --surrogate)")
    if args.surrogate:
        _run_surrogate_twin(args)
        return
    population_only = [
        flag
        for flag, given in (
            ("--learn-noise", args.learn_noise),
            ("--weight-bits", args.weight_bits is not None),
            ("--weight-range", args.weight_range != WEIGHT_RANGE),
        )
        if given
    ]
    if population_only and not args.population:
        raise LimprobError(
            f"twin: {', '.join(population_only)} apply to the population twin "
            "only (add --population)"
        )
    auto = args.weight_bits == "auto"
    if args.weight_bits_candidates is not None and not auto:
        raise LimprobError("twin: --weight-bits-candidates applies with --weight-bits auto only")
    candidates = check_candidates(args.weight_bits_candidates or CANDIDATES)
    out = check_output_path(args.out)
    probes = load_probes(args.probes)
    network = network_from_attrs(probes.attrs, n_hidden=probes.sizes["hidden"], nominal=Network())
    progress = not args.no_progress
    sampler = config_fields(args, SAMPLER_OPTIONS)
    if args.population:
        config = PopulationConfig(
            n_chips=args.n_chips,
            learn_noise=args.learn_noise,
            weight_bits=None if auto else args.weight_bits,
            weight_range=args.weight_range,
            **sampler,
        )
        cost.check_memory(
            cost.population_bytes(
                chips=config.n_chips,
                probes=probes.sizes["probe"],
                obs=probes.sizes["obs"],
                inputs=probes.sizes["input"],
                hidden=network.n_hidden,
                outputs=probes.sizes["output"],
            ),
            "the population twin",
            args.max_memory,
        )
        if auto:
            choice = choose_weight_bits(network, probes, config, candidates, progressbar=progress)
            tree = choice.trees[choice.table.attrs["chosen"]]
            tree["weight_bits_comparison"] = choice.table
        else:
            tree = fit_population(network, probes, config, progressbar=progress)
    else:
        chosen = args.families or ",".join(TwinConfig().families)
        families = (
            ()
            if chosen.strip() == "none"
            else tuple(f.strip() for f in chosen.split(",") if f.strip())
        )
        twin_config = TwinConfig(families, **sampler)
        fit = fit_twin_smc if args.smc else fit_twin
        tree = fit(network, probes, None, twin_config, progressbar=progress)
    interruption.stop_if_received()  # PyMC returned a cut trace: write none
    save_trace(tree, out)
    names = [n for n in tree.attrs["distortion_parameters"].split(",") if n]
    if names:
        with pd.option_context("display.width", 120):
            print(az.summary(tree, var_names=names, kind="all", ci_prob=0.94))
    if "weight_bits_comparison" in tree.children:
        print(comparison_text(tree["weight_bits_comparison"].to_dataset()))
    print(
        f"{tree.attrs['model']} ({tree.attrs['method']}, {tree.attrs['training_chip_queries']} "
        f"probe queries); wrote {out}"
    )


def comparison_text(table: pd.DataFrame) -> str:
    """The weight-bits comparison as printed: one row per candidate, best first, and the
    choice."""
    frame = table.to_dataframe()
    decisive = (
        "decisive"
        if table.attrs["decisive"]
        else (
            "not decisive: the runner-up is within a Bayes factor of "
            f"{table.attrs['decisive_bayes_factor']:g} or two standard errors"
        )
    )
    return "\n".join(
        [
            f"weight bits by {table.attrs['method']}:",
            frame.to_string(float_format=lambda v: f"{v:.3g}"),
            f"chosen: {table.attrs['chosen']} ({decisive})",
        ]
    )


def _run_surrogate_twin(args: argparse.Namespace) -> None:
    """``limprob twin --surrogate``: fit one distortion to the probes and write its trace."""
    import warnings

    from limprob.chip.probes import load_probes
    from limprob.inference.surrogate_twin import SurrogateTwinConfig, fit_surrogate_twin
    from limprob.io import check_output_path, save_trace
    from limprob.snn import Network
    from limprob.trace import network_from_attrs

    sampled_only = [
        f"--{flag}"
        for flag, name, _ in SAMPLER_OPTIONS
        if name != "seed" and getattr(args, name) is not None
    ] + (["--families"] if args.families is not None else [])
    if sampled_only:
        raise LimprobError(
            f"twin: {', '.join(sampled_only)} apply to the sampled twins, not --surrogate"
        )
    settings = {"seed": args.seed} if args.seed is not None else {}
    if args.fit_steps is not None:
        settings["steps"] = args.fit_steps
    config = SurrogateTwinConfig(**settings, leak_per_neuron=args.leak_per_neuron)
    out = check_output_path(args.out)
    probes = load_probes(args.probes)
    network = network_from_attrs(probes.attrs, n_hidden=probes.sizes["hidden"], nominal=Network())
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        tree = fit_surrogate_twin(network, probes, config)
    interruption.stop_if_received()
    save_trace(tree, out)
    attrs = tree.attrs
    print(
        f"surrogate-gradient twin: probe counts' mean squared error {attrs['probe_mse']:.3g} "
        f"spikes^2 (the ideal chip's {attrs['identity_probe_mse']:.3g}), "
        f"{attrs['explained_fraction']:.1%} of their variance explained; "
        f"{attrs['training_chip_queries']} probe queries; wrote {out}"
    )
    for warning in caught:
        print(f"warning: {warning.message}")
