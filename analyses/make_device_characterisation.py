"""Make the synthetic device characterisation data shipped as
limprob/datasets/device_characterisation.nc.

A memory cell is programmed at several barrier heights E_B and the time until its state flips is
measured. Arrhenius-Kramers gives ln tau_ret = ln tau_0 + E_B / (k_B T); the measurements scatter
around that line with Gaussian noise of standard deviation ``noise_sd`` in ln tau_ret. The truth
used here (T, tau_0, noise_sd, seed) is stored in the file's attributes, so the model's posterior
can be checked against it. A user replaces this file with measurements of a real device (same
variable names and units) and passes it to ``limprob.models.lim_energy.build_model``.

    python analyses/make_device_characterisation.py [OUTPUT.nc]
"""

import sys
from pathlib import Path

import numpy as np
import xarray as xr

from limprob.energy_limits import ELEMENTARY_CHARGE_C, K_B_J_PER_K
from limprob.io import save_dataset

TRUTH = {"temperature_k": 300.0, "attempt_time_s": 1e-9, "noise_sd": 0.25}
BARRIERS_EV = np.linspace(0.45, 0.85, 12)
"""Barrier settings (eV): retention from about 40 ms to about 2 days at 300 K."""
SEED = 20240222
DEFAULT_OUTPUT = (
    Path(__file__).resolve().parents[1] / "limprob" / "datasets" / "device_characterisation.nc"
)


def make_dataset(truth=TRUTH, barriers_ev=BARRIERS_EV, seed=SEED):
    """Synthetic retention measurements (dims ``measurement``) drawn from the Arrhenius line."""
    rng = np.random.default_rng(seed)
    kt_ev = K_B_J_PER_K * truth["temperature_k"] / ELEMENTARY_CHARGE_C
    ln_tau = np.log(truth["attempt_time_s"]) + barriers_ev / kt_ev
    ln_tau = ln_tau + rng.normal(0.0, truth["noise_sd"], size=barriers_ev.size)
    measurement = np.arange(barriers_ev.size)
    return xr.Dataset(
        {
            "barrier_ev": (
                "measurement",
                barriers_ev,
                {"units": "eV", "long_name": "programmed barrier height E_B"},
            ),
            "retention_time_s": (
                "measurement",
                np.exp(ln_tau),
                {"units": "s", "long_name": "measured retention time tau_ret"},
            ),
        },
        coords={"measurement": measurement},
        attrs={
            "title": "limprob synthetic memory-device characterisation",
            "model": "ln tau_ret = ln tau_0 + E_B / (k_B T) + Normal(0, noise_sd)",
            "generator": "analyses/make_device_characterisation.py",
            "seed": seed,
            **{f"truth_{name}": value for name, value in truth.items()},
        },
    )


if __name__ == "__main__":
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else DEFAULT_OUTPUT
    save_dataset(make_dataset(), output)
    print(f"wrote {output}")
