"""Figure and table of a limprob study (shared by the study analyses)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import xarray as xr  # noqa: E402

from limprob.study import pick  # noqa: E402

LABELS = {"mh": "MH on the chip", "backprop": "backprop (ideal model)",
          "in_the_loop_backprop": "in-the-loop backprop"}


def plot(study: xr.Dataset, over: str, path, title: str, log_x: bool = False):
    """Mean test accuracy over seeds against ``over``, one line per method, the band the
    minimum-to-maximum spread over seeds and the error bar one standard deviation."""
    accuracy = study["test_accuracy"].squeeze(drop=True)
    fig, ax = plt.subplots(figsize=(6, 4), layout="constrained")
    x = study[over].values
    for method in study["method"].values:
        values = pick(accuracy, method=method)
        mean, std = values.mean("seed").values, values.std("seed").values
        ax.errorbar(x, mean, yerr=std, marker="o", capsize=3, label=LABELS.get(method, method))
        ax.fill_between(x, values.min("seed").values, values.max("seed").values, alpha=0.15)
    if log_x:
        ax.set_xscale("log")
    ax.set_xlabel({"strength": "chip distortion strength alpha",
                   "train_fraction": "fraction of the training data"}[over])
    ax.set_ylabel("test accuracy on the chip")
    ax.set_ylim(0.3, 1.0)
    ax.axhline(0.9, color="grey", lw=0.8, ls=":")
    ax.set_title(f"{title} ({study.sizes['seed']} chip seeds; mean ± sd, band min-max)",
                 fontsize=9)
    ax.legend(fontsize=8)
    fig.savefig(path, dpi=120)
    plt.close(fig)


def one_chip_kind(study: xr.Dataset) -> xr.Dataset:
    """The study without its one-valued ``dataset``, ``noise`` and ``weight_bits`` dims (the
    analyses of distortion and data size run one data set on deterministic, continuous
    chips)."""
    single = [dim for dim in ("dataset", "noise", "weight_bits") if study.sizes.get(dim) == 1]
    return study.squeeze(single, drop=True)


def wall_time_line(study: xr.Dataset) -> str:
    return (f"Study wall time {study.attrs['run_wall_seconds']:.0f} s for "
            f"{study.attrs['cells_computed']} cells computed "
            f"({study.attrs['cells_cached']} from the cache).")


def run_analysis(name: str, description: str, grid, settings, report, over: str, title: str,
                 log_x: bool = False, argv=None) -> int:
    """Command-line entry shared by the study analyses: run the study ``name`` on Dask
    (cached per cell), then write ``name``.nc, .png and .md into the output folder."""
    import argparse
    import sys
    from pathlib import Path

    from limprob.errors import LimprobError
    from limprob.study import run_study

    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--scheduler", default=None)
    parser.add_argument("--out-dir", default=str(Path(__file__).resolve().parent / "results"))
    args = parser.parse_args(argv)
    out_dir = Path(args.out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    out = out_dir / f"{name}.nc"
    try:
        study = run_study(grid, settings, out, workers=args.workers, scheduler=args.scheduler)
    except LimprobError as error:
        print(f"{name}: error: {error}", file=sys.stderr)
        return 2
    study = one_chip_kind(study)
    plot(study, over, out.with_suffix(".png"), title, log_x=log_x)
    text = report(study)
    out.with_suffix(".md").write_text(text)
    print(text)
    return 0
