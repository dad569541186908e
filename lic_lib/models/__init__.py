"""The learned codecs of the book, by CompressAI registry name.

Introduced in the chapters {ref}`chap-vae-codec` and
{ref}`chap-hyperprior`.  The baselines are CompressAI's layers and
training passes; their coding is this package's: every network that
computes entropy parameters computes them on integers when coding
(:mod:`lic_lib.models.exact`), so that a file decodes to the encoder's
latents on any machine, and ``build_model`` gives every model the entropy
models of :mod:`lic_lib.models.entropy` (CompressAI's, with the same
tables, coded by the coder a file names):

=========================  ==============================================
``bmshj2018-factorized``   factorized prior (Ballé et al. 2017)
``bmshj2018-hyperprior``   scale hyperprior (Ballé et al. 2018)
``mbt2018-mean``           mean-scale hyperprior (Minnen et al. 2018)
``mbt2018``                joint autoregressive + hyperprior (Minnen 2018)
``checkerboard``           checkerboard context (He et al. 2021), 2 steps
``msp-fast``, ``msp-bal…``  the MSP models of ``MSP_MODELS`` (S=1; K=1, 4)
``pms-base``, ``-extra``   the authors' progressive multi-scale model
=========================  ==============================================

All models of the book share one width setting (N, M) so that RD
differences come from the probability models, not from capacity.
"""

from __future__ import annotations

import functools
import re
import warnings
from typing import Callable

import torch

with warnings.catch_warnings():
    # compressai → torch_geometric warns that torch.jit.script is deprecated
    warnings.filterwarnings("ignore", message=".*torch.jit.script.*",
                            category=FutureWarning)
    from compressai.losses import RateDistortionLoss
    from compressai.models import CompressionModel
    from .autoregressive import JointAutoregressive
    from .hyperprior import (FactorizedPrior, MeanScaleHyperprior,
                             ScaleHyperprior)
    from .entropy import EntropyBottleneck, GaussianConditional

__all__ = ["MODELS", "BASELINES", "CONTEXT_MODELS", "build_model",
           "DEFAULT_N", "DEFAULT_M", "CompressionModel", "RateDistortionLoss"]

#: Widths shared by every model of the book (see the VAE chapter for why).
DEFAULT_N, DEFAULT_M = 64, 96

MODELS: dict[str, Callable[..., CompressionModel]] = {
    "bmshj2018-factorized": FactorizedPrior,
    "bmshj2018-hyperprior": ScaleHyperprior,
    "mbt2018-mean": MeanScaleHyperprior,
    "mbt2018": JointAutoregressive,
}
from .msp import MSP, MSP_MODELS, Checkerboard  # noqa: E402 (needs the above)
from .pms import PMS, PMS_PROFILES  # noqa: E402

MODELS["checkerboard"] = Checkerboard
MODELS.update({name: functools.partial(MSP, **kw)
               for name, kw in MSP_MODELS.items()})
MODELS.update({name: functools.partial(PMS, profile=p)
               for name, p in PMS_PROFILES.items()})

#: The four baselines of the paper's comparison, simplest first.
BASELINES = ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean",
             "mbt2018")

#: Context models compared on the mean-scale model's frozen transforms
#: (chapter on the MSP model): they add only a probability model to it.
CONTEXT_MODELS = ("checkerboard", *MSP_MODELS)


def build_model(name: str, N: int = DEFAULT_N,
                M: int = DEFAULT_M) -> CompressionModel:
    """A freshly initialised model ``name`` with widths (N, M).

    Besides the registry, ``msp-s<S>k<K>`` names the MSP model with S
    scales and K channel groups, optionally followed by ``-<k>x<k>`` (the
    heads' context kernel) and ``-w<C>`` (its width): the ablations of the
    MSP chapter.
    """
    if m := re.fullmatch(r"msp-s(\d)k(\d)(?:-(\d)x\3)?(?:-w(\d+))?", name):
        return _for_coding(MSP(
            N=N, M=M, scales=int(m[1]), groups=int(m[2]),
            kernel=int(m[3] or 5), width=int(m[4] or 32)))
    try:
        cls = MODELS[name]
    except KeyError:
        raise ValueError(f"unknown model {name!r}; choose one of "
                         f"{', '.join(MODELS)} or msp-s<S>k<K>[-<k>x<k>][-w<C>]") from None
    return _for_coding(cls(N=N, M=M))


def _for_coding(net: CompressionModel) -> CompressionModel:
    """``net`` with the entropy models of :mod:`lic_lib.models.entropy`
    (CompressAI's, coded by either coder).  The models' constructors
    already made their entropy-parameter networks exact
    (:func:`~lic_lib.models.exact.make_exact`)."""
    if hasattr(net, "gaussian_conditional"):
        net.gaussian_conditional = GaussianConditional(None)
    eb = net.entropy_bottleneck
    if not isinstance(eb, EntropyBottleneck):
        with torch.random.fork_rng(devices=[]):   # seeded runs stay the same
            new = EntropyBottleneck(eb.channels, tail_mass=eb.tail_mass,
                                    init_scale=eb.init_scale,
                                    filters=eb.filters)
        new.load_state_dict(eb.state_dict())      # the same initial weights
        net.entropy_bottleneck = new
    return net
