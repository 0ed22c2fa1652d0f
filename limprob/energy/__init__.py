"""The energy of learning: device parameters -> energy bounds.

    limits        Landauer, LIM, static-barrier and accelerator bounds as plain functions
                  (numbers, numpy arrays or PyTensor tensors), and the validated calculator
    report        every bound for one scenario, median and interval over the device posterior
                  of limprob.models.lim_energy
    training_run  the energy a chip-in-the-loop training trace cost

``limits`` sits below the PyMC model of device parameters (which builds its deterministics
from it); ``report`` and ``training_run`` sit above it. Import them by module.
"""
