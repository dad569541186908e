"""Quality and rate metrics, computed one way for the whole book.

Introduced in the chapter {ref}`chap-images-metrics-codecs`.

* PSNR is measured on 8-bit RGB (both images rounded to uint8 first, as a
  decoder would write them), over all three channels, per image; a dataset
  score is the mean of the per-image values, as CompressAI's ``eval_model``
  reports it.
* MS-SSIM (Wang et al. 2003) on RGB in [0, 1], through ``pytorch_msssim``
  (a CompressAI dependency); ``ms_ssim_db`` is −10·log10(1 − MS-SSIM).
* bpp is 8 × (bytes actually written) / (pixels): the whole file counts,
  headers included, never an entropy estimate.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

__all__ = ["to_uint8", "mse", "psnr", "ms_ssim", "ms_ssim_db", "bpp",
           "file_bpp", "rd_quality", "MS_SSIM_MIN_SIDE"]

#: MS-SSIM with 5 scales and an 11-tap window needs sides > (11 − 1)·2⁴.
MS_SSIM_MIN_SIDE = 161


def to_uint8(img: np.ndarray | torch.Tensor) -> np.ndarray:
    """Any image to H×W×3 uint8.

    Accepts uint8 arrays as they are, float arrays/tensors in [0, 1]
    (H×W×3, 3×H×W or 1×3×H×W) rounded to the nearest 8-bit value.
    """
    if isinstance(img, torch.Tensor):
        t = img.detach().float().cpu()
        if t.dim() == 4:
            if t.shape[0] != 1:
                raise ValueError(f"expected a single image, got {tuple(t.shape)}")
            t = t[0]
        if t.dim() != 3 or t.shape[0] != 3:
            raise ValueError(f"expected 3×H×W, got {tuple(t.shape)}")
        img = t.permute(1, 2, 0).numpy()
    a = np.asarray(img)
    if a.ndim != 3 or a.shape[2] != 3:
        raise ValueError(f"expected H×W×3 RGB, got shape {a.shape}")
    if a.dtype == np.uint8:
        return a
    return np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)


def mse(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    """Mean squared error between two images on the 8-bit scale."""
    x, y = to_uint8(a), to_uint8(b)
    if x.shape != y.shape:
        raise ValueError(f"image shapes differ: {x.shape} vs {y.shape}")
    d = x.astype(np.float64) - y.astype(np.float64)
    return float(np.mean(d * d))


def psnr(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    """PSNR in dB on 8-bit RGB; ``inf`` for identical images."""
    m = mse(a, b)
    return math.inf if m == 0 else 10.0 * math.log10(255.0 ** 2 / m)


def _as_batch(img: np.ndarray | torch.Tensor) -> torch.Tensor:
    a = np.array(to_uint8(img))          # a writable copy for torch
    return torch.from_numpy(a).permute(2, 0, 1)[None].double() / 255.0


def ms_ssim(a: np.ndarray | torch.Tensor, b: np.ndarray | torch.Tensor) -> float:
    """MS-SSIM on 8-bit RGB scaled to [0, 1] (1.0 for identical images)."""
    from pytorch_msssim import ms_ssim as _ms_ssim

    x, y = _as_batch(a), _as_batch(b)
    if x.shape != y.shape:
        raise ValueError(f"image shapes differ: {tuple(x.shape)} vs "
                         f"{tuple(y.shape)}")
    if min(x.shape[-2:]) < MS_SSIM_MIN_SIDE:
        raise ValueError(f"MS-SSIM needs both sides ≥ {MS_SSIM_MIN_SIDE} px, "
                         f"got {tuple(x.shape[-2:])}")
    return float(_ms_ssim(x, y, data_range=1.0))


def ms_ssim_db(value: float | np.ndarray) -> float | np.ndarray:
    """MS-SSIM in dB, −10·log10(1 − MS-SSIM): spreads values near 1."""
    v = np.asarray(value, dtype=np.float64)
    with np.errstate(divide="ignore"):
        out = -10.0 * np.log10(1.0 - v)
    return float(out) if out.ndim == 0 else out


def bpp(num_bytes: int, height: int, width: int) -> float:
    """Bits per pixel of a file of ``num_bytes`` bytes for an H×W image."""
    if height <= 0 or width <= 0:
        raise ValueError(f"image size must be positive, got {height}×{width}")
    return 8.0 * num_bytes / (height * width)


def file_bpp(path: str | Path, height: int, width: int) -> float:
    """bpp of a file on disk: its size in bytes is what counts."""
    return bpp(Path(path).stat().st_size, height, width)


def rd_quality(results: dict, metric: str) -> np.ndarray:
    """The quality column ``metric`` of a CompressAI-schema ``results`` dict.

    ``metric`` is a key of ``results`` (``psnr-rgb``, ``ms-ssim-rgb``) or
    ``ms-ssim-db``, computed from ``ms-ssim-rgb``.
    """
    if metric == "ms-ssim-db":
        return np.asarray(ms_ssim_db(np.asarray(results["ms-ssim-rgb"])))
    return np.asarray(results[metric], dtype=np.float64)
