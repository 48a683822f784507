"""Sample pictures a person can read: upscaled, labelled grids and scatter plots with a fixed window."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from bayesgan.images import PALETTE, ROW_RULE, labelled_grid, scatter_plot, upscale_factor
from bayesgan.train import run


@pytest.mark.parametrize(("side", "factor"), [(8, 8), (24, 3), (28, 3), (32, 2), (64, 1), (100, 1)])
def test_upscale_factor_reaches_64_pixels(side: int, factor: int) -> None:
    assert upscale_factor(side, side) == factor


def test_labelled_grid_upscales_nearest_and_separates_labelled_rows() -> None:
    images = torch.zeros(2, 3, 1, 8, 8)
    images[0, 0, 0, 0, 0] = 1.0  # one white pixel in the first tile's corner
    images[1, 2] = -1.0  # a black tile
    plain = labelled_grid(images)
    # 8x8 tiles x8 = 64 px, 2-px padding: 2 rows -> 2*64 + 3*2, 3 columns -> 3*64 + 4*2.
    assert plain.shape == (134, 200, 3)
    assert (plain[2:10, 2:10] == 255).all() and (plain[10:66, 2:66] == 128).all()  # nearest: 8x8 block
    assert (plain[68:132, 2 + 2 * 66 : 2 + 2 * 66 + 64] == 0).all()  # row 1, column 2
    rule_row = 1 * (64 + 2) + 1
    assert (plain[rule_row] == ROW_RULE).all()  # the thin line between the rows
    assert (plain[0] == 255).all() and (plain[rule_row - 1, 2:] == 255).any()

    labelled = labelled_grid(images, ["gen 0, it 400", "gen 1, it 400"])
    label_w = labelled.shape[1] - 200
    assert labelled.shape[0] == 134 and label_w > 40
    assert np.array_equal(labelled[:, label_w:], plain)  # the grid itself is unchanged
    for top in (2, 68):  # each row band of the label column holds dark text pixels
        assert (labelled[top : top + 64, :label_w] < 100).any()
    with pytest.raises(ValueError, match="3 row labels for 2 rows"):
        labelled_grid(images, ["a", "b", "c"])


def _ring(n: int = 8) -> torch.Tensor:
    angles = torch.arange(n) * 2 * torch.pi / n
    return torch.stack([angles.cos(), angles.sin()], dim=1)


def test_scatter_window_is_fixed_around_the_data_and_colours_generator_copies() -> None:
    modes = _ring()
    g = torch.Generator().manual_seed(0)
    points = torch.cat([modes[0] + 0.02 * torch.randn(50, 2, generator=g),
                        modes[2] + 0.02 * torch.randn(50, 2, generator=g)])  # fmt: skip
    groups = torch.tensor([0] * 50 + [1] * 50)
    image = scatter_plot(points, modes, size=400, groups=groups, labels=["gen 0", "gen 1"])
    with_outlier = scatter_plot(
        torch.cat([points, torch.tensor([[100.0, -80.0]])]),
        modes,
        size=400,
        groups=torch.cat([groups, torch.tensor([1])]),
        labels=["gen 0", "gen 1"],
    )
    assert image.shape[0] == 400 and image.shape[1] > 400  # plot plus legend
    assert np.array_equal(image[:, :400], with_outlier[:, :400])  # one far sample does not move the axes
    assert not np.array_equal(image[:, 400:], with_outlier[:, 400:])  # ... it is counted in the legend

    # Window: the modes' box [-1, 1]^2 plus 50 % -> [-1.5, 1.5]; mode (1, 0) is at u = 2.5/3 * 399.
    def pixel(x: float, y: float) -> tuple[int, int]:
        return round((y * -1 + 1.5) / 3 * 399), round((x + 1.5) / 3 * 399)

    colours = {
        k: {tuple(c) for c in image[r - 6 : r + 7, c - 6 : c + 7].reshape(-1, 3)}
        for k, (r, c) in {0: pixel(1, 0), 1: pixel(0, 1)}.items()
    }
    assert PALETTE[0] in colours[0] and PALETTE[1] not in colours[0]
    assert PALETTE[1] in colours[1] and PALETTE[0] not in colours[1]
    legend = {tuple(c) for c in image[:, 400:].reshape(-1, 3)}
    assert PALETTE[0] in legend and PALETTE[1] in legend and (214, 39, 40) in legend  # copies + true mode


def test_consecutive_scatter_plots_of_a_training_run_differ(make_config, tmp_path: Path) -> None:
    cfg = make_config("callbacks=default", "iterations=6", "callbacks.samples.every_n_iterations=3",
                      "callbacks.coverage.num_samples=200")  # fmt: skip
    run(cfg, tmp_path)
    first, second = (np.asarray(Image.open(tmp_path / "samples" / f"iter_{i:07d}.png")) for i in (3, 6))
    assert first.shape == second.shape
    assert not np.array_equal(first[:, :400], second[:, :400])  # the plot itself, not just its title
