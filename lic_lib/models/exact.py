"""Integer convolutions: entropy parameters every machine computes alike.

Introduced in the chapter {ref}`chap-hyperprior` (section "Across
machines").  A decoder must compute the very means and scales its encoder
used: one scale on the other side of a boundary of the scale table gives
another CDF, and rANS decodes garbage from there on.  Float convolutions
do not promise that across devices, CPU instruction sets, kernel libraries
or thread counts: they sum in different orders and round differently in
the last bit.  Sums of *integers* have no such freedom as long as every
partial sum is exactly representable, whatever the order.  So, as the
paper's authors do in their public implementation (``MSP_AUTHORS.md`` §5),
every convolution that computes entropy parameters runs, when a model
codes, on integers — after training, with no retraining:

* the weights of each output channel are scaled by a power of two so that
  the largest is below 2^A, and rounded (A = :data:`WEIGHT_BITS`);
* the input of each image is scaled by a power of two from its own largest
  magnitude so that it is at most 2^B, and rounded;
* the integer convolution T is computed exactly: in float64 (53-bit
  integers) on a GPU or for small inputs, and on the CPU as float32
  convolutions of pieces of the input small enough that no partial sum can
  pass 2^24 (oneDNN's float32 kernels are several times faster than
  float64); either way T is the same integer;
* with S the product of the two powers of two, the output is
  fl32(fl32(T·S) + bias).

B is a property of the layer, from its integer weights: the largest sum of
|weights| an output meets, ``bound``, must keep bound·2^B ≤ 2^24 for one
float32 piece.  A layer whose bound allows B ≥ :data:`MIN_INPUT_BITS` in
one piece takes the largest such B up to :data:`INPUT_BITS` (the MSP heads'
1×1 layers: 10–11 bits, one piece); the others take B = :data:`INPUT_BITS`
in two pieces (the hyper-synthesis, the context convolutions).  A model
may ask for more bits where it computes in float64 anyway
(``integer_bits``: the AR model's per-position network, 16 and 20 bits).

Between convolutions there are only operations whose IEEE results are the
same everywhere (ReLU, leaky ReLU, PReLU, additions, concatenation,
slicing, nearest up-sampling, pixel shuffle); the
MSP heads' GELU is replaced when coding by :func:`gelu`, a rational
approximation of ``erf`` (Abramowitz & Stegun 7.1.28, error < 3e-7) built
from additions, multiplications and one division.  The transforms
``g_a``/``g_s`` stay float: decoded *images* may differ in the last bits
between machines, decoded *latents* may not.

The bit depths are part of the file format (version 2); the rate costs
nothing measurable (see the hyperprior chapter).
"""

from __future__ import annotations

import math
import threading
from contextlib import contextmanager, nullcontext
from contextvars import ContextVar
from typing import Iterator

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["WEIGHT_BITS", "INPUT_BITS", "MIN_INPUT_BITS", "ARITHMETICS",
           "coding", "arithmetic", "current_arithmetic", "integer_active",
           "conv", "integer_conv", "gelu", "make_exact", "IntegerWeights"]

#: Magnitude bits of the integer weights (per output channel).
WEIGHT_BITS = 8
#: Magnitude bits of the integer inputs (per image), at most …
INPUT_BITS = 12
#: … and at least, for a layer computed in one float32 piece.
MIN_INPUT_BITS = 10
#: How a file's entropy parameters were computed: the header's byte.
ARITHMETICS = {"float": 0, "integer": 1}

_MODE: ContextVar[str] = ContextVar("lic_arithmetic", default="integer")
_CODING: ContextVar[bool] = ContextVar("lic_coding", default=False)
_F32_EXACT = 1 << 24           # float32 represents every integer up to this


@contextmanager
def arithmetic(mode: str) -> Iterator[None]:
    """Code with ``mode`` (``"integer"``, the default and format version 2,
    or ``"float"``, version 1: bit-exact only on the encoder's machine)."""
    if mode not in ARITHMETICS:
        raise ValueError(f"arithmetic must be one of {', '.join(ARITHMETICS)}")
    token = _MODE.set(mode)
    try:
        yield
    finally:
        _MODE.reset(token)


@contextmanager
def coding() -> Iterator[None]:
    """Mark the block as coding (``compress``/``decompress``): the layers
    made by :func:`make_exact` then compute in the current arithmetic."""
    token = _CODING.set(True)
    try:
        yield
    finally:
        _CODING.reset(token)
        _SCRATCH.buf = None                  # the pieces' buffer (below)


def current_arithmetic() -> str:
    """The arithmetic :func:`arithmetic` set (``"integer"`` by default)."""
    return _MODE.get()


def integer_active() -> bool:
    """Whether entropy-parameter layers compute on integers right now."""
    return _CODING.get() and _MODE.get() == "integer"


def _pow2(e: torch.Tensor) -> torch.Tensor:
    """2**e in float64, exactly, built from the exponent bits (no ``pow``,
    whose last bit libraries do not all agree on)."""
    return ((e.to(torch.int64) + 1023) << 52).view(torch.float64)


class IntegerWeights:
    """A convolution's weights as integers, computed once per weight tensor.

    ``w64``/``w32`` hold the same integers; ``scale`` is 2^(e − A) per
    output channel; ``bound`` is the largest sum of |weights| one output
    can meet (for a stride-s transposed convolution, per phase: each output
    sees only the taps of its phase); ``input_bits`` is the layer's B (see
    the module docstring).  Every partial sum is at most bound·2^B.
    """

    def __init__(self, weight: torch.Tensor, transposed: bool,
                 stride: tuple[int, int],
                 bits: tuple[int, int] | None = None):
        A, B = bits or (WEIGHT_BITS, None)
        w = weight.detach().double()
        wo = w.transpose(0, 1) if transposed else w     # out channels first
        _, e = torch.frexp(wo.abs().flatten(1).amax(1))  # max < 2**e
        shape = (-1,) + (1,) * (wo.dim() - 1)
        wi = torch.round(wo * _pow2(A - e).view(shape))
        if transposed:
            sh, sw = stride
            bound = max(int(wi[..., a::sh, b::sw].abs().flatten(1).sum(1)
                            .max()) for a in range(sh) for b in range(sw))
            wi = wi.transpose(0, 1)
        else:
            bound = int(wi.abs().flatten(1).sum(1).max())
        self.w64 = wi.contiguous()
        self.w32 = wi.float().contiguous()
        self.scale = _pow2(e - A)
        self.scale32 = self.scale.float().view(1, -1, 1, 1)
        self.bound = max(bound, 1)
        if B is None:
            fit = 24 - self.bound.bit_length()      # one float32 piece
            B = min(fit, INPUT_BITS) if fit >= MIN_INPUT_BITS else INPUT_BITS
        self.input_bits = B
        if self.bound << B >= 1 << 53:
            raise ValueError("weights too wide for exact float64 sums")


def _weights(module: nn.Module) -> IntegerWeights:
    """The module's :class:`IntegerWeights`, rebuilt when its weights (or
    its mask: the AR model's masked convolution) or device change."""
    weight = module.weight
    mask = getattr(module, "mask", None)
    key = (weight.data_ptr(), weight._version, weight.device,
           None if mask is None else mask._version)
    cached = module.__dict__.get("_integer_weights")
    if cached is None or cached[0] != key:
        w = weight if mask is None else weight * mask
        cached = (key, IntegerWeights(
            w, isinstance(module, nn.ConvTranspose2d), module.stride,
            getattr(module, "integer_bits", None)))
        module.__dict__["_integer_weights"] = cached
    return cached[1]


def _input_integers(x: torch.Tensor, bits: int, out: torch.Tensor | None
                    = None) -> tuple[torch.Tensor, torch.Tensor | float]:
    """(``x`` as integers with |·| ≤ 2^bits, float32, written to ``out``
    if given, and the power of two 2^-shift of each image that scales them
    back, broadcastable to ``x``).  Exact: a float32 times a power of two,
    then rounded.  One image on the CPU (every decode) takes its exponent
    in Python: a layer then runs a handful of tensor operations, not two
    dozen, and at 768×512 those small calls cost as much as the sums."""
    flat = x.flatten(1)
    if len(x) == 1 and not x.is_cuda:
        _, e = math.frexp(max(flat.max().item(), -flat.min().item()))
        xi = torch.mul(x, math.ldexp(1.0, bits - e), out=out)
        return xi.round_(), math.ldexp(1.0, e - bits)
    _, e = torch.frexp(torch.maximum(flat.amax(1), -flat.amin(1)))  # < 2**e
    xi = torch.mul(x, _pow2(bits - e).float().view(-1, 1, 1, 1), out=out)
    return xi.round_(), _pow2(e - bits).float().view(-1, 1, 1, 1)


_SCRATCH = threading.local()


def _scratch(shape: tuple[int, ...], like: torch.Tensor) -> torch.Tensor:
    """A float32 buffer of ``shape`` on ``like``'s device and in its memory
    layout (channels-last or not), reused from call to call (per thread):
    the pieces live only until their convolution has run, and fresh
    megabytes cost page faults at every layer."""
    n = math.prod(shape)
    buf = getattr(_SCRATCH, "buf", None)
    if (buf is None or buf.numel() < n or buf.device != like.device
            or buf.is_inference() != torch.is_inference_mode_enabled()):
        buf = _SCRATCH.buf = torch.empty(n, dtype=torch.float32,
                                         device=like.device)
    if like.dim() == 4 and not like.is_contiguous() and like.is_contiguous(
            memory_format=torch.channels_last):
        b, c, h, w = shape
        return buf[:n].view(b, h, w, c).permute(0, 3, 1, 2)
    return buf[:n].view(shape)


def _piece_count(bits: int, limit: int) -> tuple[int, int]:
    """(q, n): integers of |·| ≤ 2^bits as n pieces of |·| ≤ ``limit``,
    each 2^q times the next (2^q ≤ limit: the low pieces fit)."""
    q = limit.bit_length() - 1
    if q < 1:
        raise ValueError("weights too wide for exact float32 sums")
    n, top = 1, 1 << bits
    while top > limit:
        n, top = n + 1, -(-top >> q)                    # |hi| ≤ ⌈top/2^q⌉
    return q, n


def _pieces(x: torch.Tensor, bits: int, limit: int
            ) -> tuple[torch.Tensor, torch.Tensor, int]:
    """The integers of ``x`` (:func:`_input_integers`) as Σₖ pieceₖ·2^(qk)
    with every |piece| ≤ ``limit``: (the pieces stacked along the batch,
    the scale back, q).  Written in place into one buffer: at 2K these
    tensors are megabytes, and fresh ones cost more than the arithmetic."""
    q, n = _piece_count(bits, limit)
    x = x.detach()                     # rounding has no gradient anyway
    buf = _scratch((n * len(x),) + x.shape[1:], x)
    pieces = buf.chunk(n)
    _, x_scale = _input_integers(x, bits, out=pieces[0])
    for lo, hi in zip(pieces, pieces[1:]):             # lo holds the rest
        torch.mul(lo, 2.0 ** -q, out=hi).round_()      # exact: power of two
        lo.sub_(hi, alpha=2.0 ** q)                    # exact: |lo| ≤ 2^q
    return buf, x_scale, q


@contextmanager
def _ieee_float32() -> Iterator[None]:
    """oneDNN's float32 convolutions in IEEE float32, whatever the process
    allows (bf16 or TF32 internally would round the integer sums)."""
    conv_precision = torch.backends.mkldnn.conv
    old = conv_precision.fp32_precision
    conv_precision.fp32_precision = "ieee"
    try:
        yield
    finally:
        conv_precision.fp32_precision = old


def _call(module: nn.Module, overrides: dict) -> tuple:
    """(the functional convolution of ``module``, its keyword arguments
    with ``overrides`` applied)."""
    kw = dict(stride=module.stride, padding=module.padding,
              dilation=module.dilation, groups=module.groups)
    if isinstance(module, nn.ConvTranspose2d):
        return F.conv_transpose2d, {**kw, "output_padding":
                                    module.output_padding, **overrides}
    return F.conv2d, {**kw, **overrides}


def integer_conv(x: torch.Tensor, module: nn.Module, **overrides
                 ) -> torch.Tensor:
    """``module`` (a ``Conv2d`` or ``ConvTranspose2d``) applied to ``x`` on
    integers; float32 out.  ``overrides`` replace the module's stride,
    padding or dilation (the MSP heads evaluate their context convolution
    on one lattice at a time).

    With T the exact integer convolution and S the product of the two
    powers of two, the result is, by definition of format version 2,
    fl32(fl32(T·S) + bias) — whichever way T is computed.
    """
    W = _weights(module)
    fn, kw = _call(module, overrides)
    if x.is_cuda or x.numel() <= 4096:
        # float64 holds every sum (bound · 2^B < 2^53); cuDNN off:
        # it may pick FFT or Winograd algorithms, which round
        xi, x_scale = _input_integers(x, W.input_bits)
        with (torch.backends.cudnn.flags(enabled=False) if x.is_cuda
              else nullcontext()):
            T = fn(xi.double(), W.w64, None, **kw)
        S = W.scale32 * x_scale
        out = (T * S.double()).float()            # T·S exact, one rounding
    else:
        # float32 pieces whose every sum stays below 2^24 (exact), in IEEE
        # float32 (never oneDNN's bf16/TF32 modes)
        pieces, x_scale, q = _pieces(x, W.input_bits, _F32_EXACT // W.bound)
        S = W.scale32 * x_scale
        with _ieee_float32():
            parts = fn(pieces, W.w32, None, **kw).chunk(len(pieces) // len(x))
        if len(parts) == 1:
            out = parts[0].mul_(S)                 # exact
        elif len(parts) == 2:                      # p₀S exact, p₁S2^q exact:
            out = parts[0].mul_(S).addcmul_(       # one rounding of T·S
                parts[1], S * 2.0 ** q)
        else:
            T = sum(p.double() * 2.0 ** (q * k) for k, p in enumerate(parts))
            out = (T * S.double()).float()
    if module.bias is not None:
        out = out.add_(module.bias.detach().view(1, -1, 1, 1))
    return out


def conv(x: torch.Tensor, module: nn.Module, **overrides) -> torch.Tensor:
    """``module``'s convolution of ``x`` in the current arithmetic: on
    integers when coding in format version 2, in float otherwise."""
    if integer_active():
        return integer_conv(x, module, **overrides)
    weight = module.weight
    if getattr(module, "mask", None) is not None:
        weight = weight * module.mask
    fn, kw = _call(module, overrides)
    return fn(x, weight, module.bias, **kw)


# A&S 7.1.28: erf(x) ≈ 1 − (1 + a1 x + … + a6 x^6)^-16 for x ≥ 0
_ERF = (0.0705230784, 0.0422820123, 0.0092705272, 0.0001520143,
        0.0002765672, 0.0000430638)


def gelu(x: torch.Tensor) -> torch.Tensor:
    """x·Φ(x) from float32 additions, multiplications and one division in
    a fixed order: the same bits on every machine (|error| < 3e-6)."""
    t = x.abs().mul_(0.70710677)                 # |x| / √2
    p = t * _ERF[5]
    for a in reversed(_ERF[:5]):
        p.add_(a).mul_(t)
    p.add_(1.0)
    for _ in range(4):                           # p^16
        p.mul_(p)
    # (1 − erf(|x|/√2)) / 2 as PyTorch computes 0.5 / p: reciprocal, then
    # the (exact) product; in place, as at 2K these tensors are megabytes
    half = p.reciprocal_().mul_(0.5)
    return x * torch.where(x < 0, half, 1.0 - half)   # x first: NaN signs


class _Conv2d(nn.Conv2d):
    """``nn.Conv2d`` that codes on integers (:func:`conv`)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return conv(x, self) if integer_active() else super().forward(x)


class _ConvTranspose2d(nn.ConvTranspose2d):
    """``nn.ConvTranspose2d`` that codes on integers (:func:`conv`)."""

    def forward(self, x: torch.Tensor, output_size=None) -> torch.Tensor:
        return conv(x, self) if integer_active() else super().forward(
            x, output_size)


class _GELU(nn.GELU):
    """``nn.GELU`` that codes with the portable :func:`gelu`."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gelu(x) if integer_active() else super().forward(x)


class _PReLU(nn.PReLU):
    """``nn.PReLU`` that codes as x or a·x, one IEEE product: the same
    bits whatever kernel a library would pick."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not integer_active():
            return super().forward(x)
        return torch.where(x > 0, x, x * self.weight.view(1, -1, 1, 1))


_EXACT = {nn.Conv2d: _Conv2d, nn.ConvTranspose2d: _ConvTranspose2d,
          nn.GELU: _GELU, nn.PReLU: _PReLU}


def make_exact(module: nn.Module) -> nn.Module:
    """``module`` whose plain convolutions and GELUs compute in the coding
    arithmetic (:func:`conv`, :func:`gelu`) inside :func:`coding`.

    The classes are swapped in place for subclasses that only change
    ``forward``: the parameters, their names and state dicts are the same,
    and training (outside :func:`coding`) is unchanged.
    """
    for m in module.modules():
        if type(m) in _EXACT:
            m.__class__ = _EXACT[type(m)]
    return module
