"""Figures used by several chapters: image grids, RD curves, zoomed crops,
block diagrams.

Introduced in the chapter {ref}`chap-images-metrics-codecs`.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .metrics import rd_quality

__all__ = ["show_images", "rd_plot", "zoom_compare", "block_diagram",
           "METRIC_LABELS"]

METRIC_LABELS = {"psnr-rgb": "PSNR (RGB) [dB]",
                 "ms-ssim-db": "MS-SSIM (RGB) [dB]"}


def show_images(items: Sequence[tuple[str, np.ndarray]], ncols: int = 4,
                width: float = 12.0, title: str | None = None) -> plt.Figure:
    """A grid of (caption, image) pairs, captions above each image."""
    nrows = -(-len(items) // ncols)
    h, w = items[0][1].shape[:2]
    fig, axes = plt.subplots(nrows, ncols, squeeze=False, figsize=(
        width, width / ncols * h / w * nrows * 1.1))
    for ax in axes.flat:
        ax.axis("off")
    for ax, (caption, img) in zip(axes.flat, items):
        ax.imshow(img)
        ax.set_title(caption, fontsize=9)
    if title:
        fig.suptitle(title)
    fig.tight_layout()
    return fig


def rd_plot(curves: Mapping[str, Mapping], metric: str = "psnr-rgb",
            ax: plt.Axes | None = None, styles: Mapping[str, dict] | None
            = None, xlim: tuple[float, float] | None = None,
            title: str | None = None) -> plt.Axes:
    """Rate–distortion curves: label → CompressAI ``results`` dict.

    ``metric`` is ``psnr-rgb`` or ``ms-ssim-db``; curves lacking it are
    skipped.  ``styles`` maps a label to extra ``plot`` keyword arguments.
    """
    ax = ax or plt.subplots(figsize=(6.4, 4.4))[1]
    styles = styles or {}
    for label, res in curves.items():
        if metric.replace("-db", "-rgb") not in res:
            continue
        kw = {"marker": "o", "markersize": 3.5, "linewidth": 1.4}
        kw.update(styles.get(label, {}))
        ax.plot(res["bpp"], rd_quality(res, metric), label=label, **kw)
    ax.set_xlabel("bits per pixel (bpp)")
    ax.set_ylabel(METRIC_LABELS.get(metric, metric))
    if xlim:
        ax.set_xlim(*xlim)
    ax.grid(alpha=0.3)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    if title:
        ax.set_title(title)
    return ax


def zoom_compare(original: np.ndarray,
                 panels: Sequence[tuple[str, np.ndarray]],
                 center: tuple[float, float] = (0.5, 0.5),
                 zoom: float = 4.0, width: float = 12.0) -> plt.Figure:
    """Whole images on top, the same zoomed region of each below.

    ``center`` is the (x, y) centre of the region as fractions of the image;
    ``zoom`` how many times the region is magnified (nearest neighbour, so
    coding artefacts stay visible).
    """
    h, w = original.shape[:2]
    ch, cw = max(8, int(h / zoom)), max(8, int(w / zoom))
    top = int(np.clip(center[1] * h - ch / 2, 0, h - ch))
    left = int(np.clip(center[0] * w - cw / 2, 0, w - cw))
    items = [("original", original), *panels]
    fig, axes = plt.subplots(2, len(items), squeeze=False, figsize=(
        width, width / len(items) * (h / w + ch / cw) * 1.15))
    for i, (caption, img) in enumerate(items):
        axes[0, i].imshow(img)
        axes[0, i].add_patch(plt.Rectangle((left, top), cw, ch, fill=False,
                                           edgecolor="yellow", linewidth=1.5))
        axes[0, i].set_title(caption, fontsize=9)
        axes[1, i].imshow(img[top:top + ch, left:left + cw],
                          interpolation="nearest")
        for ax in axes[:, i]:
            ax.axis("off")
    fig.tight_layout()
    return fig


BLOCK_STYLES = {  # kind -> box style: networks, coders, plain data
    "net": {"boxstyle": "round,pad=0.35", "fc": "#dbe9f6", "ec": "#3b6ea5"},
    "coder": {"boxstyle": "square,pad=0.35", "fc": "#fde2c8", "ec": "#c2661a"},
    "data": {"boxstyle": "round,pad=0.2", "fc": "white", "ec": "none"},
}


def block_diagram(nodes: Mapping[str, tuple[float, float, str]],
                  edges: Sequence[tuple[str, str] | tuple[str, str, dict]],
                  labels: Mapping[str, str] | None = None,
                  ax: plt.Axes | None = None,
                  figsize: tuple[float, float] = (11.0, 3.2)) -> plt.Axes:
    """A model's data flow, drawn from code so it cannot drift from the text.

    ``nodes`` maps a name to ``(x, y, kind)``, kind one of
    :data:`BLOCK_STYLES` (``net``, ``coder``, ``data``); ``labels`` gives
    the text drawn for a node (default: its name, which may be TeX).
    ``edges`` are ``(from, to)`` pairs, optionally with ``annotate``
    arrow properties (e.g. ``{"linestyle": "--", "color": "C3"}``).
    """
    ax = ax or plt.subplots(figsize=figsize)[1]
    labels = labels or {}
    texts = {}
    for name, (x, y, kind) in nodes.items():
        texts[name] = ax.text(x, y, labels.get(name, name), ha="center",
                              va="center", fontsize=10, zorder=3,
                              bbox=BLOCK_STYLES[kind])
    for edge in edges:
        src, dst, style = (*edge, {})[:3]
        props = {"arrowstyle": "-|>", "color": "0.3", "lw": 1.2,
                 "shrinkA": 2, "shrinkB": 2, **style}
        ax.annotate("", xy=(0.5, 0.5), xycoords=texts[dst],
                    xytext=(0.5, 0.5), textcoords=texts[src],
                    arrowprops={**props, "patchA": texts[src].get_bbox_patch(),
                                "patchB": texts[dst].get_bbox_patch()})
    xs, ys = zip(*[(x, y) for x, y, _ in nodes.values()])
    ax.set(xlim=(min(xs) - 0.6, max(xs) + 0.6),
           ylim=(min(ys) - 0.6, max(ys) + 0.6))
    ax.axis("off")
    return ax
