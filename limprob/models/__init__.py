"""PyMC model definitions, one module per model (installed as ``limprob.models``)."""
