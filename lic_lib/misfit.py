"""Where a mean-scale hyperprior's predictions miss, and what that costs.

Introduced in the chapter {ref}`chap-hyperprior`.  The mean-scale model
codes each latent element ŷ with a Gaussian of mean μ and scale σ that
its hyper-synthesis h_s predicts from ẑ.  Where h_s meets a ẑ unlike any
it was trained on, nothing bounds what it predicts: μ can land far from
y with σ at its lower bound, and every such element costs tens of bits.
:func:`rate_split` separates those *surprises* from the rest of the rate.
"""

from __future__ import annotations

import torch

from .codec import pad_to

__all__ = ["SURPRISE", "rate_split"]

#: An element is a surprise when |y − μ| exceeds this many σ, where its
#: own Gaussian puts a mass of 2·10⁻⁹ (both tails): once rounded, it costs
#: from about 5 bits (σ ≈ 0.25, the miss rounding to one step) to tens.
SURPRISE = 6.0


@torch.no_grad()
def rate_split(net, x: torch.Tensor) -> dict[str, float]:
    """Estimated bits per pixel of a mean-scale model on image ``x``
    (1×3×h×w in [0, 1]), from its likelihoods with rounding, as coded:

    ``bpp``: ŷ and ẑ together; ``bpp_z``: ẑ alone; ``bpp_surprise``: the
    ŷ elements with |y − μ| > :data:`SURPRISE` σ; ``surprise_share``: the
    fraction of ŷ elements that are surprises; ``max_miss``: the largest
    |y − μ| (in quantisation steps).
    """
    h, w = x.shape[-2:]
    x = pad_to(x, int(net.downsampling_factor))
    y = net.g_a(x)
    z = net.h_a(y)
    z_hat, z_lik = net.entropy_bottleneck(z, training=False)
    scales, means = net.h_s(z_hat).chunk(2, 1)
    _, y_lik = net.gaussian_conditional(y, scales, means=means,
                                        training=False)
    sigma = net.gaussian_conditional.lower_bound_scale(scales)
    miss = (y - means).abs()
    surprise = miss > SURPRISE * sigma
    bits_y = -torch.log2(y_lik)
    pixels = h * w
    return {"bpp": float(bits_y.sum() - torch.log2(z_lik).sum()) / pixels,
            "bpp_z": float(-torch.log2(z_lik).sum()) / pixels,
            "bpp_surprise": float(bits_y[surprise].sum()) / pixels,
            "surprise_share": float(surprise.float().mean()),
            "max_miss": float(miss.max())}
