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

* VVC intra (the paper's anchor) goes through the reference software
  built from ``../shared/vendor`` by ``make vvc`` into ``.vvc/bin`` (or
  ``$LIC_VVC_DIR``): ``vtm`` is VTM's encoder in 4:4:4 10 bits with the
  all-intra configuration, as in CompressAI's published ``vtm.json``; it
  is slow (about a minute per Kodak image and QP).  ``vvenc`` is
  Fraunhofer's fast encoder, which codes 4:2:0 only: chroma is box-filtered
  to half size before coding and bilinearly upsampled after decoding.
  Both streams are decoded by VVdeC (bit-exact with VTM's decoder, which a
  test checks).  Same colour path as HEVC.  With ``--PerceptQPA 0`` and
  ``--IntraQPOffset 0`` VVenC codes at the QP it is given, like VTM.
"""

from __future__ import annotations

import functools
import io
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from typing import Iterable, Sequence

import numpy as np
from PIL import Image, features

from .metrics import bpp as _bpp, ms_ssim, psnr

__all__ = ["Codec", "PillowCodec", "HEVC", "VVC", "CodecUnavailable", "CODECS",
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
        slow: minutes per image (VTM): left out of default sweeps and of
            the interactive comparisons, which search over the parameter.
    """

    name: str
    label: str
    param: str
    sweep: tuple[int, ...]
    search: tuple[int, int]
    rate_up: bool = True
    settings: dict = field(default_factory=dict)
    slow: bool = False

    def available(self) -> bool:
        return True

    def version(self) -> str:
        raise NotImplementedError

    def encode(self, img: np.ndarray, p: int) -> bytes:
        raise NotImplementedError

    def decode(self, data: bytes, shape: tuple[int, int]) -> np.ndarray:
        raise NotImplementedError

    def command_line(self) -> str:
        """How the codec is run, for result files (``P``: the parameter)."""
        return f"Pillow Image.save(format={getattr(self, 'fmt', '')!r}, " \
            f"**{self.settings!r}), P = {self.param}"

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
        return shutil.which("ffmpeg") is not None and _ffmpeg_has_x265()

    def unavailable_reason(self) -> str:
        return ("HEVC needs ffmpeg built with libx265, which was not found "
                "on PATH. On Debian/Ubuntu: 'apt-get install ffmpeg' (the "
                "Makefile's 'system-deps' target does this).")

    def version(self) -> str:
        out = subprocess.run(["ffmpeg", "-version"], capture_output=True,
                             stdin=subprocess.DEVNULL,
                             text=True).stdout.splitlines()
        return f"{out[0] if out else 'ffmpeg'}; libx265, preset {self.preset}"

    def command_line(self) -> str:
        return ("ffmpeg -nostdin -f rawvideo -pix_fmt yuv444p10le -s WxH -i - "
                f"-frames:v 1 -c:v libx265 -preset {self.preset} -x265-params "
                f"{self._params('P')} -f hevc -  |  ffmpeg -nostdin -f hevc "
                "-i - -f rawvideo -pix_fmt yuv444p10le -")

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
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error", "-f",
               "rawvideo", "-pix_fmt", "yuv444p10le", "-s", f"{w}x{h}",
               "-i", "-", "-frames:v", "1", "-c:v", "libx265", "-preset",
               self.preset, "-x265-params", self._params(p), "-f", "hevc",
               "-"]
        return _run(cmd, raw, "HEVC encoder")

    def decode(self, data: bytes, shape: tuple[int, int]) -> np.ndarray:
        h, w = (max(s, self.MIN_SIDE) for s in shape)
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
               "-f", "hevc", "-i", "-", "-f", "rawvideo", "-pix_fmt", "yuv444p10le", "-"]
        out = _run(cmd, data, "HEVC decoder")
        planes = np.frombuffer(out, dtype="<u2")
        if planes.size != 3 * h * w:
            raise RuntimeError(f"HEVC decoder returned {planes.size} samples, "
                               f"expected {3 * h * w}")
        return ycbcr10_to_rgb(planes.reshape(3, h, w))[:shape[0], :shape[1]]


@functools.lru_cache(maxsize=1)
def _ffmpeg_has_x265() -> bool:
    try:
        out = subprocess.run(["ffmpeg", "-hide_banner", "-encoders"],
                             capture_output=True, stdin=subprocess.DEVNULL,
                             text=True, timeout=30)
    except (OSError, subprocess.SubprocessError):
        return False
    return "libx265" in out.stdout


def vvc_dir() -> "Path":
    """Where ``make vvc`` put the VVC binaries (``$LIC_VVC_DIR`` overrides)."""
    from pathlib import Path

    from .config import ROOT
    env = os.environ.get("LIC_VVC_DIR")
    return Path(env).expanduser() if env else ROOT / ".vvc"


def _chroma_420(planes: np.ndarray) -> list[np.ndarray]:
    """Y, Cb, Cr with Cb and Cr box-filtered to half size (even H, W)."""
    c = planes[1:].astype(np.float64)
    c = c.reshape(2, c.shape[1] // 2, 2, c.shape[2] // 2, 2).mean(axis=(2, 4))
    return [planes[0], *np.clip(np.rint(c), 0, 1023).astype(np.uint16)]


def _chroma_444(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
    """Upsample half-size chroma bilinearly (centred samples) to Y's size."""
    h, w = y.shape
    up = [np.asarray(Image.fromarray(c.astype(np.float32), mode="F").resize(
        (w, h), Image.BILINEAR)) for c in (cb, cr)]
    return np.stack([y, *[np.clip(np.rint(u), 0, 1023) for u in up]]
                    ).astype(np.uint16)


@dataclass
class VVC(Codec):
    """VVC intra: VTM 4:4:4 (``encoder="vtm"``) or VVenC 4:2:0 (``"vvenc"``),
    10-bit, decoded by VVdeC (or VTM's own decoder, ``decoder="vtm"``)."""

    encoder: str = "vtm"
    decoder: str = "vvdec"
    preset: str = "medium"           # VVenC only

    #: pictures are padded (edge pixels repeated) to a multiple of this,
    #: VVC's minimum coding-block size, and cropped after decoding.
    ALIGN = 8

    def _bin(self, name: str) -> "Path":
        return vvc_dir() / "bin" / name

    def _binaries(self) -> list:
        enc = "EncoderAppStatic" if self.encoder == "vtm" else "vvencFFapp"
        dec = "DecoderAppStatic" if self.decoder == "vtm" else "vvdecapp"
        return [self._bin(enc), self._bin(dec)]

    def available(self) -> bool:
        return all(os.access(b, os.X_OK) for b in self._binaries())

    def unavailable_reason(self) -> str:
        missing = [b.name for b in self._binaries() if not b.exists()]
        return (f"VVC needs {', '.join(missing)} in {vvc_dir() / 'bin'}: "
                "build them from ../shared/vendor with 'make vvc' (about 15 "
                "minutes on 2 cores), or point $LIC_VVC_DIR at a folder "
                "whose bin/ holds them.")

    def version(self) -> str:
        enc = "VTM 23.13 EncoderApp" if self.encoder == "vtm" else \
            f"VVenC 1.15.0-dev (0a41b11), preset {self.preset}"
        dec = "VTM 23.13 DecoderApp" if self.decoder == "vtm" else \
            "VVdeC 3.3.0-dev (e493ce5)"
        return f"{enc}; decoded by {dec}"

    def _chroma(self) -> str:
        return "444" if self.encoder == "vtm" else "420"

    def command_line(self) -> str:
        enc = self._encode_cmd("in.yuv", "out.bin", "W", "H", "P")
        enc = [a.replace(str(vvc_dir()), ".vvc") for a in enc]
        dec = ["DecoderAppStatic", "-b", "out.bin", "-o", "dec.yuv", "-d",
               "10"] if self.decoder == "vtm" else \
            ["vvdecapp", "-b", "out.bin", "-o", "dec.yuv", "-t", "1"]
        return " ".join(enc) + "  |  " + " ".join(dec)

    def _encode_cmd(self, yuv: str, out: str, w: int, h: int,
                    qp: int) -> list[str]:
        common = ["-i", yuv, "-b", out, "-o", "/dev/null", "-fr", "1",
                  "-f", "1", "-q", str(qp), "--InputBitDepth=10",
                  "--OutputBitDepth=10"]
        if self.encoder == "vtm":
            cfg = vvc_dir() / "vtm-cfg"
            return [str(self._bin("EncoderAppStatic")),
                    "-c", str(cfg / "encoder_intra_vtm.cfg"),
                    "-c", str(cfg / "444" / "yuv444.cfg"),
                    "-wdt", str(w), "-hgt", str(h), *common,
                    "--InternalBitDepth=10", "--InputChromaFormat=444",
                    "--ChromaFormatIDC=444"]
        return [str(self._bin("vvencFFapp")), "--preset", self.preset,
                "-s", f"{w}x{h}", *common, "--InputChromaFormat=420",
                "--IntraPeriod=1", "--PerceptQPA=0", "--IntraQPOffset=0",
                "--Threads=1"]

    def encode(self, img: np.ndarray, p: int) -> bytes:
        h0, w0 = img.shape[:2]
        a = self.ALIGN
        img = np.pad(img, ((0, -h0 % a), (0, -w0 % a), (0, 0)), "edge")
        h, w = img.shape[:2]
        planes = rgb_to_ycbcr10(img)
        if self._chroma() == "420":
            planes = _chroma_420(planes)
        raw = b"".join(pl.astype("<u2").tobytes() for pl in planes)
        with tempfile.TemporaryDirectory(prefix="lic-vvc-") as tmp:
            yuv, out = f"{tmp}/in.yuv", f"{tmp}/out.bin"
            with open(yuv, "wb") as f:
                f.write(raw)
            _run(self._encode_cmd(yuv, out, w, h, p), b"",
                 f"VVC encoder ({self.encoder})", cwd=tmp)
            with open(out, "rb") as f:
                return f.read()

    def decode(self, data: bytes, shape: tuple[int, int]) -> np.ndarray:
        a = self.ALIGN
        h, w = (s + (-s % a) for s in shape)
        with tempfile.TemporaryDirectory(prefix="lic-vvc-") as tmp:
            bits, yuv = f"{tmp}/in.bin", f"{tmp}/out.yuv"
            with open(bits, "wb") as f:
                f.write(data)
            if self.decoder == "vtm":
                cmd = [str(self._bin("DecoderAppStatic")), "-b", bits,
                       "-o", yuv, "-d", "10"]
            else:
                cmd = [str(self._bin("vvdecapp")), "-b", bits, "-o", yuv,
                       "-t", "1"]
            _run(cmd, b"", f"VVC decoder ({self.decoder})", cwd=tmp)
            samples = np.fromfile(yuv, dtype="<u2")
        ch, cw = (h, w) if self._chroma() == "444" else (h // 2, w // 2)
        if samples.size != h * w + 2 * ch * cw:
            raise RuntimeError(f"VVC decoder returned {samples.size} samples,"
                               f" expected {h * w + 2 * ch * cw}")
        y = samples[:h * w].reshape(h, w)
        cb = samples[h * w:h * w + ch * cw].reshape(ch, cw)
        cr = samples[h * w + ch * cw:].reshape(ch, cw)
        planes = np.stack([y, cb, cr]) if ch == h else _chroma_444(y, cb, cr)
        return ycbcr10_to_rgb(planes)[:shape[0], :shape[1]]


def _run(cmd: list[str], stdin: bytes, what: str, cwd: str | None = None
         ) -> bytes:
    # Every child gets its own stdin (``input=``, a pipe), never the
    # caller's: an encoder that inherits a Jupyter kernel's stdin while it
    # runs inside a widget callback makes nbclient lose the cell's reply.
    proc = subprocess.run(cmd, input=stdin, capture_output=True,
                          timeout=3600, cwd=cwd)
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
