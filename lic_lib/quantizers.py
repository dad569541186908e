"""Differentiable stand-ins for rounding, shared by training and LOF.

Introduced in the chapter {ref}`chap-vae-codec` (straight-through
training) and used again by latent overfitting ({ref}`chap-lof`).  The
module depends on nothing else of ``lic_lib``, so that :mod:`lic_lib.train`
and :mod:`lic_lib.lof` can both use it without importing each other.
"""

from __future__ import annotations

import contextlib
import functools
from typing import Callable, Iterator

import torch
from torch import nn

__all__ = ["straight_through_round", "ste_quantization"]


def straight_through_round(r: torch.Tensor) -> torch.Tensor:
    """round(r) forward, the identity backward."""
    return r + (torch.round(r) - r).detach()


def _surrogate_quantize(inputs, mode, means=None, _original=None,
                        _when=None, _round=None):
    if mode != "noise" or not _when():
        return _original(inputs, mode, means)
    r = inputs if means is None else inputs - means
    r = _round(r)
    return r if means is None else r + means


@contextlib.contextmanager
def ste_quantization(model: nn.Module, when: Callable[[], bool]
                     = lambda: True,
                     rounding: Callable[[torch.Tensor], torch.Tensor]
                     = straight_through_round) -> Iterator[None]:
    """Train with real rounding and straight-through gradients.

    While ``when()`` is true, CompressAI's entropy models round where they
    would add uniform noise in training mode, and the gradient passes
    through the rounding as if it were the identity.  Rate and distortion
    then see the values the coder will code, and the rate still sees the
    predicted means (ŷ − μ is rounded with gradient −1 with respect to μ).
    ``rounding`` (applied to y − μ) swaps in another differentiable
    surrogate, e.g. the annealed soft rounding of latent overfitting.
    """
    patched = []
    for m in model.modules():
        if hasattr(m, "likelihood_lower_bound"):       # entropy models
            m.quantize = functools.partial(
                _surrogate_quantize, _original=m.quantize, _when=when,
                _round=rounding)
            patched.append(m)
    try:
        yield
    finally:
        for m in patched:
            del m.quantize
