"""The factorized, scale and mean-scale models, coding portably.

Introduced in the chapters {ref}`chap-vae-codec` and
{ref}`chap-hyperprior`.  These are CompressAI's classes with the same
layers, state dicts and training pass; only ``compress`` and
``decompress`` change: they run inside :func:`~lic_lib.models.exact.coding`,
so the hyper-synthesis computes means and scales on integers
(:mod:`lic_lib.models.exact`), and ``decompress`` also returns the decoded
latent ``y_hat`` (what the conformance streams hash).  The strings are
CompressAI's: ŷ, then ẑ.
"""

from __future__ import annotations

import torch
from compressai.models import FactorizedPrior as _Factorized
from compressai.models import MeanScaleHyperprior as _MeanScale
from compressai.models import ScaleHyperprior as _Scale

from .exact import coding, make_exact

__all__ = ["FactorizedPrior", "ScaleHyperprior", "MeanScaleHyperprior"]


class FactorizedPrior(_Factorized):
    """Ballé et al. (2017): ŷ coded with the learned factorized density."""

    def compress(self, x: torch.Tensor) -> dict:
        y = self.g_a(x)
        return {"strings": [self.entropy_bottleneck.compress(y)],
                "shape": y.shape[-2:]}

    def decompress(self, strings: list, shape) -> dict:
        y_hat = self.entropy_bottleneck.decompress(strings[0], shape)
        return {"x_hat": self.g_s(y_hat).clamp_(0, 1), "y_hat": y_hat}


class ScaleHyperprior(_Scale):
    """Ballé et al. (2018): a scale per element of ŷ from ẑ."""

    def __init__(self, N: int, M: int, **kwargs):
        super().__init__(N=N, M=M, **kwargs)
        make_exact(self.h_s)         # integers when coding

    def _gaussian_params(self, z_hat: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(scales, means) of ŷ from ẑ; no means in this model."""
        return self.h_s(z_hat), None

    def _latent(self, y: torch.Tensor) -> torch.Tensor:
        """What ``h_a`` reads (the scale model takes |y|)."""
        return torch.abs(y)

    @coding()            # h_s on integers: the decoder's bits
    def compress(self, x: torch.Tensor) -> dict:
        y = self.g_a(x)
        z = self.h_a(self._latent(y))
        eb, gc = self.entropy_bottleneck, self.gaussian_conditional
        z_strings = eb.compress(z)
        z_hat = eb.decompress(z_strings, z.shape[-2:])
        scales, means = self._gaussian_params(z_hat)
        indexes = gc.build_indexes(scales)
        return {"strings": [gc.compress(y, indexes, means=means), z_strings],
                "shape": z.shape[-2:],
                "y_hat": gc.quantize(y, "dequantize", means)}

    @coding()
    def decompress(self, strings: list, shape) -> dict:
        gc = self.gaussian_conditional
        z_hat = self.entropy_bottleneck.decompress(strings[1], shape)
        scales, means = self._gaussian_params(z_hat)
        indexes = gc.build_indexes(scales)
        y_hat = gc.decompress(strings[0], indexes, z_hat.dtype, means)
        return {"x_hat": self.g_s(y_hat).clamp_(0, 1), "y_hat": y_hat}


class MeanScaleHyperprior(ScaleHyperprior, _MeanScale):
    """Minnen et al. (2018): a mean and a scale per element of ŷ from ẑ
    (CompressAI's layers and training pass, this module's coding)."""

    def _gaussian_params(self, z_hat: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        scales, means = self.h_s(z_hat).chunk(2, 1)
        return scales, means

    def _latent(self, y: torch.Tensor) -> torch.Tensor:
        return y
