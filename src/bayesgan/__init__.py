"""Bayesian GANs (Saatci & Wilson, NIPS 2017) as a Hydra + Lightning experiment framework."""

__version__ = "0.1.0"
