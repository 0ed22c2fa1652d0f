"""The chip: the query interface, the one distortion, simulated chips and probe measurements.

    protocol     the Chip protocol a real chip's driver implements, and require_chip
    testing      check_chip: the conformance kit a driver author runs against their chip
    plugins      load_chip: a user's chip by module:factory or entry point (limprob.chips)
    distortion   the distortion's parameters, families, random draws and equations
    kernels      numba kernels of the distorted network
    simulated    SimulatedChip (hidden design distortion) and ParametricChip (a given one)
    settings     ChipSettings: which chip a run trains on (simulated, a user's, a served one)
    probes       probe measurements of a chip, as a dataset
    nir          the network as a NIR graph: export, and import (from_nir) of what it can represent
    server       ChipServer: any chip served over the network (limprob chip serve)
    remote       RemoteChip: a served chip, queried over the network
    wire         the messages between the two (ZeroMQ frames, raw float64 arrays)

The chip knows nothing of PyMC: training reaches it only through queries.
"""

from limprob.chip.distortion import (
    FAMILIES,
    Distortion,
    check_families,
    hidden_distortion,
    represented_truth,
)
from limprob.chip.nir import NirNetwork, from_nir, to_nir, write_nir
from limprob.chip.plugins import load_chip
from limprob.chip.probes import load_probes, record_probes, record_probes_from_table
from limprob.chip.protocol import Chip, CompiledChip, KernelChip, require_chip
from limprob.chip.settings import ChipSettings
from limprob.chip.simulated import ParametricChip, SimulatedChip, simulate

__all__ = [
    "Chip",
    "ChipSettings",
    "CompiledChip",
    "KernelChip",
    "Distortion",
    "FAMILIES",
    "NirNetwork",
    "ParametricChip",
    "SimulatedChip",
    "check_families",
    "from_nir",
    "hidden_distortion",
    "load_chip",
    "load_probes",
    "record_probes",
    "record_probes_from_table",
    "represented_truth",
    "require_chip",
    "simulate",
    "to_nir",
    "write_nir",
]
