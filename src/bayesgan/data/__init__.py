"""Datamodules: in-memory tensors, resumable rank-aware batch streams (see ``base``)."""

from bayesgan.data.base import DataSplits, GANDataModule
from bayesgan.data.digits import DigitsDataModule
from bayesgan.data.toy import GridDataModule, RingDataModule, SyntheticDataModule

__all__ = [
    "DataSplits",
    "DigitsDataModule",
    "GANDataModule",
    "GridDataModule",
    "RingDataModule",
    "SyntheticDataModule",
]
