"""Minnen et al. (2018): the joint autoregressive + hyperprior model.

Introduced in the chapter {ref}`chap-hyperprior`.  The layers and the
training pass are CompressAI's ``JointAutoregressiveHierarchicalPriors``;
coding is this module's.  Encoder and decoder run the same loop, position
by position in raster order: a 5×5 masked convolution over what is
decoded so far, the 1×1 entropy-parameter network on it and on the
hyperprior's features, then one symbol per channel.  The decoder makes one
entropy-coder call per position — at 2K more than 10,000 sequential calls, the
reason this model is slow to decode.

In format version 2 (:mod:`lic_lib.models.exact`) the position's network
runs on integers.  It is small — a matrix–vector product per layer — so
it runs in NumPy: PyTorch's per-call overhead would dominate such tiny
products (the results are the same bits as
:func:`~lic_lib.models.exact.integer_conv`, which the tests check).  Only
the 12 causal taps of the masked kernel are multiplied.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from compressai.models import JointAutoregressiveHierarchicalPriors
from threadpoolctl import threadpool_limits
from torch import nn

from .entropy import StreamDecoder, StreamEncoder
from .exact import _weights, coding, conv, integer_active, make_exact

__all__ = ["JointAutoregressive"]

_K, _PAD = 5, 2                    # the context kernel and its reach
_AR_BITS = (16, 20)                # weight and input bits of its network


class _IntegerLayer:
    """One convolution of the position's network as an integer matrix."""

    def __init__(self, module: nn.Module, taps: np.ndarray | None = None):
        W = _weights(module)
        self.bits = W.input_bits
        w = W.w64.flatten(1).cpu().numpy()
        self.w = np.ascontiguousarray(w if taps is None else w[:, taps])
        self.scale = W.scale.cpu().numpy()
        self.bias = module.bias.detach().cpu().numpy()

    def __call__(self, x: np.ndarray) -> np.ndarray:
        """float32 vector in, float32 vector out: the bits of
        :func:`~lic_lib.models.exact.integer_conv`, fl32(fl32(T·S) + b)."""
        e = math.frexp(float(np.abs(x).max()))[1]          # max < 2**e
        xi = np.round(x.astype(np.float64) * math.ldexp(1.0, self.bits - e))
        T = self.w @ xi                                     # exact integers
        S = self.scale * math.ldexp(1.0, e - self.bits)
        return (T * S).astype(np.float32) + self.bias


class JointAutoregressive(JointAutoregressiveHierarchicalPriors):
    """CompressAI's Minnen et al. (2018) model; coding as in the module
    docstring.  ``compress`` and ``decompress`` take one image."""

    #: Its loop makes one coder call of M symbols per position: CompressAI's
    #: rANS costs less per such call than the ANS coder, which is built for
    #: large calls (at 2K: 0.36 vs 0.60 s of coding, complexity chapter).
    preferred_coder = "rans"

    def __init__(self, N: int = 192, M: int = 192, **kwargs):
        super().__init__(N=N, M=M, **kwargs)
        make_exact(self.h_s)
        make_exact(self.entropy_parameters)
        # its per-position network computes in float64 (NumPy) anyway:
        # more bits cost nothing there, and its chain of four layers per
        # position is the most sensitive to rounding (measured: +0.17 % of
        # rate at λ 0.0018 with the 8/12 bits of the other models)
        for m in (self.context_prediction, *self.entropy_parameters):
            if isinstance(m, nn.Conv2d):
                m.integer_bits = _AR_BITS

    def compress(self, x: torch.Tensor) -> dict:
        if x.shape[0] != 1:
            raise ValueError("the AR model codes one image at a time")
        y = self.g_a(x)
        z = self.h_a(y)
        eb = self.entropy_bottleneck
        z_strings = eb.compress(z)
        z_hat = eb.decompress(z_strings, z.shape[-2:])
        with coding():
            params = self.h_s(z_hat)
            symbols, indexes, y_hat = [], [], None

            def encode(h: int, w: int, idx: np.ndarray,
                       means: np.ndarray) -> np.ndarray:
                s = np.round(y_np[:, h, w] - means)
                symbols.append(s.astype(np.int32))
                indexes.append(idx)
                return s.astype(np.float32) + means

            y_np = y[0].detach().cpu().numpy()
            y_hat = self._loop(params, encode)
        encoder = StreamEncoder(self.gaussian_conditional)
        for s, i in zip(symbols, indexes):
            encoder.encode(s, i)
        string = encoder.finish()
        return {"strings": [[string], z_strings], "shape": z.shape[-2:],
                "y_hat": y_hat}

    def decompress(self, strings: list, shape) -> dict:
        if len(strings) != 2 or len(strings[0]) != 1:
            raise ValueError("expected [[y string], [z string]] of one image")
        gc = self.gaussian_conditional
        z_hat = self.entropy_bottleneck.decompress(strings[1], shape)
        decoder = StreamDecoder(gc, strings[0][0])

        def decode(h: int, w: int, idx: np.ndarray,
                   means: np.ndarray) -> np.ndarray:
            return decoder.decode(idx).astype(np.float32) + means

        with coding():
            y_hat = self._loop(self.h_s(z_hat), decode)
        decoder.finish()
        return {"x_hat": self.g_s(y_hat).clamp_(0, 1), "y_hat": y_hat}

    def _loop(self, params: torch.Tensor, code) -> torch.Tensor:
        """Visit every position in raster order: its means and scales from
        the decoded neighbourhood, then ``code(h, w, indexes, means)``
        returns its decoded values.  ŷ (1×M×h×w) out."""
        height, width = params.shape[-2:]
        gc = self.gaussian_conditional
        table = gc.scale_table[:-1].cpu().numpy()
        bound = np.float32(gc.lower_bound_scale.bound.item())
        y_hat = np.zeros((self.M, height + 2 * _PAD, width + 2 * _PAD),
                         np.float32)
        position = (self._integer_position(params) if integer_active()
                    else self._float_position(params))
        # one BLAS thread: a position's products are a few hundred
        # thousand multiplications, and a BLAS thread pool handing each to
        # a second thread while PyTorch's threads still spin made the loop
        # 15–30× slower on two cores (measured; the sums are exact either
        # way, so the bits do not change)
        with threadpool_limits(limits=1, user_api="blas"):
            for h in range(height):
                for w in range(width):
                    scales, means = position(y_hat, h, w)
                    idx = np.searchsorted(table, np.maximum(scales, bound),
                                          side="left").astype(np.int32)
                    y_hat[:, h + _PAD, w + _PAD] = code(h, w, idx, means)
        out = torch.from_numpy(y_hat[:, _PAD:-_PAD, _PAD:-_PAD].copy())
        return out[None].to(params.device)

    def _integer_position(self, params: torch.Tensor):
        """Means and scales of a position, on integers (format v2)."""
        mask = self.context_prediction.mask[0, 0].flatten().bool()
        taps = torch.arange(self.M * _K * _K).view(self.M, -1)[:, mask] \
            .flatten().numpy()
        context = _IntegerLayer(self.context_prediction, taps)
        layers = [_IntegerLayer(m) for m in self.entropy_parameters
                  if isinstance(m, nn.Conv2d)]
        slope = np.float32(next(m.negative_slope for m in
                                self.entropy_parameters
                                if isinstance(m, nn.LeakyReLU)))
        p = params[0].detach().cpu().numpy()

        def position(y_hat: np.ndarray, h: int, w: int):
            crop = y_hat[:, h:h + _K, w:w + _K].reshape(-1)[taps]
            v = np.concatenate([p[:, h, w], context(crop)])
            for i, layer in enumerate(layers):
                v = layer(v)
                if i < len(layers) - 1:
                    v = np.where(v > 0, v, v * slope)
            return v[:self.M], v[self.M:]
        return position

    def _float_position(self, params: torch.Tensor):
        """Means and scales of a position in float32 (format version 1,
        CompressAI's arithmetic: bit-exact only on the encoder's machine)."""
        def position(y_hat: np.ndarray, h: int, w: int):
            crop = torch.from_numpy(y_hat[None, :, h:h + _K, w:w + _K])
            ctx = conv(crop, self.context_prediction, padding=0)
            out = self.entropy_parameters(torch.cat(
                (params[:, :, h:h + 1, w:w + 1], ctx), 1)).flatten()
            out = out.cpu().numpy()
            return out[:self.M], out[self.M:]
        return position
