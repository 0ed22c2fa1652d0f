"""The chip: the query interface, the one distortion, simulated chips and probe measurements.

    protocol     the Chip protocol a real chip's driver implements (run, queries)
    distortion   the distortion's parameters, families, random draws and equations
    kernels      numba kernels of the distorted network
    simulated    SimulatedChip (hidden design distortion) and ParametricChip (a given one)
    probes       probe measurements of a chip, as a dataset

The chip knows nothing of PyMC: training reaches it only through queries.
"""

from limprob.chip.distortion import (FAMILIES, Distortion, check_families, hidden_distortion,
                                     represented_truth)
from limprob.chip.probes import load_probes, record_probes, record_probes_from_table
from limprob.chip.protocol import Chip
from limprob.chip.simulated import ParametricChip, SimulatedChip, simulate

__all__ = ["Chip", "Distortion", "FAMILIES", "ParametricChip", "SimulatedChip",
           "check_families", "hidden_distortion", "load_probes", "record_probes",
           "record_probes_from_table", "represented_truth", "simulate"]
