"""Image grids and 2-D scatter plots with numpy + Pillow only (no matplotlib / torchvision)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw
from torch import Tensor

PAD_VALUE = 255  # white separators: visible between dark (MNIST-like) images


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


def save_png(array: np.ndarray, path: str | Path) -> Path:
    """Write a uint8 ``[H, W]`` or ``[H, W, 3]`` array as PNG, creating parent directories."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(array)).save(path, format="PNG")
    return path


def _limits(points: np.ndarray, modes: np.ndarray | None) -> tuple[float, float, float, float]:
    parts = [p for p in (points, modes) if p is not None and len(p) > 0]
    if not parts:
        return -1.0, 1.0, -1.0, 1.0
    allp = np.concatenate(parts, axis=0)
    lo, hi = allp.min(axis=0), allp.max(axis=0)
    # Square, equal-aspect window with a 10 % margin, so rings look like rings.
    center = (lo + hi) / 2
    half = max(float((hi - lo).max()) / 2, 1e-3) * 1.1
    return center[0] - half, center[0] + half, center[1] - half, center[1] + half


def scatter_plot(
    points: Tensor,
    modes: Tensor | None = None,
    size: int = 400,
    point_color: tuple[int, int, int] = (31, 119, 180),
    mode_color: tuple[int, int, int] = (214, 39, 40),
) -> np.ndarray:
    """Draw 2-D ``points`` ``[n, 2]`` as small dots over the true ``modes`` ``[K, 2]`` (circles).

    Axis limits cover both the modes and the (finite) points. Returns a uint8 ``[size, size, 3]`` array.
    """
    pts = points.detach().float().cpu().reshape(-1, 2).numpy()
    pts = pts[np.isfinite(pts).all(axis=1)]
    mds = None if modes is None else torch.as_tensor(modes).detach().float().cpu().reshape(-1, 2).numpy()
    x0, x1, y0, y1 = _limits(pts, mds)

    def to_px(p: np.ndarray) -> np.ndarray:
        u = (p[:, 0] - x0) / (x1 - x0) * (size - 1)
        v = (y1 - p[:, 1]) / (y1 - y0) * (size - 1)  # image y grows downwards
        return np.stack([u, v], axis=1)

    img = Image.new("RGB", (size, size), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    draw.rectangle([0, 0, size - 1, size - 1], outline=(0, 0, 0))
    radius = max(size // 80, 3)
    for u, v in to_px(pts):
        draw.rectangle([u - 1, v - 1, u + 1, v + 1], fill=point_color)
    if mds is not None:  # outlines drawn last so dense samples never hide a mode
        for u, v in to_px(mds):
            draw.ellipse([u - radius, v - radius, u + radius, v + radius], outline=mode_color, width=2)
    return np.asarray(img, dtype=np.uint8)
