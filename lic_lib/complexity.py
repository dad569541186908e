"""Decoding complexity: sequential steps, and decode time split in two.

Introduced in the chapter {ref}`chap-hyperprior`.

The number of *sequential entropy-decoding steps* — decoder calls that
must wait for the previous one — is the hardware-independent measure of
the paper's O(1) vs O(n) claim.  Wall time is measured side by side, with
warm-up and the median of repeats, and split into entropy decoding
(bitstream → latents: hyper-synthesis, context models, rANS) and
synthesis (latents → image, ``g_s``).
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch

from .codec import decode_image, encode_image

__all__ = ["sequential_steps", "DecodeTiming", "time_decode"]


def sequential_steps(model_name: str, height: int, width: int) -> int:
    """Sequential entropy-decoding steps for an H×W image.

    * factorized prior: 1 (all of ŷ at once);
    * scale / mean-scale hyperprior: 2 (ẑ, then all of ŷ);
    * joint autoregressive: 1 + (number of latent positions): ẑ, then one
      raster-scan step per position of ŷ (all channels of a position are
      decoded together);
    * checkerboard and MSP: their ``decode_steps``, 1 + number of units,
      the same for every size.
    """
    hy, wy = -(-height // 64) * 4, -(-width // 64) * 4      # ŷ, padded
    steps = {"bmshj2018-factorized": 1, "bmshj2018-hyperprior": 2,
             "mbt2018-mean": 2, "mbt2018": 1 + hy * wy}
    if model_name in steps:
        return steps[model_name]
    from .models import build_model
    try:
        net = build_model(model_name, 8, 8)     # widths do not matter
    except ValueError:
        raise ValueError(f"no step count for model {model_name!r}") from None
    return net.decode_steps(height, width)


@dataclass
class DecodeTiming:
    """Median decode times in seconds (and what they were measured on)."""

    total: float
    synthesis: float
    repeats: int
    device: str

    @property
    def entropy(self) -> float:
        """Bitstream → latents: everything but the synthesis transform."""
        return self.total - self.synthesis


def time_decode(model, img: np.ndarray, model_name: str, repeats: int = 3,
                warmup: int = 1) -> DecodeTiming:
    """Encode ``img`` once, then time its decoding ``repeats`` times."""
    data = encode_image(model, img, model_name)
    device = next(model.parameters()).device
    g_s_time = []
    start = {}

    def before(*_):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start["t"] = time.perf_counter()

    def after(*_):
        if device.type == "cuda":
            torch.cuda.synchronize()
        g_s_time.append(time.perf_counter() - start["t"])

    hooks = [model.g_s.register_forward_pre_hook(before),
             model.g_s.register_forward_hook(after)]
    totals = []
    try:
        for i in range(warmup + repeats):
            t = time.perf_counter()
            decode_image(model, data, model_name)
            if device.type == "cuda":
                torch.cuda.synchronize()
            totals.append(time.perf_counter() - t)
    finally:
        for h in hooks:
            h.remove()
    return DecodeTiming(statistics.median(totals[warmup:]),
                        statistics.median(g_s_time[warmup:]), repeats,
                        str(device))
