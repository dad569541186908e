"""The multi-scale progressive (MSP) probability model: our reconstruction.

Introduced in the chapter on the MSP model.  Only the first two pages of
Zhang et al. (2022) are available, so this is a design that does what
those pages claim — a context model whose number of *sequential* decoding
steps does not grow with the image — built as DESIGN.md §4 describes.

The latent ŷ (M channels) is decoded in a fixed sequence of **units**.
Each unit is a set of positions — a periodic pattern that tiles the latent
with period P = 2^S — and a group of channels.  A unit is decoded in one
parallel call of the entropy coder, with a mean and scale per element
predicted by a small network from everything decoded before it and from
the hyperprior.  Hence ``decode_steps`` = 1 (ẑ) + number of units,
whatever the image size.

Positions follow a polyphase scale pyramid.  Position (a, b) belongs to
scale s if s is the largest value with a ≡ b ≡ 0 (mod 2^s) (capped at
S): the coarsest scale is the lattice of stride P, and scale s < S adds
the three polyphase components (1,1), (0,1) and (1,0) of the lattice of
stride 2^(s+1).  ``order`` chooses how those three become steps:

* ``"polyphase"``: one step each, (1,1) then (0,1) then (1,0);
* ``"checkerboard"``: (1,1), then (0,1) and (1,0) together — each of
  those sees its four direct neighbours, all decoded by then.

Every step is split into ``groups`` channel groups decoded one after the
other, each seeing the earlier groups at its own positions.  With S = 1,
one group and the first step holding both (0,0) and (1,1) (``order=
"he2021"``) this is the checkerboard context model of He et al. (2021);
with one unit holding everything it would be the mean-scale hyperprior.

The analysis/synthesis transforms and the hyperprior are those of
CompressAI's ``MeanScaleHyperprior``, so that differences in RD come
from the probability model alone.
"""

from __future__ import annotations

import torch
from torch import nn

from .exact import coding, conv, make_exact
from .hyperprior import MeanScaleHyperprior
from .msp_schedule import Unit, positions, schedule

__all__ = ["Unit", "schedule", "MSP", "Checkerboard", "MSP_MODELS",
           "step_map", "bits_per_unit", "architecture_name"]

#: The MSP models of the registry (chosen from the ablation over S and K
#: in the chapter on the MSP model; the named profiles of
#: :mod:`lic_lib.profiles` use them).
MSP_MODELS: dict[str, dict] = {
    "msp-fast": dict(scales=1, groups=1),
    "msp-balanced": dict(scales=1, groups=4, kernel=3),
}


def architecture_name(scales: int, groups: int, kernel: int = 5,
                      width: int = 32) -> str:
    """The ablation name (``msp-s<S>k<K>[-<k>x<k>][-w<C>]``) of a design."""
    return (f"msp-s{scales}k{groups}" + (f"-{kernel}x{kernel}"
            if kernel != 5 else "") + (f"-w{width}" if width != 32 else ""))


class _Head(nn.Module):
    """Corrections to the hyperprior's mean and scale for one unit.

    ``context_in`` channels of decoded latents (zero where not decoded)
    go through one k×k convolution dilated to the unit's lattice; its
    features and the hyperprior's 2M channels go through three 1×1
    convolutions to a scale and a mean correction per channel of the
    group.  The last convolution starts at zero, so an untrained head
    predicts exactly what the mean-scale hyperprior predicts, and training
    can only start from there.
    """

    def __init__(self, context_in: int, hyper: int, out: int, width: int,
                 kernel: int, dilation: int):
        super().__init__()
        self.context = nn.Conv2d(
            context_in, width, kernel, dilation=dilation,
            padding=dilation * (kernel // 2)) if context_in else None
        hidden = hyper // 2
        self.params = nn.Sequential(
            nn.Conv2d(hyper + (width if context_in else 0), hidden, 1),
            nn.GELU(), nn.Conv2d(hidden, hidden, 1), nn.GELU(),
            nn.Conv2d(hidden, 2 * out, 1))
        nn.init.zeros_(self.params[-1].weight)
        nn.init.zeros_(self.params[-1].bias)

    def forward(self, context: torch.Tensor | None, hyper: torch.Tensor,
                offsets: tuple[tuple[int, int], ...], period: int
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """Corrections at the lattices ``offset + period·(i, j)`` only,
        B × out × n in the order of :meth:`MSP._gather`.

        ``context`` is already zero-padded by the convolution's reach;
        the convolution is evaluated with stride ``period`` starting at
        each offset, so each unit costs in proportion to its own positions,
        not to the whole latent.  The lattices of the offsets are put side
        by side so that the 1×1 layers run once per unit: at small sizes
        the number of calls, not their arithmetic, sets the time.
        """
        feats = []
        for offset in offsets:
            f = hyper[..., offset[0]::period, offset[1]::period]
            if self.context is not None:
                f = torch.cat([self.context_at(context, offset, period), f],
                              1)
            feats.append(f)
        out = self.params(torch.cat(feats, -1)).chunk(len(offsets), -1)
        out = torch.cat([o.flatten(2) for o in out], 2)
        scales, means = out.chunk(2, 1)
        return scales, means

    def context_at(self, context: torch.Tensor, offset: tuple[int, int],
                   period: int) -> torch.Tensor:
        """The context convolution on the lattice ``offset + period·(i, j)``
        of ``context`` (zero-padded by the convolution's reach).  When the
        dilation is the period — the coarsest scale's own lattice — that is
        a plain convolution of the lattice itself, which PyTorch computes
        on a faster path than the strided, dilated one."""
        a, b = offset
        if self.context.dilation[0] == period:
            return conv(context[..., a::period, b::period], self.context,
                        padding=0, dilation=1)
        return conv(context[..., a:, b:], self.context, stride=period,
                    padding=0)


def _channels_last(t: torch.Tensor) -> torch.Tensor:
    """``t`` in channels-last layout: the heads' strided convolutions on
    small latents run about 3× faster so on CPU (oneDNN's fast path);
    the values are the same, only the memory order changes."""
    return t.contiguous(memory_format=torch.channels_last)


class MSP(MeanScaleHyperprior):
    """Mean-scale hyperprior + a constant number of progressive steps.

    Args:
        N, M: widths of the transforms (as the other models of the book).
        scales: S, the levels of the polyphase pyramid.
        groups: K, channel groups per step (M must be divisible by K).
        order: ``"checkerboard"``, ``"polyphase"`` or ``"he2021"``.
        width: channels of each unit's context convolution.
        kernel: its size (dilated to the unit's lattice).
    """

    def __init__(self, N: int, M: int, scales: int = 2, groups: int = 2,
                 order: str = "checkerboard", width: int = 32,
                 kernel: int = 5, **kwargs):
        super().__init__(N, M, **kwargs)
        if M % groups:
            raise ValueError(f"M={M} is not divisible by groups={groups}")
        self.scales, self.groups, self.order = scales, groups, order
        self.period = 2 ** scales
        self.units = schedule(scales, groups, order)
        mg = M // groups
        first = self.units[0].offsets
        self.heads = nn.ModuleList(
            _Head(context_in=(0 if u.offsets == first else M) + u.group * mg,
                  hyper=2 * M, out=mg, width=width, kernel=kernel,
                  dilation=2 ** u.scale)
            for u in self.units)
        make_exact(self.heads)       # integers when coding

    @property
    def downsampling_factor(self) -> int:
        """Pad images to this multiple: the hyperprior needs 64, the
        pyramid a latent divisible by its period."""
        return max(64, 16 * self.period)

    @property
    def n_strings(self) -> int:
        """Strings in a bitstream: ẑ, then one per unit."""
        return 1 + len(self.units)

    def decode_steps(self, height: int, width: int) -> int:
        """Sequential entropy-decoding calls for any H×W image: ẑ, then
        one per unit.  The arguments are there to make the point."""
        return self.n_strings

    # -- the parts shared by training, encoding and decoding -------------

    def _masks(self, unit: Unit, h: int, w: int, device
               ) -> tuple[torch.Tensor, torch.Tensor]:
        """(decoded before this unit's step, this unit's positions)."""
        earlier = frozenset(o for u in self.units[:self.units.index(unit)]
                            if u.offsets != unit.offsets for o in u.offsets)
        return (positions(earlier, self.period, h, w, str(device)),
                positions(frozenset(unit.offsets), self.period, h, w,
                          str(device)))

    def _predict(self, i: int, y_hat: torch.Tensor, hyper: torch.Tensor,
                 known: torch.Tensor, current: torch.Tensor
                 ) -> tuple[torch.Tensor, torch.Tensor]:
        """Scales and means of unit ``i``'s elements, B × M/K × n in the
        unit's coding order (:meth:`_gather`): the hyperprior's,
        corrected by the unit's head from what is decoded."""
        unit, head = self.units[i], self.heads[i]
        mg = self.M // self.groups
        parts = []
        if unit.offsets != self.units[0].offsets:   # earlier steps exist
            parts.append(y_hat * known)
        if unit.group:
            parts.append(y_hat[:, :unit.group * mg] * current)
        context = None
        if parts:
            r = head.context.dilation[0] * (head.context.kernel_size[0] // 2)
            context = _channels_last(
                nn.functional.pad(torch.cat(parts, 1), (r, r, r, r)))
        ds, dm = head(context, hyper, unit.offsets, self.period)
        g = self._group(unit)
        scales, means = hyper.chunk(2, 1)
        return (self._gather(scales[:, g], unit) + ds,
                self._gather(means[:, g], unit) + dm)

    def _gather(self, t: torch.Tensor, unit: Unit) -> torch.Tensor:
        """B×C×H×W → B×C×n: the unit's positions, lattice by lattice."""
        p = self.period
        return torch.cat([t[..., a::p, b::p].flatten(2)
                          for a, b in unit.offsets], 2)

    def _scatter(self, t: torch.Tensor, unit: Unit, values: torch.Tensor
                 ) -> torch.Tensor:
        """A copy of ``t`` with ``values`` (B × M/K × n, from
        :meth:`_gather`'s order) written at the unit's group and positions."""
        p, g = self.period, self._group(unit)
        h, w = t.shape[-2] // p, t.shape[-1] // p
        t = t.clone()
        for k, (a, b) in enumerate(unit.offsets):
            t[:, g, a::p, b::p] = values[..., k * h * w:(k + 1) * h * w
                                         ].unflatten(-1, (h, w))
        return t

    def _check(self, y: torch.Tensor) -> None:
        if y.shape[-2] % self.period or y.shape[-1] % self.period:
            raise ValueError(
                f"latent {tuple(y.shape[-2:])} is not a multiple of the "
                f"period {self.period}: pad images to multiples of "
                f"{self.downsampling_factor}")

    def _group(self, unit: Unit) -> slice:
        mg = self.M // self.groups
        return slice(unit.group * mg, (unit.group + 1) * mg)

    # -- CompressAI's model contract -------------------------------------

    def forward(self, x: torch.Tensor) -> dict:
        """Training pass.  The rate sees uniform noise (CompressAI's
        convention); the context of each unit and the synthesis see the
        values the decoder will have, round(y − μ) + μ, with the gradient
        passed straight through the rounding (Minnen & Singh 2020).

        When a rounding surrogate is patched into the entropy model
        (:func:`lic_lib.quantizers.ste_quantization`, e.g. the soft rounding of
        latent overfitting), contexts, synthesis *and* rate all see that
        surrogate's values, so that its gradients are consistent."""
        y = self.g_a(x)
        self._check(y)
        z = self.h_a(y)
        z_hat, z_likelihoods = self.entropy_bottleneck(z)
        hyper = _channels_last(self.h_s(z_hat))
        h, w = y.shape[-2:]
        gc = self.gaussian_conditional
        surrogate = self.training and "quantize" in vars(gc)
        y_hat = torch.zeros_like(y)          # what the decoder has so far
        scales, means = torch.zeros_like(y), torch.zeros_like(y)
        for i, unit in enumerate(self.units):
            known, current = self._masks(unit, h, w, y.device)
            s, m = self._predict(i, y_hat, hyper, known, current)
            scales = self._scatter(scales, unit, s)
            means = self._scatter(means, unit, m)
            yu = self._gather(y[:, self._group(unit)], unit)
            if surrogate:
                v = gc.quantize(yu, "noise", m)
            else:
                q = torch.round(yu - m) + m  # bit-exactly the decoder's
                v = yu + (q - yu).detach() if self.training else q
            y_hat = self._scatter(y_hat, unit, v)
        if surrogate:                        # the rate of those same values
            y_likelihoods = gc.likelihood_lower_bound(
                gc._likelihood(y_hat, scales, means))
        else:
            _, y_likelihoods = gc(y, scales, means=means)
        return {"x_hat": self.g_s(y_hat),
                "likelihoods": {"y": y_likelihoods, "z": z_likelihoods}}

    @coding()            # entropy parameters on integers: the decoder's bits
    def compress(self, x: torch.Tensor) -> dict:
        if x.shape[0] != 1:
            raise ValueError("MSP.compress codes one image at a time")
        y = self.g_a(x)
        self._check(y)
        z = self.h_a(y)
        z_strings = self.entropy_bottleneck.compress(z)
        z_hat = self.entropy_bottleneck.decompress(z_strings, z.shape[-2:])
        hyper = _channels_last(self.h_s(z_hat))
        y_hat = torch.zeros_like(y)
        strings = [z_strings]
        gc = self.gaussian_conditional
        for i, unit in enumerate(self.units):
            known, current = self._masks(unit, *y.shape[-2:], y.device)
            s, m = self._predict(i, y_hat, hyper, known, current)
            yu = self._gather(y[:, self._group(unit)], unit)
            strings.append(gc.compress(yu, gc.build_indexes(s), means=m))
            y_hat = self._scatter(y_hat, unit,
                                  gc.quantize(yu, "dequantize", m))
        # y_hat: what the decoder will reconstruct (tests compare them)
        return {"strings": strings, "shape": z.shape[-2:], "y_hat": y_hat}

    @coding()
    def decompress(self, strings: list, shape) -> dict:
        if len(strings) != 1 + len(self.units):
            raise ValueError(f"expected {1 + len(self.units)} strings, got "
                             f"{len(strings)}")
        z_hat = self.entropy_bottleneck.decompress(strings[0], shape)
        hyper = _channels_last(self.h_s(z_hat))
        h, w = z_hat.shape[-2] * 4, z_hat.shape[-1] * 4
        y_hat = torch.zeros(1, self.M, h, w, device=z_hat.device)
        gc = self.gaussian_conditional
        for i, unit in enumerate(self.units):
            known, current = self._masks(unit, h, w, y_hat.device)
            s, m = self._predict(i, y_hat, hyper, known, current)
            values = gc.decompress(strings[1 + i], gc.build_indexes(s),
                                   means=m)
            y_hat = self._scatter(y_hat, unit, values.to(y_hat.dtype))
        return {"x_hat": self.g_s(y_hat).clamp_(0, 1), "y_hat": y_hat}


class Checkerboard(MSP):
    """He et al. (2021): anchors from the hyperprior, then the rest from a
    5×5 context on the anchors — two steps for ŷ."""

    def __init__(self, N: int, M: int, width: int = 32, **kwargs):
        super().__init__(N, M, scales=1, groups=1, order="he2021",
                         width=width, kernel=5, **kwargs)


def step_map(model: MSP, h: int, w: int, group: int = 0) -> torch.Tensor:
    """h×w map of the decoding step (1 = the first unit of ŷ; ẑ is step 0)
    of every latent position in channel group ``group``."""
    out = torch.zeros(h, w, dtype=torch.long)
    for i, unit in enumerate(model.units):
        if unit.group == group:
            out[positions(frozenset(unit.offsets), model.period, h, w,
                          "cpu")] = i + 1
    return out


@torch.no_grad()
def bits_per_unit(model: MSP, x: torch.Tensor) -> list[float]:
    """Bits the likelihoods of the rounded latents give to each unit of
    ``x`` (one padded image; ẑ excluded): where the rate goes."""
    model.eval()
    lik = model(x)["likelihoods"]["y"][0]
    bits = -lik.log2()
    h, w = bits.shape[-2:]
    out = []
    for unit in model.units:
        mask = positions(frozenset(unit.offsets), model.period, h, w,
                         str(bits.device))
        out.append(float(bits[model._group(unit)][:, mask].sum()))
    return out
