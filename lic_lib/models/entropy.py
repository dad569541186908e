"""Entropy models coded with integer tables, by either of two coders.

Every model of the book codes its latents with CompressAI's entropy models
(the entropy bottleneck, the Gaussian conditional) and their integer CDF
tables.  What turns symbols and tables into bytes is the *coder*, chosen
per file and named in its header:

* ``"ans"`` (the default, :data:`DEFAULT_CODER`): :mod:`lic_lib.models.ans`, `constriction`'s ANS
  coder, vectorised by table row (a call may be split into streams; the
  files of the book use one, see that module);
* ``"rans"``: CompressAI's rANS coder, one symbol at a time, fed Python
  lists — the coder of the book's first files, still read, and the one
  the AR model prefers (``preferred_coder``): its loop makes one call of
  96 symbols per position, where CompressAI's coder costs less per call
  (measured in the complexity chapter).

Both code the same symbols with the same tables, so a model's rate is the
same up to a few bytes per string.  For CompressAI's coder this module
converts the tables to lists once (after each ``update``) instead of at
every call: the AR model's loop makes one call per latent position (more
than 10,000 at 2K), and converting a 64 × 3,133 table each time would be an
artefact of the implementation, not of the AR design.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from contextvars import ContextVar
from functools import wraps
from typing import Iterator

import numpy as np
import torch
from compressai.ans import BufferedRansEncoder, RansDecoder
from compressai.entropy_models import EntropyBottleneck as _Bottleneck
from compressai.entropy_models import EntropyModel
from compressai.entropy_models import GaussianConditional as _Gaussian

from . import ans

__all__ = ["GaussianConditional", "EntropyBottleneck", "CODERS",
           "entropy_coder", "current_coder", "StreamEncoder",
           "StreamDecoder", "coder_clock", "DEFAULT_CODER"]

#: The coders a file can name (``bitstream`` gives them ids).
CODERS = ("rans", "ans")
_CODER: ContextVar[str | None] = ContextVar("lic_coder", default=None)
#: The coder of a model that does not prefer another (``preferred_coder``).
DEFAULT_CODER = "ans"
_CLOCK: ContextVar[list | None] = ContextVar("lic_coder_clock", default=None)


@contextmanager
def entropy_coder(name: str) -> Iterator[None]:
    """Code (or decode) with coder ``name`` inside the block."""
    if name not in CODERS:
        raise ValueError(f"coder must be one of {', '.join(CODERS)}")
    token = _CODER.set(name)
    try:
        yield
    finally:
        _CODER.reset(token)


def current_coder(model=None) -> str:
    """The coder :func:`entropy_coder` set; outside such a block,
    ``model``'s ``preferred_coder`` if it has one, else
    :data:`DEFAULT_CODER`."""
    return _CODER.get() or getattr(model, "preferred_coder", DEFAULT_CODER)


@contextmanager
def coder_clock() -> Iterator[list[float]]:
    """Seconds spent inside the coder in the block (``clock[0]``): every
    method of :class:`StreamEncoder` and :class:`StreamDecoder`, which all
    coding goes through — symbols and tables in, bytes or symbols out.
    The rest of a decode is the networks' arithmetic."""
    clock = [0.0]
    token = _CLOCK.set(clock)
    try:
        yield clock
    finally:
        _CLOCK.reset(token)


def _timed(method):
    """Add the time of ``method`` to the active :func:`coder_clock`."""
    @wraps(method)
    def timed(*args, **kwargs):
        clock = _CLOCK.get()
        if clock is None:
            return method(*args, **kwargs)
        t = time.perf_counter()
        try:
            return method(*args, **kwargs)
        finally:
            clock[0] += time.perf_counter() - t
    return timed


class TableCoding(EntropyModel):
    """``compress``/``decompress`` of CompressAI's ``EntropyModel`` (same
    contract, same tables) with the coder of :func:`current_coder`."""

    _lists_of: tuple = ()           # the tensors (and versions) they come from
    _ans_of: tuple = ()

    def __getstate__(self) -> dict:
        """Without the coder caches (rebuilt on use): `constriction`'s
        models cannot be pickled, and a model must stay copyable
        (``copy.deepcopy``, ``torch.save``) after it has coded."""
        return {k: v for k, v in super().__getstate__().items()
                if k not in ("_lists_of", "_ans_of")}

    def _source(self) -> tuple[tuple, tuple]:
        self._check_cdf_size()
        self._check_cdf_length()
        self._check_offsets_size()
        source = (self._quantized_cdf, self._cdf_length, self._offset)
        return source, tuple(t._version for t in source)

    @staticmethod
    def _stale(cached: tuple, source: tuple, versions: tuple) -> bool:
        return len(cached) != 3 or versions != cached[1] or \
            any(a is not b for a, b in zip(source, cached[0]))

    def coder_tables(self, rows: int | None = None
                     ) -> tuple[list[list[int]], list[int], list[int]]:
        """(CDFs, each trimmed to its length; CDF lengths; offsets) as
        CompressAI's rANS coder takes them, rebuilt only when ``update`` or
        a state dict changed the CDF tensor.

        ``rows`` keeps the first ``rows`` scales only: enough for a call
        whose largest index is ``rows − 1``.  That coder converts whatever
        it is given at every call, and the CDFs grow with the scale (5 to
        1,300 entries here), so the few wide scales an image never uses
        would cost most of that conversion."""
        source, versions = self._source()
        if self._stale(self._lists_of, source, versions):
            cdf, length, offset = source
            lengths = length.reshape(-1).int().tolist()
            self._lists_of = (source, versions, (
                [row[:n] for row, n in zip(cdf.tolist(), lengths)],
                lengths, offset.reshape(-1).int().tolist()))
        tables = self._lists_of[2]
        return tables if rows is None else tuple(t[:rows] for t in tables)

    def ans_tables(self) -> ans.CoderTables:
        """The same tables as :mod:`~lic_lib.models.ans` models, built once
        per CDF tensor."""
        source, versions = self._source()
        if self._stale(self._ans_of, source, versions):
            self._ans_of = (source, versions, ans.CoderTables.from_cdfs(
                *(t.cpu().numpy() for t in source)))
        return self._ans_of[2]

    def compress(self, inputs: torch.Tensor, indexes: torch.Tensor,
                 means: torch.Tensor | None = None) -> list[bytes]:
        """One string per batch element (CompressAI's contract)."""
        if inputs.dim() < 2 or inputs.size() != indexes.size():
            raise ValueError("`inputs` and `indexes` must have the same "
                             "size, with at least 2 dimensions")
        symbols = self.quantize(inputs, "symbols", means)
        out = []
        for s, i in zip(symbols, indexes):
            encoder = StreamEncoder(self)
            encoder.encode(s, i)
            out.append(encoder.finish())
        return out

    def decompress(self, strings: list[bytes], indexes: torch.Tensor,
                   dtype: torch.dtype = torch.float,
                   means: torch.Tensor | None = None) -> torch.Tensor:
        """The dequantised values of ``strings`` (CompressAI's contract)."""
        if not isinstance(strings, (tuple, list)) or \
                len(strings) != indexes.size(0) or indexes.dim() < 2:
            raise ValueError("one string per batch element of `indexes` "
                             "(at least 2 dimensions) is expected")
        symbols = []
        for s, i in zip(strings, indexes):
            decoder = StreamDecoder(self, s)
            symbols.append(torch.from_numpy(decoder.decode(i)).reshape(i.shape))
            decoder.finish()
        return self.dequantize(torch.stack(symbols).to(indexes.device), means,
                               dtype)


class GaussianConditional(_Gaussian, TableCoding):
    """CompressAI's ``GaussianConditional`` coded by :class:`TableCoding`."""

    def build_indexes(self, scales: torch.Tensor) -> torch.Tensor:
        """CompressAI's indexes (the number of table scales below each
        bounded scale) in one ``bucketize`` instead of a loop of 64
        comparisons over the tensor: ≈ 0.25 ms less per call."""
        return torch.bucketize(self.lower_bound_scale(scales),
                               self.scale_table[:-1]).int()


class EntropyBottleneck(_Bottleneck, TableCoding):
    """CompressAI's ``EntropyBottleneck`` coded by :class:`TableCoding`."""


def _rows(indexes: np.ndarray) -> int:
    """Table rows a CompressAI coder call needs (at least one: a call can
    be empty, as a step of ``pms-extra`` on a scale two columns wide)."""
    return int(indexes.max()) + 1 if indexes.size else 1


def _array(t) -> np.ndarray:
    if isinstance(t, torch.Tensor):
        t = t.detach().cpu().numpy()
    return np.ascontiguousarray(t, dtype=np.int32).reshape(-1)


class StreamEncoder:
    """Many calls in one string, for decoders that interleave coding with
    computing (the AR loop, the progressive steps): ``encode`` each call's
    symbols (``round(y − μ)``) and table indexes in decoding order, then
    ``finish``.  ``streams`` applies to the ``ans`` coder (see
    :mod:`~lic_lib.models.ans` for why the book's files use one)."""

    @_timed
    def __init__(self, model: TableCoding, streams: int = 1):
        self._model, self._coder = model, current_coder()
        self._enc = (ans.StreamEncoder(streams) if self._coder == "ans"
                     else BufferedRansEncoder())

    @_timed
    def encode(self, symbols, indexes) -> None:
        symbols, indexes = _array(symbols), _array(indexes)
        if self._coder == "ans":
            self._enc.encode(symbols, indexes, self._model.ans_tables())
        else:
            self._enc.encode_with_indexes(
                symbols.tolist(), indexes.tolist(),
                *self._model.coder_tables(_rows(indexes)))

    @_timed
    def finish(self) -> bytes:
        return self._enc.finish() if self._coder == "ans" else self._enc.flush()


class StreamDecoder:
    """Decodes, call by call, a string of :class:`StreamEncoder` (or of a
    single ``compress`` call) with the coder of :func:`current_coder`."""

    @_timed
    def __init__(self, model: TableCoding, data: bytes):
        self._model, self._coder = model, current_coder()
        if self._coder == "ans":
            self._dec = ans.StreamDecoder(data)
        else:
            self._dec = RansDecoder()
            self._dec.set_stream(data)

    @_timed
    def decode(self, indexes) -> np.ndarray:
        """The symbols of the next call (int32, flat)."""
        indexes = _array(indexes)
        if self._coder == "ans":
            return self._dec.decode(indexes, self._model.ans_tables())
        return np.asarray(self._dec.decode_stream(
            indexes.tolist(), *self._model.coder_tables(_rows(indexes))),
            np.int32)

    @_timed
    def finish(self) -> None:
        """For ``ans``: raise :class:`~lic_lib.models.ans.ANSError` unless
        every stream was read to its end (CompressAI's coder cannot tell)."""
        if self._coder == "ans":
            self._dec.finish()
