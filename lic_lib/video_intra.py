"""HEVC and VVC intra, the video codecs' still-image modes, run through
external binaries on 10-bit full-range BT.709 Y'CbCr.

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
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from .codec_base import Codec, run_tool

__all__ = ["HEVC", "VVC", "rgb_to_ycbcr10", "ycbcr10_to_rgb", "chroma_420",
           "chroma_444", "vvc_dir"]


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
        return run_tool(cmd, raw, "HEVC encoder")

    def decode(self, data: bytes, shape: tuple[int, int]) -> np.ndarray:
        h, w = (max(s, self.MIN_SIDE) for s in shape)
        cmd = ["ffmpeg", "-nostdin", "-hide_banner", "-loglevel", "error",
               "-f", "hevc", "-i", "-", "-f", "rawvideo", "-pix_fmt", "yuv444p10le", "-"]
        out = run_tool(cmd, data, "HEVC decoder")
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


def vvc_dir() -> Path:
    """Where ``make vvc`` put the VVC binaries (``$LIC_VVC_DIR`` overrides)."""
    from .config import ROOT
    env = os.environ.get("LIC_VVC_DIR")
    return Path(env).expanduser() if env else ROOT / ".vvc"


def chroma_420(planes: np.ndarray) -> list[np.ndarray]:
    """Y, Cb, Cr with Cb and Cr box-filtered to half size (even H, W)."""
    c = planes[1:].astype(np.float64)
    c = c.reshape(2, c.shape[1] // 2, 2, c.shape[2] // 2, 2).mean(axis=(2, 4))
    return [planes[0], *np.clip(np.rint(c), 0, 1023).astype(np.uint16)]


def chroma_444(y: np.ndarray, cb: np.ndarray, cr: np.ndarray) -> np.ndarray:
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

    def _bin(self, name: str) -> Path:
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
            planes = chroma_420(planes)
        raw = b"".join(pl.astype("<u2").tobytes() for pl in planes)
        with tempfile.TemporaryDirectory(prefix="lic-vvc-") as tmp:
            yuv, out = f"{tmp}/in.yuv", f"{tmp}/out.bin"
            with open(yuv, "wb") as f:
                f.write(raw)
            run_tool(self._encode_cmd(yuv, out, w, h, p), b"",
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
            run_tool(cmd, b"", f"VVC decoder ({self.decoder})", cwd=tmp)
            samples = np.fromfile(yuv, dtype="<u2")
        ch, cw = (h, w) if self._chroma() == "444" else (h // 2, w // 2)
        if samples.size != h * w + 2 * ch * cw:
            raise RuntimeError(f"VVC decoder returned {samples.size} samples,"
                               f" expected {h * w + 2 * ch * cw}")
        y = samples[:h * w].reshape(h, w)
        cb = samples[h * w:h * w + ch * cw].reshape(ch, cw)
        cr = samples[h * w + ch * cw:].reshape(ch, cw)
        planes = np.stack([y, cb, cr]) if ch == h else chroma_444(y, cb, cr)
        return ycbcr10_to_rgb(planes)[:shape[0], :shape[1]]
