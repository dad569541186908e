"""Which latent positions each decoding step of the MSP model holds.

The schedule of :mod:`lic_lib.models.msp` (its docstring explains the
polyphase pyramid and the two orders): a list of :class:`Unit` — positions
that tile the latent with period 2^S, times a channel group — in decoding
order, and the boolean maps of those positions on a latent of any size.
Kept apart from the networks so that the order can be read, tested and
drawn without building a model.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import torch

__all__ = ["Unit", "schedule", "positions"]


@dataclass(frozen=True)
class Unit:
    """One sequential decoding step: positions × a channel group."""

    scale: int                               # S = coarsest, 0 = finest
    offsets: tuple[tuple[int, int], ...]     # (row, col) within a period
    group: int                               # channel group index


def _component(s: int, di: int, dj: int, period: int
               ) -> tuple[tuple[int, int], ...]:
    """Offsets of polyphase component (di, dj) of scale s in a period."""
    r = 2 ** s
    return tuple((a, b) for a in range(period) for b in range(period)
                 if a % (2 * r) == di * r and b % (2 * r) == dj * r)


def schedule(scales: int, groups: int = 1, order: str = "checkerboard"
             ) -> list[Unit]:
    """The decoding units in decoding order (:mod:`lic_lib.models.msp`)."""
    if scales < 1 or groups < 1:
        raise ValueError("scales and groups must be ≥ 1")
    period = 2 ** scales
    if order == "he2021":
        if scales != 1:
            raise ValueError("the He et al. checkerboard has one scale")
        steps = [(1, ((0, 0), (1, 1))), (0, ((0, 1), (1, 0)))]
    elif order in ("polyphase", "checkerboard"):
        steps = [(scales, ((0, 0),))]
        for s in reversed(range(scales)):
            diag, row, col = (_component(s, 1, 1, period),
                              _component(s, 0, 1, period),
                              _component(s, 1, 0, period))
            steps += [(s, diag), (s, row), (s, col)] if order == \
                "polyphase" else [(s, diag), (s, row + col)]
    else:
        raise ValueError(f"unknown order {order!r}; choose polyphase, "
                         "checkerboard or he2021")
    return [Unit(s, offs, g) for s, offs in steps for g in range(groups)]


@lru_cache(maxsize=256)
def positions(offsets: frozenset[tuple[int, int]], period: int, h: int,
              w: int, device: str) -> torch.Tensor:
    """A boolean h×w map of the positions ``offsets`` tile, on ``device``
    (cached: training and coding ask for the same maps at every call)."""
    tile = torch.zeros(period, period, dtype=torch.bool)
    for a, b in offsets:
        tile[a, b] = True
    return tile.repeat(-(-h // period), -(-w // period))[:h, :w].to(device)
