"""Entropy parameters that do not depend on the process's thread setting.

The decoder must compute the very same means and scales as the encoder:
one scale that falls on the other side of a boundary of the scale table
gives another CDF, and rANS decodes garbage from there on.  PyTorch's CPU
convolutions do not promise that across thread counts: for some shapes
they split the work differently and round differently in the last bit.
Measured on this machine with the shipped checkpoints: a Kodak image
(768×512) coded with 2 threads and decoded with 1 gave latents that differ
for every mean-scale model (the hyper-synthesis' means, by ≈ 1e-5), and
for ``msp-balanced`` on ``kodim01`` a wrong index that corrupted the rest
of a unit.

So the networks that compute entropy parameters — the hyper-synthesis
``h_s``, the AR model's context loop, the MSP heads — always run with
:data:`CODING_THREADS` threads when a model codes, whatever
``torch.get_num_threads()`` says; the transforms ``g_a``/``g_s`` use the
process's setting.  With a fixed count the work is split the same way at
every run, so a file decodes to the encoder's latents with any thread
setting on the same kind of CPU.  (Across devices or CPU families the
floats can still differ; integer networks — Ballé et al. 2019 — are the
general cure, beyond this book.)  The count is 2, the cores of the
machine this book was built on: one thread would be just as
deterministic, but it makes MSP's heads, which are real arithmetic at 2K,
1.8× slower there.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn

__all__ = ["CODING_THREADS", "coding_threads", "FixedThreadsWhenCoding",
           "pin_entropy_parameters"]

#: Intra-op threads of every entropy-parameter computation when coding.
CODING_THREADS = 2


@contextmanager
def coding_threads() -> Iterator[None]:
    """Run the block with :data:`CODING_THREADS` intra-op threads, then
    restore the process's setting."""
    n = torch.get_num_threads()
    torch.set_num_threads(CODING_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(n)


class FixedThreadsWhenCoding(nn.Sequential):
    """An ``nn.Sequential`` that runs with :data:`CODING_THREADS` threads
    in eval mode (coding, evaluation) and with the process's setting in
    training, where the encoder and decoder are not involved."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            return super().forward(x)
        with coding_threads():
            return super().forward(x)


def pin_entropy_parameters(net: nn.Module) -> nn.Module:
    """``net`` whose hyper-synthesis runs as
    :class:`FixedThreadsWhenCoding`: the same layers under the same names,
    so state dicts are unchanged."""
    h_s = getattr(net, "h_s", None)
    if isinstance(h_s, nn.Sequential) and \
            not isinstance(h_s, FixedThreadsWhenCoding):
        net.h_s = FixedThreadsWhenCoding(*h_s)
    return net
