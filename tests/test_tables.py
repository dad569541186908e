"""The entropy coder's integer tables ship with the checkpoints.

Nothing float may be recomputed on the decoding machine: loading a shipped
checkpoint must not call CompressAI's ``update()``, and the tables must be
the files whose SHA-256 the records (and the format) fix.
"""

import shutil

import numpy as np
import pytest
import torch
from compressai.entropy_models import EntropyBottleneck
from compressai.entropy_models import GaussianConditional as StockGaussian
from compressai.models.base import get_scale_table

from lic_lib import checkpoints as ck
from lic_lib.data import sha256
from lic_lib.tables import (GAUSSIAN_SHA256, GAUSSIAN_TABLES, _save,
                            tables_path)


def test_gaussian_table_is_the_format_s_and_a_valid_cdf():
    assert sha256(GAUSSIAN_TABLES) == GAUSSIAN_SHA256
    with np.load(GAUSSIAN_TABLES) as t:
        cdf, length = t["quantized_cdf"], t["cdf_length"]
        assert len(t["scale_table"]) == len(cdf) == 64
    for row, n in zip(cdf, length):
        assert row[0] == 0 and row[n - 1] == 1 << 16
        assert (np.diff(row[:n]) > 0).all()       # every symbol codable
    stock = StockGaussian(None)                   # close to what CompressAI
    stock.update_scale_table(get_scale_table())   # computes on this machine
    assert np.abs(stock._quantized_cdf.numpy() - cdf).max() <= 2


def test_loading_computes_no_table(monkeypatch):
    def refuse(*a, **k):
        raise AssertionError("a table was recomputed in float")
    monkeypatch.setattr(EntropyBottleneck, "update", refuse)
    monkeypatch.setattr(StockGaussian, "update", refuse)
    for model in ("bmshj2018-factorized", "mbt2018-mean", "msp-balanced"):
        net, _ = ck.load_checkpoint(model, 0.0067)
        assert net.entropy_bottleneck._quantized_cdf.numel() > 0


def test_a_changed_table_is_refused(tmp_path):
    root = tmp_path / "ckpt"
    src = ck.checkpoint_path("mbt2018-mean", 0.0067)
    dst = ck.checkpoint_path("mbt2018-mean", 0.0067, root)
    dst.parent.mkdir(parents=True)
    for suffix in (".pt", ".json", ".tables.npz"):
        shutil.copyfile(src.with_suffix(suffix), dst.with_suffix(suffix))
    ck.load_checkpoint("mbt2018-mean", 0.0067, root=root)
    with np.load(tables_path(dst)) as t:
        arrays = dict(t)
    arrays["quantized_cdf"][0, 1] += 1
    _save(tables_path(dst), arrays)
    with pytest.raises(ck.CheckpointError, match="SHA-256"):
        ck.load_checkpoint("mbt2018-mean", 0.0067, root=root)
    tables_path(dst).unlink()
    with pytest.raises(ck.CheckpointError, match="missing"):
        ck.load_checkpoint("mbt2018-mean", 0.0067, root=root)


def test_table_files_depend_on_their_arrays_only(tmp_path):
    arrays = {"a": np.arange(5, dtype=np.int32), "b": np.ones((2, 3))}
    _save(tmp_path / "1.npz", arrays)
    _save(tmp_path / "2.npz", arrays)
    assert sha256(tmp_path / "1.npz") == sha256(tmp_path / "2.npz")
    with np.load(tmp_path / "1.npz") as t:
        assert torch.equal(torch.from_numpy(t["a"]), torch.arange(5,
                                                                  dtype=torch.int32))
