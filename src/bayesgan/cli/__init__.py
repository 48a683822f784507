"""Commands that work on a finished run's checkpoint without training: ``bayesgan-sample``,
``bayesgan-evaluate``."""
