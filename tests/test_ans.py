"""The ANS coder of ``lic_lib.models.ans``: lossless, compact, strict.

Round trips on the book's own Gaussian table (64 scales) with values far
outside every table (the escape path), several streams and several calls
per string; sizes against CompressAI's coder on the same symbols; and the
errors a damaged string must raise.
"""

import numpy as np
import pytest
from compressai.ans import RansEncoder

from lic_lib.models import ans
from lic_lib.tables import GAUSSIAN_TABLES


@pytest.fixture(scope="module")
def gaussian():
    t = np.load(GAUSSIAN_TABLES)
    return (ans.CoderTables.from_cdfs(t["quantized_cdf"], t["cdf_length"],
                                      t["offset"]), t)


def _draw(n: int, rows: int, seed: int = 0):
    """Symbols of a discretised Gaussian per row, as a codec sees them."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, rows, n).astype(np.int32)
    scale = 0.11 * (256 / 0.11) ** (idx / (rows - 1))
    return np.round(rng.normal(0, scale)).astype(np.int32), idx


@pytest.mark.parametrize("streams", [1, 2, 5])
def test_round_trip_with_escapes(gaussian, streams):
    tables, _ = gaussian
    sym, idx = _draw(50_000, tables.rows)
    rng = np.random.default_rng(1)
    far = rng.choice(sym.size, 300, replace=False)
    sym[far] = rng.integers(-2 ** 30, 2 ** 30, far.size)   # escapes
    sym[far[:50]] = rng.choice([-2 ** 31 + 1, 2 ** 31 - 1], 50)
    data = ans.encode(sym, idx, tables, streams)
    assert data[0] == streams
    assert np.array_equal(ans.decode(data, idx, tables), sym)


def test_calls_in_order_with_two_tables(gaussian):
    """A stream of calls with different tables decodes call by call; an
    empty call is a call too."""
    tables, _ = gaussian
    small = ans.CoderTables.from_cdfs(np.array([[0, 30000, 65535, 65536]]),
                                      np.array([4]), np.array([-1]))
    calls = [(*_draw(700, tables.rows, 2), tables),
             (np.array([-1, 0, 5, -9], np.int32), np.zeros(4, np.int32), small),
             (np.zeros(0, np.int32), np.zeros(0, np.int32), tables),
             (*_draw(3, tables.rows, 3), tables)]
    enc = ans.StreamEncoder(streams=2)
    for s, i, t in calls:
        enc.encode(s, i, t)
    dec = ans.StreamDecoder(enc.finish())
    for s, i, t in calls:
        assert np.array_equal(dec.decode(i, t), s)
    dec.finish()


def test_size_within_a_tenth_of_a_percent_of_compressai(gaussian):
    tables, t = gaussian
    sym, idx = _draw(200_000, tables.rows, 4)
    cdfs = [list(r[:n]) for r, n in zip(t["quantized_cdf"].tolist(),
                                         t["cdf_length"].tolist())]
    theirs = RansEncoder().encode_with_indexes(
        sym.tolist(), idx.tolist(), cdfs, t["cdf_length"].tolist(),
        t["offset"].tolist())
    ours = ans.encode(sym, idx, tables)
    assert abs(len(ours) / len(theirs) - 1) < 1e-3, (len(ours), len(theirs))


def test_damaged_strings_raise(gaussian):
    tables, _ = gaussian
    sym, idx = _draw(5_000, tables.rows, 5)
    data = ans.encode(sym, idx, tables, 2)
    for bad in (b"", b"\0", bytes([65]) + data[1:], data[:3], data[:-2]):
        with pytest.raises(ans.ANSError):
            ans.decode(bad, idx, tables)
    with pytest.raises(ans.ANSError, match="more data"):   # extra words
        ans.decode(data + b"\1\0\0\0", idx, tables)


def test_bad_arguments_raise(gaussian):
    tables, _ = gaussian
    sym, idx = _draw(10, tables.rows)
    with pytest.raises(ValueError, match="same shape"):
        ans.encode(sym, idx[:5], tables)
    with pytest.raises(ValueError, match="indexes"):
        ans.encode(sym, idx + tables.rows, tables)
    with pytest.raises(ValueError, match="streams"):
        ans.encode(sym, idx, tables, 0)
    with pytest.raises(ValueError):
        ans.CoderTables.from_cdfs(np.array([[0, 65536, 65536]]),
                                  np.array([3]), np.array([0]))


def test_benchmark_codes_the_same_symbols_with_every_coder(gaussian):
    """Four settings, each decode checked inside; sizes agree and none
    beats the ideal."""
    import torch

    from lic_lib.coder_bench import benchmark, ideal_bytes
    from lic_lib.models.entropy import GaussianConditional
    _, t = gaussian
    gc = GaussianConditional(None)
    gc.update_scale_table(torch.from_numpy(t["scale_table"]))
    sym, idx = _draw(20_000, len(t["scale_table"]), 6)
    table = benchmark(sym, idx, gc, repeats=1)
    assert len(table) == 4 and (table["bytes"] >= ideal_bytes(sym, idx, gc)).all()
    assert (table["bytes"] / table["bytes"].iloc[0] - 1).abs().max() < 2e-3
