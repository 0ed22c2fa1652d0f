"""The energy of learning, above inference: the bounds of :mod:`limprob.energy_limits` over the
device posterior, and the energy a training run cost.

    report        every bound for one scenario, median and interval over the device posterior
                  of limprob.models.lim_energy
    training_run  the energy a chip-in-the-loop training trace cost

The bounds themselves (:mod:`limprob.energy_limits`) sit below the PyMC model of device
parameters, which builds its deterministics from them. Import the modules by name.
"""
