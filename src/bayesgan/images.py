"""Image grids and 2-D scatter plots with numpy + Pillow only (no matplotlib / torchvision)."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont
from torch import Tensor

PAD_VALUE = 255  # white separators: visible between dark (MNIST-like) images
ROW_RULE = (150, 150, 150)  # the thin line between rows of a labelled grid
MODE_COLOR = (214, 39, 40)
# One colour per generator copy: matplotlib's tab10/tab20 without the reds (kept for the true modes).
PALETTE = [
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (148, 103, 189), (140, 86, 75), (227, 119, 194),
    (127, 127, 127), (188, 189, 34), (23, 190, 207), (174, 199, 232), (255, 187, 120), (152, 223, 138),
    (197, 176, 213), (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
]  # fmt: skip


def to_uint8(images: Tensor) -> np.ndarray:
    """Map values in [-1, 1] to uint8 [0, 255] (out-of-range values are clipped)."""
    x = (images.detach().float().cpu().clamp(-1.0, 1.0) + 1.0) * 127.5
    return x.round().to(torch.uint8).numpy()


def image_grid(images: Tensor, padding: int = 1) -> np.ndarray:
    """Tile ``[R, C, ch, h, w]`` images in [-1, 1] into one uint8 array.

    Row r holds posterior generator sample r, column c the fixed latent z_c. Returns ``[H, W]`` for
    ``ch == 1`` and ``[H, W, 3]`` for ``ch == 3``, with ``padding`` pixels around and between tiles.
    """
    if images.ndim == 4:  # [N, ch, h, w]: a single row
        images = images.unsqueeze(0)
    if images.ndim != 5 or images.shape[2] not in (1, 3):
        raise ValueError(f"expected [R, C, ch in (1, 3), h, w], got {tuple(images.shape)}")
    rows, cols, ch, h, w = images.shape
    tiles = to_uint8(images).transpose(0, 1, 3, 4, 2)  # [R, C, h, w, ch]
    height = rows * h + (rows + 1) * padding
    width = cols * w + (cols + 1) * padding
    grid = np.full((height, width, ch), PAD_VALUE, dtype=np.uint8)
    for r in range(rows):
        top = padding + r * (h + padding)
        for c in range(cols):
            left = padding + c * (w + padding)
            grid[top : top + h, left : left + w] = tiles[r, c]
    return grid[..., 0] if ch == 1 else grid


def upscale_factor(h: int, w: int, min_tile: int = 64) -> int:
    """The integer factor that makes a ``h x w`` tile at least ``min_tile`` pixels on its longer side."""
    return max(1, math.ceil(min_tile / max(h, w, 1)))


def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    try:
        return ImageFont.load_default(size=size)
    except (TypeError, OSError):  # Pillow without FreeType: the fixed bitmap font
        return ImageFont.load_default()


def labelled_grid(
    images: Tensor, row_labels: Sequence[str] | None = None, min_tile: int = 64, padding: int = 2
) -> np.ndarray:
    """A grid a person can read: tiles upscaled (nearest) to at least ``min_tile`` px, a thin grey rule
    between rows and each row's label (e.g. "gen 3, it 1200") on the left. Returns ``[H, W, 3]`` uint8."""
    if images.ndim == 4:
        images = images.unsqueeze(0)
    rows, _, _, h, w = images.shape
    if row_labels is not None and len(row_labels) != rows:
        raise ValueError(f"{len(row_labels)} row labels for {rows} rows")
    k = upscale_factor(h, w, min_tile)
    big = images.repeat_interleave(k, dim=-2).repeat_interleave(k, dim=-1)  # nearest-neighbour upscale
    grid = image_grid(big, padding)
    if grid.ndim == 2:
        grid = np.repeat(grid[..., None], 3, axis=2)
    tile_h = h * k
    for r in range(1, rows):  # 1-px rule in the middle of the padding between rows r-1 and r
        y = r * (tile_h + padding) + padding // 2
        grid[y, :] = ROW_RULE
    if not row_labels:
        return grid
    font = _font(max(10, min(14, tile_h // 3)))
    measure = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    label_w = 8 + max(measure.textbbox((0, 0), label, font=font)[2] for label in row_labels)
    canvas = Image.new("RGB", (label_w + grid.shape[1], grid.shape[0]), (255, 255, 255))
    canvas.paste(Image.fromarray(grid), (label_w, 0))
    draw = ImageDraw.Draw(canvas)
    for r, label in enumerate(row_labels):
        top = padding + r * (tile_h + padding)
        draw.text((4, top + tile_h // 2), label, fill=(0, 0, 0), font=font, anchor="lm")
        if r:
            draw.line([(0, top - padding + padding // 2), (label_w, top - padding + padding // 2)], ROW_RULE)
    return np.asarray(canvas, dtype=np.uint8)


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 ``[H, W]`` or ``[H, W, 3]`` array as PNG, creating parent directories."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array)).save(path, format="PNG")
    return path


def plot_window(points: np.ndarray, modes: np.ndarray | None) -> tuple[float, float, float, float]:
    """A square, equal-aspect window (x0, x1, y0, y1) around the data, so rings look like rings.

    With true ``modes`` the window is their bounding box plus 50 % of its size: samples never move it, so
    one far-off sample cannot squash the picture. Without modes it spans the 1st to 99th percentile of
    the points (plus 10 %).
    """
    if modes is not None and len(modes) > 0:
        lo, hi, margin = modes.min(axis=0), modes.max(axis=0), 0.5
    elif len(points) > 0:
        lo, hi, margin = np.percentile(points, 1, axis=0), np.percentile(points, 99, axis=0), 0.1
    else:
        return -1.0, 1.0, -1.0, 1.0
    center = (lo + hi) / 2
    half = max(float((hi - lo).max()) / 2, 0.5 if modes is not None else 1e-3) * (1 + margin)
    return center[0] - half, center[0] + half, center[1] - half, center[1] + half


def scatter_plot(
    points: Tensor,
    modes: Tensor | None = None,
    size: int = 400,
    groups: Tensor | None = None,
    labels: Sequence[str] | None = None,
    title: str | None = None,
) -> np.ndarray:
    """2-D ``points`` ``[n, 2]`` as small dots, coloured by ``groups`` (``[n]`` ints, e.g. the generator copy
    that drew each point; ``labels[g]`` names group g in the legend), over the true ``modes`` ``[K, 2]``
    (red circles). The window is fixed around the data (:func:`plot_window`); points outside it are
    counted in the legend. Returns uint8 ``[size, size + legend width, 3]`` (``[size, size, 3]`` without
    groups, labels and title).
    """
    pts = points.detach().float().cpu().reshape(-1, 2).numpy()
    ids = np.zeros(len(pts), dtype=np.int64) if groups is None else groups.detach().cpu().reshape(-1).numpy()
    finite = np.isfinite(pts).all(axis=1)
    pts, ids = pts[finite], ids[finite]
    mds = None if modes is None else torch.as_tensor(modes).detach().float().cpu().reshape(-1, 2).numpy()
    x0, x1, y0, y1 = plot_window(pts, mds)
    inside = (pts[:, 0] >= x0) & (pts[:, 0] <= x1) & (pts[:, 1] >= y0) & (pts[:, 1] <= y1)

    def to_px(p: np.ndarray) -> np.ndarray:
        u = (p[:, 0] - x0) / (x1 - x0) * (size - 1)
        v = (y1 - p[:, 1]) / (y1 - y0) * (size - 1)  # image y grows downwards
        return np.stack([u, v], axis=1)

    legend = labels is not None or groups is not None or title is not None
    font = _font(12)
    legend_w = 110 if legend else 0
    img = Image.new("RGB", (size + legend_w, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, size - 1, size - 1], outline=(0, 0, 0))
    for (u, v), g in zip(to_px(pts[inside]), ids[inside], strict=True):
        draw.rectangle([u - 1, v - 1, u + 1, v + 1], fill=PALETTE[int(g) % len(PALETTE)])
    radius = max(size // 80, 3)
    if mds is not None:  # outlines drawn last so dense samples never hide a mode
        for u, v in to_px(mds):
            draw.ellipse([u - radius, v - radius, u + radius, v + radius], outline=MODE_COLOR, width=2)
    if legend:
        count = int(ids.max(initial=0)) + 1
        names = list(labels) if labels is not None else [f"gen {g}" for g in range(count)]
        entries = [(PALETTE[g % len(PALETTE)], name) for g, name in enumerate(names)]
        y = 6
        if title:
            draw.text((size + 8, y), title, fill=(0, 0, 0), font=font)
            y += 18
        for colour, name in entries[:24]:
            draw.rectangle([size + 8, y + 3, size + 16, y + 11], fill=colour)
            draw.text((size + 22, y), name, fill=(0, 0, 0), font=font)
            y += 16
        if mds is not None:
            draw.ellipse([size + 8, y + 2, size + 17, y + 11], outline=MODE_COLOR, width=2)
            draw.text((size + 22, y), "true mode", fill=(0, 0, 0), font=font)
            y += 16
        if (~inside).sum():
            draw.text((size + 8, y), f"{int((~inside).sum())} outside", fill=(0, 0, 0), font=font)
    return np.asarray(img, dtype=np.uint8)
