"""Entropy parameters that do not depend on the number of CPU threads.

The decoder must compute the very same means and scales as the encoder:
one scale that falls on the other side of a boundary of the scale table
gives another CDF, and rANS decodes garbage from there on.  PyTorch's CPU
convolutions do not promise that with different thread counts: for some
shapes they split the work differently and round differently in the last
bit.  Measured on this machine with the shipped checkpoints: a Kodak image
(768×512) coded with 2 threads and decoded with 1 gave latents that differ
for every mean-scale model (the hyper-synthesis' means, by ≈ 1e-5), and
for ``msp-balanced`` on ``kodim01`` a wrong index that corrupted the rest
of a unit.

So the networks that compute entropy parameters — the hyper-synthesis
``h_s``, the AR model's context loop, the MSP heads — run on one thread
whenever a model codes, whatever ``torch.get_num_threads()`` says; the
transforms ``g_a``/``g_s`` keep every thread.  These networks are small
and work on the latent's resolution (1/16 of the image's side), where a
second thread buys little.  A file then decodes to the same latents with
any thread count on the same kind of CPU.  (Across devices or CPU
families the floats can still differ; integer networks — Ballé et al.
2019 — are the general cure, beyond this book.)
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

__all__ = ["one_thread", "OneThreadWhenCoding", "pin_entropy_parameters"]


@contextmanager
def one_thread() -> Iterator[None]:
    """Run the block on one intra-op thread, then restore the setting."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


class OneThreadWhenCoding(nn.Sequential):
    """An ``nn.Sequential`` that runs on one thread in eval mode (coding,
    evaluation) and on all of them in training, where speed matters and
    the encoder and decoder are not involved."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return super().forward(x)
        with one_thread():
            return super().forward(x)


def pin_entropy_parameters(net: nn.Module) -> nn.Module:
    """``net`` whose hyper-synthesis runs as :class:`OneThreadWhenCoding`:
    the same layers under the same names, so state dicts are unchanged."""
    h_s = getattr(net, "h_s", None)
    if isinstance(h_s, nn.Sequential) and \
            not isinstance(h_s, OneThreadWhenCoding):
        net.h_s = OneThreadWhenCoding(*h_s)
    return net
