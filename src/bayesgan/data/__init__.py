"""Datamodules: in-memory tensors, resumable rank-aware batch streams (see ``base``).

Offline (generated or shipped with a package): ring, grid, synthetic, digits, oh_letters.
From their standard distribution files (see the README's dataset table): mnist, fashion_mnist, cifar10,
svhn, celeba, image_folder, arrays; stacked_mnist / stacked_digits stack three digits of a base dataset.
"""

from bayesgan.data.arrays import ArraysDataModule
from bayesgan.data.base import DataSplits, GANDataModule
from bayesgan.data.celeba import CelebADataModule
from bayesgan.data.cifar import Cifar10DataModule
from bayesgan.data.digits import DigitsDataModule
from bayesgan.data.files import DatasetError
from bayesgan.data.folders import ImageFolderDataModule
from bayesgan.data.idx import FashionMnistDataModule, MnistDataModule
from bayesgan.data.letters import OHLettersDataModule
from bayesgan.data.real import RealDataModule
from bayesgan.data.stacked import StackedDataModule
from bayesgan.data.svhn import SvhnDataModule
from bayesgan.data.toy import GridDataModule, RingDataModule, SyntheticDataModule

__all__ = [
    "ArraysDataModule",
    "CelebADataModule",
    "Cifar10DataModule",
    "DataSplits",
    "DatasetError",
    "DigitsDataModule",
    "FashionMnistDataModule",
    "GANDataModule",
    "GridDataModule",
    "ImageFolderDataModule",
    "MnistDataModule",
    "OHLettersDataModule",
    "RealDataModule",
    "RingDataModule",
    "StackedDataModule",
    "SvhnDataModule",
    "SyntheticDataModule",
]
