"""Table-driven ANS coding with ``constriction``, split into streams.

CompressAI's rANS coder takes its symbols, indexes and CDF tables as
Python lists at every call and codes one symbol at a time in C++ with a
per-symbol table lookup; at 2K that is a million-symbol call whose list
conversions cost as much as the coding.  This module codes the *same*
symbols with the *same* integer tables (CompressAI's quantized CDFs,
16-bit precision, with its escape symbol for values outside a table) on
`constriction`'s ANS coder (Bamler 2022, a Rust library), vectorised:

* the decoder knows every symbol's table index before it decodes, so the
  encoder may code the symbols *grouped by table* (a stable sort of the
  indexes, which the decoder repeats) and each group is one call with one
  categorical model — no per-symbol Python;
* values outside a table (CompressAI's "overflow") are coded after the
  grouped symbols, as in CompressAI: an escape symbol in the table, then
  the value's bit count and its bits with uniform models;
* a call's symbols can be split into ``streams`` contiguous chunks, each
  coded independently and decodable by its own thread.  The book's files
  use one stream: `constriction` (like CompressAI's coder) holds Python's
  GIL while it codes, so two threads take as long as one (measured in
  the complexity chapter) while every extra stream costs a few bytes.
  The format keeps the count, so a coder that releases the GIL, or a GPU,
  can decode such files in parallel.

Everything the decoder does is integer arithmetic or exact float64
operations on integers below 2^17 (the table's probabilities), so the
decoded symbols do not depend on the machine.  The byte layout is part of
the ``.lic`` format (coder 1 of version 2): ``streams`` S (one byte), the
word count of every stream but the last (uint32 little-endian), then each
stream's 32-bit words, little-endian; of a call's n symbols (in the
order of its indexes) stream k holds those from ⌊nk/S⌋ to ⌊n(k+1)/S⌋.
"""

from __future__ import annotations

import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import constriction
import numpy as np

__all__ = ["CoderTables", "encode", "decode", "StreamEncoder",
           "StreamDecoder", "ANSError", "MAX_STREAMS"]

MAX_STREAMS = 64
_OVERFLOW_BITS = 32          # an overflow value must fit 32 bits (zig-zag)
_CHUNK = 16                  # uniform models code at most 16 bits at once
_POOL = ThreadPoolExecutor(max_workers=2, thread_name_prefix="ans")


class ANSError(ValueError):
    """The bytes are not a valid stream for these tables and indexes."""


@dataclass(frozen=True)
class CoderTables:
    """One categorical model per table row, from integer CDF tables
    (:meth:`from_cdfs`): row ``i`` codes the values ``offset[i]`` …
    ``offset[i] + top[i] − 1`` and, with its symbol ``top[i]``, the escape
    for any other value."""

    models: tuple
    offset: np.ndarray
    top: np.ndarray                 #: each row's escape symbol

    @classmethod
    def from_cdfs(cls, cdf: np.ndarray, length: np.ndarray,
                  offset: np.ndarray) -> "CoderTables":
        """From ``cdf`` (rows × width), ``length`` and ``offset`` (rows) as
        CompressAI stores them (a row's CDF has ``length`` entries, the
        last two for the escape symbol and the end)."""
        cdf = np.asarray(cdf, np.int64)
        length = np.asarray(length, np.int32).reshape(-1)
        offset = np.asarray(offset, np.int32).reshape(-1)
        if cdf.ndim != 2 or len(cdf) != len(length) or len(offset) != len(length):
            raise ValueError("cdf (rows × width), length and offset must "
                             "describe the same rows")
        models = []
        for row, n in zip(cdf, length):
            pmf = np.diff(row[:n]).astype(np.float64)   # exact: integers < 2^17
            if n < 3 or (pmf <= 0).any():
                raise ValueError("every CDF row needs ≥ 2 symbols of "
                                 "non-zero probability")
            models.append(constriction.stream.model.Categorical(
                pmf, perfect=False))
        return cls(tuple(models), offset, length - 2)

    @property
    def rows(self) -> int:
        return len(self.models)


# --- one stream -----------------------------------------------------------

def _grouping(indexes: np.ndarray, rows: int
              ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The order in which symbols are coded (grouped by table row, stable),
    the rows present and their symbol counts: all follow from the indexes
    alone, so the decoder finds them as the encoder did."""
    small = indexes.astype(np.uint8 if rows <= 256 else np.uint16)
    order = np.argsort(small, kind="stable")          # a radix sort
    counts = np.bincount(small, minlength=rows)
    present = np.flatnonzero(counts)
    return order, present, counts[present]


def _overflow_parts(raw: np.ndarray) -> tuple[np.ndarray, list]:
    """Bit counts − 1 and (values, sizes) chunks of the overflow values:
    each ``raw ≥ 1`` is its leading 1 bit (implied by the count) and
    ``count − 1`` bits in chunks of at most 16."""
    nbits = sum((raw >> k > 0).astype(np.int64) for k in range(_OVERFLOW_BITS))
    rest = raw - (np.int64(1) << (nbits - 1))      # below the leading one
    chunks = []
    for shift in range(0, _OVERFLOW_BITS, _CHUNK):
        width = np.clip(nbits - 1 - shift, 0, _CHUNK)
        keep = width > 0
        if keep.any():
            chunks.append((((rest[keep] >> shift) & ((1 << _CHUNK) - 1))
                           .astype(np.int32), (1 << width[keep]).astype(np.int32)))
    return (nbits - 1).astype(np.int32), chunks


def _encode_into(coder, symbols: np.ndarray, indexes: np.ndarray,
                 tables: CoderTables) -> None:
    """Push one call's symbols onto ``coder`` (a stack: the call decoded
    first must be pushed last)."""
    order, rows, counts = _grouping(indexes, tables.rows)
    value = (symbols[order].astype(np.int64)       # grouped by table row
             - np.repeat(tables.offset[rows], counts))
    top = np.repeat(tables.top[rows], counts)      # the escape symbols
    below, above = value < 0, value >= top
    escaped = below | above
    if escaped.any():            # decoded after the symbols: pushed first
        raw = np.where(below, -2 * value - 1, 2 * (value - top))[escaped] + 1
        if int(raw.max()) >= 1 << _OVERFLOW_BITS:
            raise ValueError("a value lies more than 2^31 outside its table")
        nbits, chunks = _overflow_parts(raw)
        for vals, sizes in reversed(chunks):
            coder.encode_reverse(vals, constriction.stream.model.Uniform(), sizes)
        coder.encode_reverse(nbits, constriction.stream.model.Uniform(_OVERFLOW_BITS))
        value = np.where(escaped, top, value)
    value = value.astype(np.int32)
    ends = np.cumsum(counts).tolist()
    for row, count, end in reversed(list(zip(rows.tolist(), counts.tolist(),
                                             ends))):
        coder.encode_reverse(value[end - count:end], tables.models[row])


def _encode_one(calls: list) -> np.ndarray:
    """The words of one stream holding ``calls`` [(symbols, indexes,
    tables)], decoded in that order."""
    coder = constriction.stream.stack.AnsCoder()
    for symbols, indexes, tables in reversed(calls):
        _encode_into(coder, symbols, indexes, tables)
    return coder.get_compressed()


def _decode_from(coder, indexes: np.ndarray, tables: CoderTables
                 ) -> np.ndarray:
    """Pop one call's symbols from ``coder``."""
    order, rows, counts = _grouping(indexes, tables.rows)
    parts = [coder.decode(tables.models[row], count)
             for row, count in zip(rows.tolist(), counts.tolist())]
    value = np.concatenate(parts) if parts else np.zeros(0, np.int32)
    top = np.repeat(tables.top[rows], counts)          # grouped by row
    escaped = np.flatnonzero(value == top)
    if escaped.size:
        nbits = coder.decode(constriction.stream.model.Uniform(_OVERFLOW_BITS),
                             escaped.size).astype(np.int64)
        raw = np.int64(1) << nbits
        for shift in range(0, _OVERFLOW_BITS, _CHUNK):
            width = np.clip(nbits - shift, 0, _CHUNK)
            keep = width > 0
            if keep.any():
                vals = coder.decode(constriction.stream.model.Uniform(),
                                    (1 << width[keep]).astype(np.int32))
                raw[keep] += vals.astype(np.int64) << shift
        raw -= 1
        value[escaped] = np.where(raw % 2 == 1, -(raw + 1) // 2,
                                  raw // 2 + top[escaped])
    value += np.repeat(tables.offset[rows], counts)
    out = np.empty(indexes.size, np.int32)
    out[order] = value
    return out


# --- a call: one or more streams ------------------------------------------

def _map(fn, items: list) -> list:
    """``fn`` over ``items``: in the thread pool when there are several
    streams (NumPy's share of the work runs in parallel, the coder's does
    not: it holds the GIL), directly for one (no hand-off cost)."""
    return [fn(items[0])] if len(items) == 1 else list(_POOL.map(fn, items))


def _splits(n: int, streams: int) -> list[slice]:
    """``streams`` contiguous, nearly equal chunks of ``n`` symbols."""
    edges = [n * k // streams for k in range(streams + 1)]
    return [slice(a, b) for a, b in zip(edges[:-1], edges[1:])]


def _check(indexes: np.ndarray, tables: CoderTables,
           symbols: np.ndarray | None = None) -> None:
    if symbols is not None and symbols.shape != indexes.shape:
        raise ValueError("symbols and indexes must have the same shape")
    if indexes.size and (indexes.min() < 0 or indexes.max() >= tables.rows):
        raise ValueError(f"indexes must lie in 0 … {tables.rows - 1}")


def _pack(streams: list[np.ndarray]) -> bytes:
    head = struct.pack(f"<B{len(streams) - 1}I", len(streams),
                       *(s.size for s in streams[:-1]))
    return head + b"".join(s.astype("<u4").tobytes() for s in streams)


def _unpack(data: bytes) -> list[np.ndarray]:
    if not data:
        raise ANSError("empty string")
    count = data[0]
    if not 1 <= count <= MAX_STREAMS:
        raise ANSError(f"{count} streams (1 … {MAX_STREAMS} allowed)")
    head = 1 + 4 * (count - 1)
    if len(data) < head or (len(data) - head) % 4:
        raise ANSError("truncated stream header or words")
    sizes = list(struct.unpack_from(f"<{count - 1}I", data, 1))
    total = (len(data) - head) // 4
    if sum(sizes) > total:
        raise ANSError("stream sizes exceed the data")
    words = np.frombuffer(data, "<u4", offset=head).astype(np.uint32)
    edges = np.cumsum([0] + sizes + [total - sum(sizes)])
    return [words[a:b] for a, b in zip(edges[:-1], edges[1:])]


def encode(symbols: np.ndarray, indexes: np.ndarray, tables: CoderTables,
           streams: int = 1) -> bytes:
    """Code ``symbols`` (any integers) with the table row of each
    ``indexes`` entry, split into ``streams`` independent streams."""
    symbols, indexes = np.ravel(symbols), np.ravel(indexes)
    _check(indexes, tables, symbols)
    if not 1 <= streams <= MAX_STREAMS:
        raise ValueError(f"streams must lie in 1 … {MAX_STREAMS}")
    parts = _splits(symbols.size, streams)
    return _pack(_map(lambda s: _encode_one(
        [(symbols[s], indexes[s], tables)]), parts))


def decode(data: bytes, indexes: np.ndarray, tables: CoderTables
           ) -> np.ndarray:
    """The symbols :func:`encode` coded (int32, the shape of ``indexes``);
    :class:`ANSError` if ``data`` is not such a string."""
    decoder = StreamDecoder(data)
    out = decoder.decode(indexes, tables)
    decoder.finish()
    return out


class StreamEncoder:
    """Many calls in one string (the steps of a progressive model, the
    positions of an AR loop): symbols are buffered per call and coded at
    :meth:`finish`, each call split into ``streams`` chunks."""

    def __init__(self, streams: int = 1):
        if not 1 <= streams <= MAX_STREAMS:
            raise ValueError(f"streams must lie in 1 … {MAX_STREAMS}")
        self._calls: list[list] = [[] for _ in range(streams)]

    def encode(self, symbols: np.ndarray, indexes: np.ndarray,
               tables: CoderTables) -> None:
        symbols, indexes = np.ravel(symbols), np.ravel(indexes)
        _check(indexes, tables, symbols)
        for calls, s in zip(self._calls, _splits(symbols.size, len(self._calls))):
            calls.append((symbols[s], indexes[s], tables))

    def finish(self) -> bytes:
        return _pack(_map(_encode_one, self._calls))


class StreamDecoder:
    """Decodes the calls of a :class:`StreamEncoder` string in order, the
    streams of each call in the thread pool."""

    def __init__(self, data: bytes):
        self._coders = [constriction.stream.stack.AnsCoder(w)
                        for w in _unpack(data)]

    def decode(self, indexes: np.ndarray, tables: CoderTables) -> np.ndarray:
        shape, indexes = np.shape(indexes), np.ravel(indexes)
        _check(indexes, tables)
        parts = _splits(indexes.size, len(self._coders))
        try:
            out = _map(lambda p: _decode_from(p[0], indexes[p[1]], tables),
                       list(zip(self._coders, parts)))
        except (ValueError, AssertionError, RuntimeError) as e:
            raise ANSError(f"invalid stream: {e}") from e   # constriction's
        return np.concatenate(out).reshape(shape)

    def finish(self) -> None:
        """Raise :class:`ANSError` unless every stream was read to its end."""
        if not all(c.is_empty() for c in self._coders):
            raise ANSError("the string holds more data than its symbols")
