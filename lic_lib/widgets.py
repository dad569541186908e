"""Interactive widgets for the chapters (they need a running kernel).

Introduced in the chapter {ref}`chap-images-metrics-codecs`.  In the
rendered HTML a widget cannot run; each chapter shows a static figure made
by the same function next to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Sequence

import matplotlib.pyplot as plt
import numpy as np

from .classic import CODECS, Coded, encode_at_bpp
from .metrics import psnr
from .plots import zoom_compare

__all__ = ["compare_at_bpp", "codec_comparison", "LadderPoint",
           "code_ladder", "ladder_figure", "quality_slider"]


def _live_output(draw: Callable[..., plt.Figure], controls: dict):
    """An ``Output`` widget showing ``draw(**values)``, redrawn whenever a
    control changes.

    Unlike ``ipywidgets.interactive_output``, the first figure is written
    into the widget's state (``append_display_data``) instead of being
    *captured* while the cell runs.  Capturing makes a headless executor
    (nbclient: nbval, the book build) answer on the kernel's shell channel
    while it waits there for the cell's reply, a race that can stall the
    cell until its timeout.  Later redraws happen only in a live notebook.
    """
    import ipywidgets as w
    from IPython.display import display

    out = w.Output()

    def render(first: bool = False) -> None:
        fig = draw(**{k: c.value for k, c in controls.items()})
        if first:
            out.append_display_data(fig)
        else:
            with out:
                out.clear_output(wait=True)
                display(fig)
        plt.close(fig)

    for c in controls.values():
        c.observe(lambda _change: render(), names="value")
    render(first=True)
    return out


def _zoom_controls() -> dict:
    """Sliders for the zoom window of :func:`~lic_lib.plots.zoom_compare`."""
    import ipywidgets as w

    slider = dict(continuous_update=False)
    return dict(
        x=w.FloatSlider(value=0.5, min=0, max=1, step=0.02,
                        description="zoom x", **slider),
        y=w.FloatSlider(value=0.5, min=0, max=1, step=0.02,
                        description="zoom y", **slider),
        zoom=w.FloatSlider(value=4, min=1, max=12, step=0.5,
                           description="zoom ×", **slider))


def compare_at_bpp(img: np.ndarray, codec_names: Sequence[str],
                   target_bpp: float, center=(0.5, 0.5), zoom: float = 4.0
                   ) -> tuple[plt.Figure, list[Coded]]:
    """Code ``img`` with each codec as close to ``target_bpp`` as it gets
    and show the reconstructions side by side, with a zoomed region."""
    coded = [encode_at_bpp(CODECS[n], img, target_bpp) for n in codec_names]
    panels = [(f"{CODECS[n].label}\n{c.bpp:.3f} bpp, "
               f"{psnr(img, c.recon):.2f} dB", c.recon)
              for n, c in zip(codec_names, coded)]
    return zoom_compare(img, panels, center=center, zoom=zoom), coded


def codec_comparison(images: Sequence[tuple[str, np.ndarray]],
                     codec_names: Sequence[str] | None = None):
    """A widget: two codecs, one image, a target bpp and a zoom window.

    Encodings are cached, so moving the zoom window costs nothing; a new
    bpp or codec costs a bisection over the codec's parameter.
    """
    import ipywidgets as w

    names = list(codec_names or (n for n, c in CODECS.items()
                                 if c.available() and not c.slow))
    by_name = dict(images)

    @lru_cache(maxsize=64)
    def coded(image: str, codec: str, target: float) -> Coded:
        return encode_at_bpp(CODECS[codec], by_name[image], target)

    def show(image, codec_a, codec_b, target, x, y, zoom):
        img = by_name[image]
        panels = []
        for n in (codec_a, codec_b):
            c = coded(image, n, target)
            panels.append((f"{CODECS[n].label}\n{c.bpp:.3f} bpp, "
                           f"{psnr(img, c.recon):.2f} dB", c.recon))
        return zoom_compare(img, panels, center=(x, y), zoom=zoom)

    controls = dict(
        image=w.Dropdown(options=list(by_name), description="image"),
        codec_a=w.Dropdown(options=names, value=names[0],
                           description="codec A"),
        codec_b=w.Dropdown(options=names, value=names[-1],
                           description="codec B"),
        target=w.FloatLogSlider(value=0.3, base=10, min=-1.3, max=0.5,
                                step=0.05, description="target bpp",
                                continuous_update=False),
        **_zoom_controls(),
    )
    out = _live_output(show, controls)
    ui = w.VBox([w.HBox([controls["image"], controls["codec_a"],
                         controls["codec_b"]]),
                 w.HBox([controls["target"], controls["zoom"]]),
                 w.HBox([controls["x"], controls["y"]])])
    return w.VBox([ui, out])


@dataclass
class LadderPoint:
    """One quality of a shipped model applied to one image."""

    quality: int              # 1..6, index into the λ ladder + 1
    lmbda: float
    bytes: int                # size of the real .lic bitstream
    bpp: float
    psnr: float
    recon: np.ndarray


def code_ladder(model_name: str, img: np.ndarray, device: str = "cpu"
                ) -> list[LadderPoint]:
    """Encode and decode ``img`` at every shipped quality of a model."""
    from .checkpoints import LAMBDAS, load_checkpoint
    from .codec import decode_image, encode_image
    from .evaluate import shipped_lambdas

    points = []
    for lam in shipped_lambdas(model_name):
        net, rec = load_checkpoint(model_name, lam, device)
        tag = bytes.fromhex(rec["sha256"][:8])
        data = encode_image(net, img, model_name, tag=tag)
        recon = decode_image(net, data, model_name, tag=tag)
        points.append(LadderPoint(LAMBDAS.index(lam) + 1, lam, len(data),
                                  8 * len(data) / (img.shape[0] *
                                                   img.shape[1]),
                                  psnr(img, recon), recon))
    return points


def _panel(p: LadderPoint) -> tuple[str, np.ndarray]:
    return (f"quality {p.quality} (λ={p.lmbda:g})\n{p.bpp:.3f} bpp, "
            f"{p.psnr:.2f} dB", p.recon)


def ladder_figure(img: np.ndarray, points: Sequence[LadderPoint],
                  center=(0.5, 0.5), zoom: float = 4.0) -> plt.Figure:
    """Every quality side by side (the static twin of the slider)."""
    return zoom_compare(img, [_panel(p) for p in points], center=center,
                        zoom=zoom, width=3.0 * (len(points) + 1))


def quality_slider(img: np.ndarray, points: Sequence[LadderPoint]):
    """A widget: a quality slider over coded versions of one image, with
    the original beside the reconstruction and a movable zoom window."""
    import ipywidgets as w

    by_q = {p.quality: p for p in points}

    def show(quality, x, y, zoom):
        return zoom_compare(img, [_panel(by_q[quality])], center=(x, y),
                            zoom=zoom, width=9.0)

    qs = sorted(by_q)
    controls = dict(
        quality=w.SelectionSlider(options=qs, value=qs[len(qs) // 2],
                                  description="quality",
                                  continuous_update=False),
        **_zoom_controls(),
    )
    out = _live_output(show, controls)
    ui = w.VBox([w.HBox([controls["quality"], controls["zoom"]]),
                 w.HBox([controls["x"], controls["y"]])])
    return w.VBox([ui, out])
