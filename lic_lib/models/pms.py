"""The authors' progressive multi-scale (PMS) probability model.

Introduced in the chapter {ref}`chap-msp`.  The paper's body is not
available; its authors' own public implementation of the model is (the
learned intra codec of MPEG's VCM reference software, class
``E2EModelPMS``).  ``MSP_AUTHORS.md`` restates what that code does; this
module builds that design in our own code (none of theirs is copied):

* **No hyperprior.**  The latent's own pyramid is the prior: scale s+1 is
  the odd–odd sub-lattice of scale s, ``y[s+1] = y[s][..., 1::2, 1::2]``,
  so the coarser scales cost no extra bits — they *are* latent values.
* The coarsest scale is coded with a factorized entropy bottleneck; every
  finer scale is coded given the coarser one, in a fixed order of steps:
  the positions of each block not already known (2×2 blocks: 3 positions;
  2×4 blocks: 6), and inside each position step the first ``seeds``
  channels one at a time, then all the others together.
* **One context network for every step of every scale**: its input is the
  scale's latent as far as known (the coarser scale up-sampled by nearest
  neighbour where nothing is decoded yet), a mask saying which values are
  decoded, and a hidden state carried from the previous step (up-sampled
  between scales by a 3×3 convolution and a pixel shuffle).  It predicts a
  mean and a scale for every element; a step uses those of its own.

Sequential decoding steps: 1 + S · (positions per block − known) ·
(seeds + 1) — 28 for the ``base`` profile, 121 for ``extra`` — whatever
the image size.  Every step is one entropy-coder call on one string (the
coarsest scale is the other string).  The context network computes on
integers when coding (:mod:`lic_lib.models.exact`), as the authors' does.

The transforms here are those of the book's mean-scale model (H/16, 96
channels), so that the same frozen transforms can carry every probability
model; the authors' codec uses H/8 and 128 channels.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch
from compressai.models import CompressionModel
from torch import nn

from .exact import coding, make_exact
from .hyperprior import MeanScaleHyperprior
from .entropy import (EntropyBottleneck, GaussianConditional, StreamDecoder,
                      StreamEncoder)

__all__ = ["PMSProfile", "PMS_PROFILES", "PMS", "ContextNet", "pms_steps",
           "pms_step_map"]


@dataclass(frozen=True)
class PMSProfile:
    """One of the authors' two profiles (``MSP_AUTHORS.md`` §2–4)."""

    scales: int                              # S: detail scales
    block: tuple[int, int]                   # rows × columns of a block
    order: tuple[tuple[int, int], ...]       # its unknown positions, in order
    seeds: int                               # channels coded one by one
    filters: int                             # F, the network's width
    blocks: int                              # R, its residual blocks


PMS_PROFILES: dict[str, PMSProfile] = {
    "pms-base": PMSProfile(3, (2, 2), ((0, 0), (0, 1), (1, 0)), 2, 64, 5),
    "pms-extra": PMSProfile(4, (2, 4), ((1, 2), (1, 0), (0, 3), (0, 1),
                                        (0, 2), (0, 0)), 4, 128, 5),
}


def pms_steps(profile: PMSProfile) -> int:
    """Sequential decoding steps: the coarsest scale, then S scales ×
    positions × (seeds + 1) channel steps."""
    return 1 + profile.scales * len(profile.order) * (profile.seeds + 1)


class _Residual(nn.Module):
    """3×3 conv → PReLU → 3×3 conv, added to the input, then PReLU."""

    def __init__(self, width: int):
        super().__init__()
        self.conv1 = nn.Conv2d(width, width, 3, padding=1)
        self.act1 = nn.PReLU(width)
        self.conv2 = nn.Conv2d(width, width, 3, padding=1)
        self.act2 = nn.PReLU(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.act2(x + self.conv2(self.act1(self.conv1(x))))


class ContextNet(nn.Module):
    """The one network every step shares: (latent so far, decoded mask,
    hidden state) → (new hidden state, scales, means)."""

    def __init__(self, channels: int, width: int, blocks: int):
        super().__init__()
        self.width = width
        self.head = nn.Sequential(
            nn.Conv2d(2 * channels + width, width, 3, padding=1),
            nn.PReLU(width), *(_Residual(width) for _ in range(blocks)))
        self.hidden = nn.Conv2d(width, width, 3, padding=1)
        self.params = nn.Conv2d(width, 2 * channels, 3, padding=1)
        self.up = nn.Sequential(nn.Conv2d(width, 4 * width, 3, padding=1),
                                nn.PixelShuffle(2))
        make_exact(self)                     # integers when coding

    def forward(self, y: torch.Tensor, known: torch.Tensor,
                state: torch.Tensor
                ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        state = self.hidden(self.head(torch.cat([y, known, state], 1)))
        scales, means = self.params(state).chunk(2, 1)
        return state, scales, means


def _tile(block: tuple[int, int], offset: tuple[int, int], h: int, w: int,
          device: torch.device) -> torch.Tensor:
    """h×w boolean map of the positions ``offset`` takes in every block."""
    t = torch.zeros(block, dtype=torch.bool)
    t[offset] = True
    return t.repeat(-(-h // block[0]), -(-w // block[1]))[:h, :w].to(device)


#: ``code(step, y_scale, scales, means, where)`` → the decoded values at
#: ``where`` (a full-size tensor; only ``where`` is read).
Code = Callable[[int, int, torch.Tensor, torch.Tensor, torch.Tensor],
                torch.Tensor]


class PMS(CompressionModel):
    """Transforms of the mean-scale model + the authors' PMS prior.

    Args:
        N, M: widths of the transforms (as the other models of the book).
        profile: a :class:`PMSProfile` (``PMS_PROFILES``).
    """

    #: Parameters a frozen-transform model takes from its base checkpoint.
    from_base = ("g_a.", "g_s.")

    def __init__(self, N: int, M: int, profile: PMSProfile, **kwargs):
        super().__init__(**kwargs)
        if profile.seeds >= M:
            raise ValueError(f"{profile.seeds} seed channels need M > seeds")
        transforms = MeanScaleHyperprior(N, M)
        self.g_a, self.g_s = transforms.g_a, transforms.g_s
        self.N, self.M, self.profile = N, M, profile
        self.entropy_bottleneck = EntropyBottleneck(M)     # the coarsest
        self.gaussian_conditional = GaussianConditional(None)
        self.context = ContextNet(M, profile.filters, profile.blocks)
        self._steps: dict = {}

    @property
    def downsampling_factor(self) -> int:
        """Pad images to this multiple, so that the coarsest scale exists:
        16 (the transforms) × 2^S."""
        return 16 * 2 ** self.profile.scales

    @property
    def n_strings(self) -> int:
        """The coarsest scale's string and one stream for every step."""
        return 2

    def decode_steps(self, height: int, width: int) -> int:
        """Sequential entropy-decoding calls for any H×W image."""
        return pms_steps(self.profile)

    # -- the schedule ----------------------------------------------------

    def steps(self, h: int, w: int, device: torch.device
              ) -> list[torch.Tensor]:
        """The steps of one h×w scale in decoding order, each an M×h×w
        boolean map of the elements it codes (cached per size)."""
        key = (h, w, str(device))
        if key not in self._steps:
            p, out = self.profile, []
            groups = [slice(c, c + 1) for c in range(p.seeds)] + \
                [slice(p.seeds, self.M)]
            for offset in p.order:
                where = _tile(p.block, offset, h, w, device)
                for g in groups:
                    m = torch.zeros(self.M, h, w, dtype=torch.bool,
                                    device=device)
                    m[g] = where
                    out.append(m)
            self._steps[key] = out
        return self._steps[key]

    def _check(self, y: torch.Tensor) -> None:
        f = 2 ** self.profile.scales
        if y.shape[-2] % f or y.shape[-1] % f:
            raise ValueError(
                f"latent {tuple(y.shape[-2:])} is not a multiple of "
                f"{f}: pad images to multiples of {self.downsampling_factor}")

    def _run(self, coarsest: torch.Tensor, code: Code) -> torch.Tensor:
        """Decode the scales below ``coarsest`` (ŷ of the coarsest scale),
        coarse to fine; ``code`` gives each step's values.  ŷ out."""
        net, y_hat = self.context, coarsest
        b, _, h, w = coarsest.shape
        state = coarsest.new_zeros(b, net.width, 2 * h, 2 * w)
        t = 0
        for s in reversed(range(self.profile.scales)):
            up = y_hat.repeat_interleave(2, -2).repeat_interleave(2, -1)
            known = torch.zeros_like(up)
            known[..., 1::2, 1::2] = 1          # the coarser scale
            y_hat = up
            if s < self.profile.scales - 1:
                state = net.up(state)
            for where in self.steps(*up.shape[-2:], up.device):
                state, scales, means = net(y_hat, known, state)
                t += 1
                y_hat = torch.where(where, code(t, s, scales, means, where),
                                    y_hat)
                known = known.masked_fill(where, 1)
        return y_hat

    # -- CompressAI's model contract -------------------------------------

    def forward(self, x: torch.Tensor) -> dict:
        """Training pass.  The rate sees uniform noise; the context network
        sees the values the decoder will have, round(y − μ) + μ, with the
        gradient passed straight through the rounding (as our other
        context models; the authors' code feeds noisy values by default).
        Likelihoods: one per element of y (the coarsest scale's from the
        bottleneck)."""
        y = self.g_a(x)
        self._check(y)
        S = self.profile.scales
        pyramid = [y]
        for _ in range(S):
            pyramid.append(pyramid[-1][..., 1::2, 1::2])
        eb, gc = self.entropy_bottleneck, self.gaussian_conditional
        _, lik_top = eb(pyramid[-1])
        # outside training, exactly the decoder's values: x + (q − x) is
        # not always q to the last bit
        ste = _ste if self.training else (lambda x, q: q)
        coarsest = ste(pyramid[-1], eb.quantize(
            pyramid[-1], "dequantize", eb._get_medians()))
        liks = [torch.ones_like(p) for p in pyramid[:-1]] + [lik_top]

        def code(t, s, scales, means, where):
            _, lik = gc(pyramid[s], scales, means=means)
            liks[s] = torch.where(where, lik, liks[s])
            return ste(pyramid[s], torch.round(pyramid[s] - means) + means)

        y_hat = self._run(coarsest, code)
        for s in range(1, S + 1):        # coarser values into place, in y's
            o = 2 ** s - 1               # coordinates: y[s] = y[o::2^s, …]
            liks[0] = _put(liks[0], o, 2 ** s, liks[s])
        return {"x_hat": self.g_s(y_hat), "likelihoods": {"y": liks[0]}}

    @coding()            # the context network on integers: the decoder's bits
    def compress(self, x: torch.Tensor) -> dict:
        if x.shape[0] != 1:
            raise ValueError("PMS.compress codes one image at a time")
        y = self.g_a(x)
        self._check(y)
        pyramid = [y]
        for _ in range(self.profile.scales):
            pyramid.append(pyramid[-1][..., 1::2, 1::2])
        eb, gc = self.entropy_bottleneck, self.gaussian_conditional
        top = eb.compress(pyramid[-1])
        encoder = StreamEncoder(gc)

        def code(t, s, scales, means, where):
            if not bool((means.abs() < 2 ** 20).all()):   # also NaN
                raise ValueError("PMS: predicted means out of range (an "
                                 "unstable or untrained context network)")
            q = torch.round(pyramid[s] - means)
            encoder.encode(q[0][where], gc.build_indexes(scales)[0][where])
            return q + means

        y_hat = self._run(eb.decompress(top, pyramid[-1].shape[-2:]), code)
        return {"strings": [top, [encoder.finish()]],
                "shape": pyramid[-1].shape[-2:], "y_hat": y_hat}

    @coding()
    def decompress(self, strings: list, shape) -> dict:
        if len(strings) != 2:
            raise ValueError("expected [[coarsest string], [steps string]]")
        gc = self.gaussian_conditional
        coarsest = self.entropy_bottleneck.decompress(strings[0], shape)
        decoder = StreamDecoder(gc, strings[1][0])

        def code(t, s, scales, means, where):
            q = decoder.decode(gc.build_indexes(scales)[0][where])
            out = torch.zeros_like(means)
            out[0][where] = torch.from_numpy(q).to(means.device, means.dtype)
            return out + means

        y_hat = self._run(coarsest, code)
        decoder.finish()
        return {"x_hat": self.g_s(y_hat).clamp(0, 1), "y_hat": y_hat}


def pms_step_map(model: PMS, h: int, w: int, channel: int = 0
                 ) -> torch.Tensor:
    """h×w map of the step (1 = the coarsest scale) that decodes each
    position of latent channel ``channel``; h and w multiples of 2^S."""
    S = model.profile.scales
    out = torch.zeros(h, w, dtype=torch.long)
    out[2 ** S - 1::2 ** S, 2 ** S - 1::2 ** S] = 1
    t = 1
    for s in reversed(range(S)):
        o, f = 2 ** s - 1, 2 ** s
        for where in model.steps(h // f, w // f, torch.device("cpu")):
            t += 1
            view = out[o::f, o::f]
            view[where[channel]] = t
    return out


def _ste(x: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    """``q`` forward, the gradient of ``x`` backward."""
    return x + (q - x).detach()


def _put(t: torch.Tensor, offset: int, stride: int, v: torch.Tensor
         ) -> torch.Tensor:
    """A copy of ``t`` with ``v`` written at ``t[..., offset::stride,
    offset::stride]`` (autograd-safe)."""
    t = t.clone()
    t[..., offset::stride, offset::stride] = v
    return t
