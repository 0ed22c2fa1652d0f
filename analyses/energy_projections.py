"""Energy bounds of training from 1e6 to 1e15 parameters, and the energy-speed trade-off.

Samples the device posterior of limprob.models.lim_energy once (shipped characterisation data,
default priors, one seed) and evaluates every bound, with its posterior median and 94 %
equal-tailed interval, for

* a sweep of model sizes N = 1e6 ... 1e15 trained on D = 3e11 tokens (GPT-3's data size, which
  limprob chose for the brain-scale scenario of the energy paper's v1 abstract; the abstract
  gives N = 1e15 only), C = 6 N D, b = 32;
* published models at their published training compute (sources in PUBLISHED);
* the brain-scale variants of the design note: b = 16, and tau_r / tau_u = 10;
* the brain-scale run against the time given to one update, tau_u / tau_r = 1e-2 ... 1e2.

Writes into analyses/results/: energy_projections.nc and energy_speed.nc (xarray Datasets with
dims ``scenario`` / ``update_time`` and ``statistic`` = median, low, high), energy_projections.md
(the table), energy_projections.png and energy_speed.png.

    python analyses/energy_projections.py [--seed 0]
    python analyses/energy_projections.py --replot    # figures only, from the saved results
"""

import argparse
from importlib.metadata import version
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import xarray as xr

from limprob import energy_limits as limits
from limprob.inference.figure_style import PARAMETER_SYMBOLS, save_figure
from limprob.io import save_dataset
from limprob.models import lim_energy

RESULTS = Path(__file__).resolve().parent / "results"
SWEEP_TOKENS = limits.BRAIN_SCALE_TOKENS
SWEEP_PARAMS = np.logspace(6, 15, 10)
PROB = 0.94
PUBLISHED = {
    "GPT-3": {
        "n_params": 175e9,
        "tokens": 300e9,
        "flops": 3.14e23,
        "source": "Brown et al. 2020, Language Models are Few-Shot Learners, arXiv:2005.14165, "
        "Table D.1 (GPT-3 175B: 3.14e23 training FLOPs, 300B tokens)",
    },
    "Chinchilla": {
        "n_params": 70e9,
        "tokens": 1.4e12,
        "flops": 5.76e23,
        "source": "Hoffmann et al. 2022, Training Compute-Optimal Large Language Models, "
        "arXiv:2203.15556, Table 3 and Section 4 (70B, 1.4T tokens, 5.76e23 FLOPs)",
    },
}
BOUND_LABELS = {
    "landauer_joules": "Landauer (adiabatic)",
    "lim_joules": "learning-in-memory",
    "static_joules": "static-barrier memory",
    "accelerator_joules": "accelerator projection",
}
BOUND_LINES = {
    "landauer_joules": {"linestyle": "--", "linewidth": 2.4, "zorder": 3},
    "lim_joules": {"linestyle": "-", "linewidth": 1.0, "marker": "o", "ms": 3, "zorder": 4},
}
"""Landauer wide and dashed, LIM thin with markers on top: LIM lies 5 % above Landauer."""
PUBLISHED_MARKERS = {"GPT-3": "o", "Chinchilla": "s"}
"""One marker per published model; its colour is the bound's."""
BOUND_COLOURS = {
    "landauer_joules": "tab:blue",
    "lim_joules": "tab:green",
    "static_joules": "tab:orange",
    "accelerator_joules": "tab:red",
}


def projection_scenarios():
    """Sweep, published models and brain-scale variants as one Dataset with dim ``scenario``."""
    sweep = lim_energy.scenario_dataset(
        SWEEP_PARAMS, tokens=SWEEP_TOKENS, names=[f"N=1e{int(np.log10(n))}" for n in SWEEP_PARAMS]
    )
    published = lim_energy.scenario_dataset(
        [m["n_params"] for m in PUBLISHED.values()],
        tokens=[m["tokens"] for m in PUBLISHED.values()],
        flops=[m["flops"] for m in PUBLISHED.values()],
        names=list(PUBLISHED),
    )
    brain = limits.brain_scale_scenario()
    variants = lim_energy.scenario_dataset(
        [brain["n_params"]] * 2,
        tokens=brain["tokens"],
        bits=[limits.LOW_BITS, limits.DEFAULT_BITS],
        time_ratio=[limits.DEFAULT_TIME_RATIO, limits.FAST_TIME_RATIO],
        names=["brain b=16", "brain tau_r/tau_u=10"],
    )
    scenarios = xr.concat([sweep, published, variants], dim="scenario")
    group = ["sweep"] * sweep.sizes["scenario"] + ["published"] * len(PUBLISHED) + ["variant"] * 2
    return scenarios.assign_coords(group=("scenario", group))


def speed_scenarios(update_times):
    """Brain-scale run (b = 32) at tau_u / tau_r = ``update_times`` (dim ``scenario``)."""
    brain = limits.brain_scale_scenario()
    n = np.full(update_times.shape, brain["n_params"])
    return lim_energy.scenario_dataset(
        n,
        tokens=brain["tokens"],
        bits=brain["bits"],
        time_ratio=1.0 / update_times,
        names=[f"tau_u/tau_r={t:.3g}" for t in update_times],
    )


def provenance(seed):
    return {
        "seed": seed,
        "interval": f"{PROB:.0%} equal-tailed",
        "generator": "analyses/energy_projections.py",
        "characterisation": "limprob/datasets/device_characterisation.nc",
        **{f"version_{pkg}": version(pkg) for pkg in ("pymc", "pytensor", "arviz", "xarray")},
    }


def format_interval(stats):
    return f"{stats['median']:.3g} [{stats['low']:.3g}, {stats['high']:.3g}]"


def markdown_table(summary):
    """One row per scenario: inputs, then each bound as median [low, high] in joules."""
    header = [
        "scenario",
        "N",
        "D (tokens)",
        "C (FLOPs)",
        "b",
        "tau_r/tau_u",
        *(f"{BOUND_LABELS[name]} (J)" for name in limits.BOUND_NAMES),
        "E_acc/E_lim",
    ]
    rows = ["| " + " | ".join(header) + " |", "|" + " --- |" * len(header)]
    for name in summary["scenario"].values:
        s = summary.sel(scenario=name)
        cells = [
            str(name),
            f"{float(s.n_params):.3g}",
            f"{float(s.tokens):.3g}",
            f"{float(s.flops):.3g}",
            f"{int(s.bits)}",
            f"{float(s.time_ratio):.3g}",
        ]
        for bound in [*limits.BOUND_NAMES, "accelerator_over_lim"]:
            cells.append(
                format_interval(
                    {k: float(s[bound].sel(statistic=k)) for k in ("median", "low", "high")}
                )
            )
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def ratio_text(ratio) -> str:
    """``1.05 ×`` for a ratio that is the same at every x, else its range ``1.05-5.51 ×``."""
    low, high = float(ratio.min()), float(ratio.max())

    def number(value):
        return power_of_ten(value) if value >= 1e4 else f"{value:.3g}"

    return f"{number(low)} ×" if high <= 1.01 * low else f"{number(low)}–{number(high)} ×"


def power_of_ten(value: float) -> str:
    """``3e11`` as ``3×10¹¹`` (mathtext)."""
    exponent = int(np.floor(np.log10(value)))
    mantissa = round(value / 10**exponent, 2)
    return (
        f"${mantissa:g}\\times10^{{{exponent}}}$"
        if not np.isclose(mantissa, 1)
        else f"$10^{{{exponent}}}$"
    )


def draw_bounds(ax, ratio_ax, x, table):
    """Each bound's median (line) and interval (band) against ``x`` on ``ax`` (legend: its
    ratio to the Landauer bound), and LIM over Landauer on ``ratio_ax``: LIM lies a few per
    cent above Landauer, which no log axis spanning many decades can show."""
    landauer = table["landauer_joules"].sel(statistic="median")
    for name in limits.BOUND_NAMES:
        colour = BOUND_COLOURS[name]
        median = table[name].sel(statistic="median")
        label = BOUND_LABELS[name] + (
            "" if name == "landauer_joules" else f" ({ratio_text(median / landauer)} Landauer)"
        )
        ax.fill_between(
            x,
            table[name].sel(statistic="low"),
            table[name].sel(statistic="high"),
            color=colour,
            alpha=0.2,
            linewidth=0,
        )
        ax.plot(x, median, color=colour, label=label, **BOUND_LINES.get(name, {}))
    ratio_ax.plot(
        x,
        table["lim_joules"].sel(statistic="median") / landauer,
        color=BOUND_COLOURS["lim_joules"],
        **BOUND_LINES["lim_joules"],
    )
    ratio_ax.axhline(1.0, color=BOUND_COLOURS["landauer_joules"], lw=1.5, ls="--")
    ratio_ax.annotate(
        "Landauer = 1",
        (0.01, 1.0),
        xycoords=("axes fraction", "data"),
        xytext=(0, 3),
        textcoords="offset points",
        fontsize=8,
        color=BOUND_COLOURS["landauer_joules"],
    )
    ratio_ax.set_ylabel("learning-in-memory /\nLandauer (medians)")
    ratio_ax.grid(True, which="major", alpha=0.3)


def bounds_figure():
    fig, (ax, ratio_ax) = plt.subplots(
        2, 1, figsize=(8, 7.6), sharex=True, height_ratios=(3, 1.1), layout="constrained"
    )
    return fig, ax, ratio_ax


def plot_projections(summary, path):
    fig, ax, ratio_ax = bounds_figure()
    sweep = summary.sel(scenario=summary.group == "sweep")
    published = summary.sel(scenario=summary.group == "published")
    n = sweep["n_params"].values
    draw_bounds(ax, ratio_ax, n, sweep)
    for name in limits.BOUND_NAMES:
        for model in published["scenario"].values:
            point = published.sel(scenario=model)[name]
            median = float(point.sel(statistic="median"))
            error = [
                [median - float(point.sel(statistic="low"))],
                [float(point.sel(statistic="high")) - median],
            ]
            ax.errorbar(
                float(published.sel(scenario=model)["n_params"]),
                median,
                yerr=error,
                fmt=PUBLISHED_MARKERS[str(model)],
                color=BOUND_COLOURS[name],
                ms=5,
                capsize=2,
                zorder=5,
            )
    for model in published["scenario"].values:
        model = str(model)
        ax.plot(
            [],
            [],
            PUBLISHED_MARKERS[model],
            color="0.3",
            ms=5,
            label=f"{model} at its published compute ({published_text(published, model)})",
        )
    finish_log_plot(
        fig,
        ax,
        ratio_ax,
        path,
        ticks=(n, [power_of_ten(v) for v in n]),
        xlabel="trainable parameters N",
        title=f"Energy bounds of training. Lines: N parameters trained on D = "
        f"{power_of_ten(SWEEP_TOKENS)} tokens, b = 32 bits per weight;\n"
        "points: published models at their own N and D, one point per "
        "bound in the bound's colour",
    )


def plot_speed(speed, path):
    fig, ax, ratio_ax = bounds_figure()
    x = speed["update_time"].values
    draw_bounds(ax, ratio_ax, x, speed)
    decades = x[np.isclose(np.log10(x), np.round(np.log10(x)))]
    finish_log_plot(
        fig,
        ax,
        ratio_ax,
        path,
        ticks=(decades, [f"{v:g}" for v in decades]),
        xlabel=f"time per update over relaxation time, "
        f"{PARAMETER_SYMBOLS['update_time']} (17 values, 4 per decade)",
        title=f"Brain-scale run (N = {power_of_ten(1e15)} parameters, "
        f"D = {power_of_ten(SWEEP_TOKENS)} tokens, b = 32 bits): "
        "energy against speed",
    )


def finish_log_plot(fig, ax, ratio_ax, path, *, ticks, xlabel, title):
    """Log-log axes of training energy (J) over the ratio panel, x ticks at ``ticks`` (values,
    labels), a grid and a legend; write the figure to ``path``."""
    ax.set(xscale="log", yscale="log", ylabel="training energy (J)", title=title)
    ratio_ax.set_xticks(*ticks)
    ratio_ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    ratio_ax.set_xlabel(xlabel)
    ax.title.set_fontsize(9)
    ax.grid(True, which="major", alpha=0.3)
    ax.fill_between(
        [],
        [],
        color="0.5",
        alpha=0.2,
        linewidth=0,
        label=("bands and bars" if ax.containers else "bands")
        + f": {PROB:.0%} interval over the device posterior",
    )
    fig.legend(
        *ax.get_legend_handles_labels(),
        fontsize=8,
        loc="outside lower center",
        ncols=2,
        frameon=False,
    )
    save_figure(fig, path)


def published_text(published, model: str) -> str:
    """``N = 1.75×10¹¹, D = 3×10¹¹`` for a published model."""
    point = published.sel(scenario=model)
    return (
        f"N = {power_of_ten(float(point['n_params']))}, D = {power_of_ten(float(point['tokens']))}"
    )


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--replot",
        action="store_true",
        help="redraw the two figures from the saved results, sampling nothing",
    )
    args = parser.parse_args(argv)
    RESULTS.mkdir(exist_ok=True)
    if args.replot:
        with (
            xr.open_dataset(RESULTS / "energy_projections.nc") as summary,
            xr.open_dataset(RESULTS / "energy_speed.nc") as speed,
        ):
            plot_projections(summary.load(), RESULTS / "energy_projections.png")
            plot_speed(speed.load(), RESULTS / "energy_speed.png")
        print(f"redrew the figures in {RESULTS}")
        return
    posterior = lim_energy.device_posterior(seed=args.seed)

    scenarios = projection_scenarios()
    draws = lim_energy.scenario_energies(scenarios, posterior=posterior, seed=args.seed)
    summary = lim_energy.summarise(draws[list(lim_energy.ENERGY_VARS)], prob=PROB)
    summary = xr.merge([summary, scenarios], combine_attrs="override")
    summary.attrs = provenance(args.seed)
    summary.attrs["sources"] = "; ".join(f"{k}: {v['source']}" for k, v in PUBLISHED.items())
    save_dataset(summary, RESULTS / "energy_projections.nc")
    (RESULTS / "energy_projections.md").write_text(markdown_table(summary))
    plot_projections(summary, RESULTS / "energy_projections.png")

    update_times = np.logspace(-2, 2, 17)
    speed_draws = lim_energy.scenario_energies(
        speed_scenarios(update_times), posterior=posterior, seed=args.seed
    )
    speed = lim_energy.summarise(speed_draws[list(lim_energy.ENERGY_VARS)], prob=PROB)
    speed = speed.rename(scenario="update_time").assign_coords(update_time=update_times)
    speed["update_time"].attrs = {"long_name": "tau_u / tau_r", "units": "1"}
    speed.attrs = provenance(args.seed)
    save_dataset(speed, RESULTS / "energy_speed.nc")
    plot_speed(speed, RESULTS / "energy_speed.png")

    brain = summary.sel(scenario="N=1e15")
    for name in [*limits.BOUND_NAMES, "lim_over_landauer", "accelerator_over_lim"]:
        stats = {k: float(brain[name].sel(statistic=k)) for k in ("median", "low", "high")}
        print(f"brain scale (N=1e15, D=3e11, b=32) {name}: {format_interval(stats)}")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
