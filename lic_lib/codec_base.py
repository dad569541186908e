"""What every classical codec wrapper is: one integer rate parameter,
``encode`` to real bytes, ``decode`` back, timed by :meth:`Codec.code`.

The wrappers themselves live in :mod:`lic_lib.classic` (the Pillow image
codecs and the registry) and :mod:`lic_lib.video_intra` (HEVC and VVC
intra through external binaries).
"""

from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field

import numpy as np

from .metrics import bpp as _bpp

__all__ = ["Codec", "CodecUnavailable", "Coded", "run_tool"]


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


def run_tool(cmd: list[str], stdin: bytes, what: str, cwd: str | None = None
              ) -> bytes:
    """Run an external codec binary on ``stdin`` and return its stdout;
    a non-zero exit becomes a RuntimeError naming ``what``."""
    # Every child gets its own stdin (``input=``, a pipe), never the
    # caller's: an encoder that inherits a Jupyter kernel's stdin while it
    # runs inside a widget callback makes nbclient lose the cell's reply.
    proc = subprocess.run(cmd, input=stdin, capture_output=True,
                          timeout=3600, cwd=cwd)
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed ({' '.join(cmd[:3])}...): "
                           f"{proc.stderr.decode(errors='replace')[-500:]}")
    return proc.stdout
