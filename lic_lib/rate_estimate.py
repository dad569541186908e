"""Rate and PSNR estimated from a model's likelihoods, without coding.

Used to monitor training and to ask whether a model spends the same bits
per pixel on tiles of any size; reported results always come from real
bitstreams (:mod:`lic_lib.evaluate`).
"""

from __future__ import annotations

import torch

from .models import CompressionModel

__all__ = ["evaluate_likelihood_rd", "rate_on_tiles"]


@torch.no_grad()
def evaluate_likelihood_rd(model: CompressionModel,
                           images: list[torch.Tensor]) -> dict[str, float]:
    """Mean bpp (from likelihoods, rounded latents) and PSNR over images.

    Images must have sides divisible by 64.  This is the *estimate* used to
    monitor training; reported results always come from real bitstreams.
    """
    modes = {m: m.training for m in model.modules()}
    model.eval()
    bpp, psnr = [], []
    for x in images:
        out = model(x[None])
        n_px = x.shape[-1] * x.shape[-2]
        bpp.append(float(sum(-torch.log2(l).sum()
                             for l in out["likelihoods"].values()) / n_px))
        mse = torch.mean((out["x_hat"].clamp(0, 1) - x[None]) ** 2)
        psnr.append(float(10 * torch.log10(1 / mse)))
    for m, training in modes.items():
        m.train(training)
    return {"bpp": sum(bpp) / len(bpp), "psnr": sum(psnr) / len(psnr)}


def rate_on_tiles(model: CompressionModel, images: list[torch.Tensor],
                  sizes: tuple[int, ...] = (128, 256, 512)
                  ) -> dict[int, float]:
    """Estimated bpp of ``model`` on the size×size tiles of ``images``
    (C×H×W, cut row by row; the rest of each image is dropped), per size.

    A model trained on crops of one size should spend about the same bits
    per pixel on tiles of any size; a rate that grows with the tile means
    it learned something that only holds near the borders of its crops.
    """
    def tiles(x: torch.Tensor, n: int) -> list[torch.Tensor]:
        h, w = x.shape[-2:]
        return [x[:, i:i + n, j:j + n] for i in range(0, h - n + 1, n)
                for j in range(0, w - n + 1, n)]
    with torch.no_grad():
        return {n: evaluate_likelihood_rd(
            model, [t for x in images for t in tiles(x, n)])["bpp"]
            for n in sizes}
