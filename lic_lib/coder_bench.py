"""The entropy coders alone: the same symbols and tables, two coders.

Introduced in the chapter {ref}`chap-complexity`.  A decoder's time is its
networks' arithmetic plus its entropy coder's; to compare coders, this
module takes the symbols and table indexes of one real call — the latent
ŷ of the mean-scale model, one call for the whole image — and codes them
with CompressAI's rANS coder and with the ANS coder of
:mod:`lic_lib.models.ans`, timing encoding and decoding and counting bytes
against the ideal ``−Σ log2 p`` of the tables.

CompressAI's coder is timed two ways: *alone* (its C++ call, the Python
lists prepared beforehand) and *as called* (with the conversions of
symbols, indexes and result that every call of its Python interface
needs).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
import pandas as pd
import torch

from .models import ans
from .models.entropy import TableCoding

__all__ = ["latent_call", "ideal_bytes", "benchmark"]


@torch.no_grad()
def latent_call(model, x: torch.Tensor
                ) -> tuple[np.ndarray, np.ndarray, TableCoding]:
    """(symbols, table indexes, entropy model) of the ŷ call of a
    mean-scale or scale hyperprior ``model`` for the padded image ``x``,
    with the entropy parameters computed as when coding (integers)."""
    from .models.exact import coding
    y = model.g_a(x)
    z = model.h_a(model._latent(y))
    eb, gc = model.entropy_bottleneck, model.gaussian_conditional
    z_hat = eb.decompress(eb.compress(z), z.shape[-2:])
    with coding():
        scales, means = model._gaussian_params(z_hat)
    symbols = gc.quantize(y, "symbols", means)
    return (symbols.cpu().numpy().astype(np.int32).ravel(),
            gc.build_indexes(scales).cpu().numpy().astype(np.int32).ravel(),
            gc)


def ideal_bytes(symbols: np.ndarray, indexes: np.ndarray,
                model: TableCoding) -> float:
    """``−Σ log2 p(symbol)`` / 8 under the integer tables (values outside
    a table counted at their escape symbol's probability)."""
    cdf, length, offset = (t.cpu().numpy().astype(np.int64) for t in (
        model._quantized_cdf, model._cdf_length, model._offset))
    v = np.clip(symbols - offset[indexes], 0, length[indexes] - 2)
    p = cdf[indexes, v + 1] - cdf[indexes, v]
    return float(np.sum(16 - np.log2(p))) / 8


def _best(fn: Callable, repeats: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best, out


def benchmark(symbols: np.ndarray, indexes: np.ndarray, model: TableCoding,
              repeats: int = 5) -> pd.DataFrame:
    """One row per coder setting: encode/decode seconds (best of
    ``repeats``), millions of symbols per second, bytes, and bytes over the
    ideal.  Every decode is checked against ``symbols``."""
    from compressai.ans import RansDecoder, RansEncoder
    lists = (symbols.tolist(), indexes.tolist(), *model.coder_tables())
    tables, n = model.ans_tables(), symbols.size
    rows = []

    def row(coder, setting, enc, dec, size, decoded):
        if not np.array_equal(np.asarray(decoded, np.int32), symbols):
            raise AssertionError(f"{coder} ({setting}) decoded other symbols")
        rows.append({"coder": coder, "setting": setting,
                     "encode [s]": enc, "decode [s]": dec,
                     "encode [Msym/s]": n / enc / 1e6,
                     "decode [Msym/s]": n / dec / 1e6, "bytes": size})

    enc, string = _best(lambda: RansEncoder().encode_with_indexes(*lists),
                        repeats)
    dec, out = _best(lambda: RansDecoder().decode_with_indexes(
        string, *lists[1:]), repeats)
    row("rANS (CompressAI)", "alone, 1 thread", enc, dec, len(string), out)
    enc, _ = _best(lambda: RansEncoder().encode_with_indexes(
        symbols.tolist(), indexes.tolist(), *lists[2:]), repeats)
    dec, out = _best(lambda: np.asarray(RansDecoder().decode_with_indexes(
        string, indexes.tolist(), *lists[2:]), np.int32), repeats)
    row("rANS (CompressAI)", "as called, 1 thread", enc, dec, len(string), out)
    for streams in (1, 2):
        enc, data = _best(lambda: ans.encode(symbols, indexes, tables,
                                             streams), repeats)
        dec, out = _best(lambda: ans.decode(data, indexes, tables), repeats)
        row("ANS (constriction)",
            f"{streams} stream{'s' * (streams > 1)}, {streams} "
            f"thread{'s' * (streams > 1)}", enc, dec, len(data), out)
    table = pd.DataFrame(rows)
    ideal = ideal_bytes(symbols, indexes, model)
    table["over ideal [%]"] = 100 * (table["bytes"] / ideal - 1)
    table.attrs.update(symbols=n, ideal_bytes=ideal)
    return table
