"""Classical image codecs, each really encoding to bytes and decoding back.

Introduced in the chapter {ref}`chap-images-metrics-codecs`.

Each codec has one integer *parameter* that moves it along its RD curve
(JPEG/WebP/AVIF quality, JPEG 2000 target rate, HEVC QP), a default sweep of
that parameter and a search range for hitting a target bpp.

* JPEG, JPEG 2000, WebP and AVIF go through Pillow (libjpeg-turbo,
  OpenJPEG, libwebp, libavif/aom as bundled in the pinned Pillow wheel).
* HEVC intra goes through ``ffmpeg`` + libx265 in 4:4:4, 10 bits.  ffmpeg's
  own RGB conversion is limited-range BT.601 in 8 bits, so we convert
  ourselves: RGB → full-range BT.709 Y'CbCr in floating point → 10-bit
  planar, and back after decoding (lossless at QP 0 up to rounding).
  x265's psycho-visual tools and adaptive quantisation are off, since they
  trade PSNR for perceived quality, and ``info=0`` drops its ~2 kB version
  SEI.  The whole Annex-B stream (parameter sets included) is counted.

VVC (VTM, all-intra 4:4:4) is not run here: the book uses CompressAI's
published VTM points for Kodak (``data/anchors/kodak/vtm.json``).
"""

from __future__ import annotations

import io
import shutil
import subprocess
import time
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, features

from .metrics import bpp as _bpp, ms_ssim, psnr

__all__ = ["Codec", "PillowCodec", "HEVC", "CodecUnavailable", "CODECS",
           "get_codec", "Coded", "encode_at_bpp", "rgb_to_ycbcr10",
           "ycbcr10_to_rgb"]


class CodecUnavailable(RuntimeError):
    """The codec's encoder or decoder is not installed on this machine."""


@dataclass
class Coded:
    """One image through one codec at one parameter value."""

    param: int
    data: bytes
    recon: np.ndarray
    encode_s: float
    decode_s: float

    @property
    def bpp(self) -> float:
        return _bpp(len(self.data), *self.recon.shape[:2])


@dataclass
class Codec:
    """An image codec with one integer rate parameter.

    Attributes:
        name: short id used in file names (``jpeg``, ``hevc``...).
        label: what a plot legend shows.
        param: what the parameter is (``quality``, ``qp``...).
        sweep: default parameter values for an RD curve.
        search: inclusive (low, high) range for :func:`encode_at_bpp`.
        rate_up: True if a larger parameter gives more bits.
    """

    name: str
    label: str
    param: str
    sweep: tuple[int, ...]
    search: tuple[int, int]
    rate_up: bool = True
    settings: dict = field(default_factory=dict)

    def available(self) -> bool:
        return True

    def version(self) -> str:
        raise NotImplementedError

    def encode(self, img: np.ndarray, p: int) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes, shape: tuple[int, int]) -> np.ndarray:
        raise NotImplementedError

    def code(self, img: np.ndarray, p: int) -> Coded:
        """Encode then decode ``img`` at parameter ``p``, timing both."""
        if not self.available():
            raise CodecUnavailable(self.unavailable_reason())
        t0 = time.perf_counter()
        data = self.encode(img, p)
        t1 = time.perf_counter()
        recon = self.decode(data, img.shape[:2])
        t2 = time.perf_counter()
        if recon.shape != img.shape:
            raise RuntimeError(f"{self.name} decoded {recon.shape}, "
                               f"expected {img.shape}")
        return Coded(p, data, recon, t1 - t0, t2 - t1)

    def unavailable_reason(self) -> str:
        return f"{self.name} is not available"


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


# -- HEVC through ffmpeg/libx265 -------------------------------------------

_KR, _KB = 0.2126, 0.0722          # BT.709 luma coefficients


def rgb_to_ycbcr10(img: np.ndarray) -> np.ndarray:
    """8-bit RGB (H×W×3) → full-range BT.709 Y'CbCr, 10-bit planar (3×H×W)."""
    rgb = img.astype(np.float64) / 255.0
    r, g, b = rgb[..., 0], rgb[..., 1], rgb[..., 2]
    y = _KR * r + (1 - _KR - _KB) * g + _KB * b
    cb = (b - y) / (2 * (1 - _KB))
    cr = (r - y) / (2 * (1 - _KR))
    planes = np.stack([y * 1023, cb * 1023 + 512, cr * 1023 + 512])
    return np.clip(np.rint(planes), 0, 1023).astype(np.uint16)


def ycbcr10_to_rgb(planes: np.ndarray) -> np.ndarray:
    """Inverse of :func:`rgb_to_ycbcr10`, rounded to 8-bit RGB (H×W×3)."""
    y = planes[0].astype(np.float64) / 1023
    cb = (planes[1].astype(np.float64) - 512) / 1023
    cr = (planes[2].astype(np.float64) - 512) / 1023
    r = y + 2 * (1 - _KR) * cr
    b = y + 2 * (1 - _KB) * cb
    g = (y - _KR * r - _KB * b) / (1 - _KR - _KB)
    rgb = np.stack([r, g, b], axis=-1) * 255.0
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


@dataclass
class HEVC(Codec):
    """HEVC intra, 4:4:4 10-bit, through ffmpeg's libx265 wrapper."""

    preset: str = "veryslow"

    def available(self) -> bool:
        return shutil.which("ffmpeg") is not None and self._has_x265()

    def _has_x265(self) -> bool:
        try:
            out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"],
                                 capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.SubprocessError):
            return False
        return "libx265" in out.stdout

    def unavailable_reason(self) -> str:
        return ("HEVC needs ffmpeg built with libx265, which was not found "
                "on PATH. On Debian/Ubuntu: 'apt-get install ffmpeg' (the "
                "Makefile's 'system-deps' target does this).")

    def version(self) -> str:
        out = subprocess.run(["ffmpeg", "-version"], capture_output=True,
                             text=True).stdout.splitlines()
        return f"{out[0] if out else 'ffmpeg'}; libx265, preset {self.preset}"

    def _params(self, qp: int) -> str:
        return (f"keyint=1:min-keyint=1:qp={qp}:aq-mode=0:psy-rd=0:"
                "psy-rdoq=0:info=0:log-level=error")

    #: x265 refuses pictures smaller than this; smaller ones are padded
    #: (edge pixels repeated) and cropped after decoding.
    MIN_SIDE = 16

    def encode(self, img: np.ndarray, p: int) -> bytes:
        h, w = img.shape[:2]
        img = np.pad(img, ((0, max(0, self.MIN_SIDE - h)),
                           (0, max(0, self.MIN_SIDE - w)), (0, 0)), "edge")
        h, w = img.shape[:2]
        raw = rgb_to_ycbcr10(img).astype("<u2").tobytes()
        cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f",
               "rawvideo", "-pix_fmt", "yuv444p10le", "-s", f"{w}x{h}",
               "-i", "-", "-frames:v", "1", "-c:v", "libx265", "-preset",
               self.preset, "-x265-params", self._params(p), "-f", "hevc",
               "-"]
        return _run(cmd, raw, "HEVC encoder")

    def decode(self, data: bytes, shape: tuple[int, int]) -> np.ndarray:
        h, w = (max(s, self.MIN_SIDE) for s in shape)
        cmd = ["ffmpeg", "-hide_banner", "-loglevel", "error", "-f", "hevc",
               "-i", "-", "-f", "rawvideo", "-pix_fmt", "yuv444p10le", "-"]
        out = _run(cmd, data, "HEVC decoder")
        planes = np.frombuffer(out, dtype="<u2")
        if planes.size != 3 * h * w:
            raise RuntimeError(f"HEVC decoder returned {planes.size} samples, "
                               f"expected {3 * h * w}")
        return ycbcr10_to_rgb(planes.reshape(3, h, w))[:shape[0], :shape[1]]


def _run(cmd: list[str], stdin: bytes, what: str) -> bytes:
    proc = subprocess.run(cmd, input=stdin, capture_output=True, timeout=600)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({' '.join(cmd[:3])}...): "
                           f"{proc.stderr.decode(errors='replace')[-500:]}")
    return proc.stdout


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
