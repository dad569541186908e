"""Classical image codecs, each really encoding to bytes and decoding back.

Introduced in the chapter {ref}`chap-images-metrics-codecs`.

Each codec has one integer *parameter* that moves it along its RD curve
(JPEG/WebP/AVIF quality, JPEG 2000 target rate, HEVC QP), a default sweep of
that parameter and a search range for hitting a target bpp.

* JPEG, JPEG 2000, WebP and AVIF go through Pillow (libjpeg-turbo,
  OpenJPEG, libwebp, libavif/aom as bundled in the pinned Pillow wheel).
* HEVC and VVC intra go through external encoders and decoders
  (:mod:`lic_lib.video_intra`); the codec contract is
  :mod:`lic_lib.codec_base`.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, features

from .codec_base import Codec, CodecUnavailable, Coded
from .metrics import ms_ssim, psnr
from .video_intra import (HEVC, VVC, chroma_420, chroma_444, rgb_to_ycbcr10,
                          ycbcr10_to_rgb)

__all__ = ["Codec", "PillowCodec", "HEVC", "VVC", "CodecUnavailable", "CODECS",
           "get_codec", "Coded", "encode_at_bpp", "rgb_to_ycbcr10",
           "ycbcr10_to_rgb", "chroma_420", "chroma_444"]


@dataclass
class PillowCodec(Codec):
    """A codec that Pillow writes and reads (``fmt`` is Pillow's name)."""

    fmt: str = ""
    feature: str = ""

    def available(self) -> bool:
        return bool(features.check(self.feature))

    def unavailable_reason(self) -> str:
        return (f"this Pillow build has no {self.feature} support "
                "(reinstall the pinned pillow wheel: make venv)")

    def version(self) -> str:
        v = features.version(self.feature)
        if self.feature == "avif":
            from PIL import AvifImagePlugin
            v = f"{v}, aom {AvifImagePlugin.get_codec_version('aom')}"
        return f"Pillow {Image.__version__}, {self.feature} {v}"

    def _options(self, p: int) -> dict:
        opts = dict(self.settings)
        if self.fmt == "JPEG2000":
            opts.update(quality_mode="rates",
                        quality_layers=[2400.0 / p])   # p = 100 × target bpp
        else:
            opts["quality"] = p
        return opts

    def encode(self, img: np.ndarray, p: int) -> bytes:
        buf = io.BytesIO()
        Image.fromarray(img).save(buf, format=self.fmt, **self._options(p))
        return buf.getvalue()

    def decode(self, data: bytes, shape: tuple[int, int]) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as im:
            return np.asarray(im.convert("RGB")).copy()


CODECS: dict[str, Codec] = {c.name: c for c in [
    PillowCodec("jpeg", "JPEG (4:2:0)", "quality",
                (5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 95), (1, 100),
                settings=dict(optimize=True), fmt="JPEG", feature="jpg"),
    PillowCodec("jpeg2000", "JPEG 2000", "100×bpp",
                (6, 10, 16, 25, 40, 60, 100, 150, 220, 300), (2, 800),
                settings=dict(irreversible=True, mct=1, no_jp2=True),
                fmt="JPEG2000", feature="jpg_2000"),
    PillowCodec("webp", "WebP (4:2:0)", "quality",
                (0, 10, 25, 40, 55, 70, 80, 90, 95, 100), (0, 100),
                settings=dict(method=6), fmt="WEBP", feature="webp"),
    PillowCodec("avif", "AVIF (4:4:4)", "quality",
                (10, 25, 40, 50, 60, 70, 80, 88, 94), (0, 100),
                settings=dict(subsampling="4:4:4", speed=4, max_threads=1),
                fmt="AVIF", feature="avif"),
    HEVC("hevc", "HEVC intra (x265, 4:4:4)", "qp",
         (47, 42, 37, 32, 27, 22, 17), (0, 51), rate_up=False),
    VVC("vtm", "VVC intra (VTM 4:4:4)", "qp", (47, 42, 37, 32, 27),
        (0, 63), rate_up=False, slow=True, encoder="vtm"),
    VVC("vvenc", "VVC intra (VVenC 4:2:0)", "qp", (47, 42, 37, 32, 27),
        (0, 63), rate_up=False, encoder="vvenc"),
]}


def get_codec(name: str) -> Codec:
    """The codec registered under ``name``."""
    try:
        return CODECS[name]
    except KeyError:
        raise ValueError(f"unknown codec {name!r}; choose one of "
                         f"{', '.join(CODECS)}") from None


def encode_at_bpp(codec: Codec, img: np.ndarray, target: float) -> Coded:
    """The coding of ``img`` whose bpp is closest to ``target``.

    Bisects the codec's integer parameter (rate is monotone in it up to
    small wiggles), so it costs about log2(range) ≈ 6–10 encodes.
    """
    lo, hi = codec.search
    cache: dict[int, Coded] = {}

    def at(p: int) -> Coded:
        if p not in cache:
            cache[p] = codec.code(img, p)
        return cache[p]

    while hi - lo > 1:
        mid = (lo + hi) // 2
        if (at(mid).bpp < target) == codec.rate_up:
            lo = mid
        else:
            hi = mid
    return min((at(lo), at(hi)), key=lambda c: abs(c.bpp - target))


def rd_point(codec: Codec, images: Iterable[np.ndarray], p: int,
             with_ms_ssim: bool = True) -> dict[str, float]:
    """Mean bpp, PSNR, MS-SSIM and times of ``codec`` at ``p`` over images."""
    rows = []
    for img in images:
        c = codec.code(img, p)
        row = {"bpp": c.bpp, "psnr-rgb": psnr(img, c.recon),
               "encoding_time": c.encode_s, "decoding_time": c.decode_s}
        if with_ms_ssim:
            row["ms-ssim-rgb"] = ms_ssim(img, c.recon)
        rows.append(row)
    return {k: float(np.mean([r[k] for r in rows])) for k in rows[0]}


def rd_sweep(codec: Codec, images: Sequence[np.ndarray],
             params: Sequence[int] | None = None, progress: bool = False,
             with_ms_ssim: bool = True) -> dict[str, list]:
    """One RD curve: :func:`rd_point` at each parameter, sorted by bpp."""
    from tqdm.auto import tqdm

    params = list(params or codec.sweep)
    pts = [(p, rd_point(codec, images, p, with_ms_ssim))
           for p in tqdm(params, desc=codec.name, disable=not progress)]
    pts.sort(key=lambda t: t[1]["bpp"])
    out: dict[str, list] = {k: [pt[k] for _, pt in pts] for k in pts[0][1]}
    out[codec.param] = [p for p, _ in pts]
    return out
