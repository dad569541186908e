"""The VVC wrapper (VTM 4:4:4 and VVenC 4:2:0) and the resumable codec
evaluation.  The VVC tests need the binaries of ``make vvc`` (CI does not
rebuild them); without them they are skipped with that reason."""

import dataclasses
import json

import numpy as np
import pytest

from lic_lib import classic, evaluate, results
from lic_lib.classic import CODECS, CodecUnavailable
from lic_lib.data import eval_images
from lic_lib.metrics import psnr

VTM, VVENC = CODECS["vtm"], CODECS["vvenc"]
needs_vvc = pytest.mark.skipif(
    not (VTM.available() and VVENC.available()
         and dataclasses.replace(VTM, decoder="vtm").available()),
    reason="VVC binaries absent: run `make vvc` (builds VTM, VVenC and "
           "VVdeC from ../shared/vendor into .vvc/, ~15 min on 2 cores)")


@pytest.fixture(scope="module")
def img():
    (_, a), = eval_images("kodak", limit=1)
    return a[200:237, 300:353].copy()         # 37×53: odd, not a multiple of 8


def test_missing_binaries_name_the_make_target(tmp_path, monkeypatch, img):
    monkeypatch.setenv("LIC_VVC_DIR", str(tmp_path))
    assert not VTM.available()
    with pytest.raises(CodecUnavailable, match="make vvc"):
        VTM.code(img, 32)


def test_420_chroma_keeps_flat_colour_and_halves_planes():
    planes = np.stack([np.full((6, 8), v, np.uint16) for v in (300, 700, 90)])
    y, cb, cr = classic.chroma_420(planes)
    assert cb.shape == cr.shape == (3, 4)
    assert np.array_equal(classic.chroma_444(y, cb, cr), planes)


@needs_vvc
@pytest.mark.parametrize("codec", [VTM, VVENC], ids=["vtm", "vvenc"])
def test_vvc_codes_odd_sizes_and_rate_falls_with_qp(codec, img):
    hi, lo = codec.code(img, 27), codec.code(img, 42)
    for c in (hi, lo):
        assert c.recon.shape == img.shape and c.recon.dtype == np.uint8
        assert c.data[:4] == b"\0\0\0\1"             # Annex-B start code
    assert hi.bpp > lo.bpp
    assert psnr(img, hi.recon) > psnr(img, lo.recon) + 2 > 25


@needs_vvc
def test_vvdec_decodes_vtm_streams_like_vtm(img):
    data = VTM.encode(img, 37)
    ref = dataclasses.replace(VTM, decoder="vtm").decode(data, img.shape[:2])
    assert np.array_equal(VTM.decode(data, img.shape[:2]), ref)


def test_evaluate_codec_resumes_from_cached_rows(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    d = evaluate.evaluate_codec("jpeg", params=[20, 80], limit=2,
                                log=lambda m: None)
    rows = (tmp_path / "kodak" / "rows" / "jpeg.jsonl").read_text()
    assert len(rows.splitlines()) == 4
    assert d["results"]["quality"] == [20, 80]
    assert d["meta"]["images"] == 2
    assert d["meta"]["command"].startswith("Pillow Image.save(format='JPEG'")

    def boom(*a, **k):
        raise AssertionError("a cached coding was redone")
    monkeypatch.setattr(CODECS["jpeg"], "code", boom)
    again = evaluate.evaluate_codec("jpeg", params=[20, 80], limit=2,
                                    jobs=2, log=lambda m: None)
    assert again["results"]["bpp"] == d["results"]["bpp"]
    saved = json.loads((tmp_path / "kodak" / "jpeg.json").read_text())
    assert saved["results"]["psnr-rgb"] == d["results"]["psnr-rgb"]
    table = evaluate.codec_rows("jpeg", params=[20, 80])
    assert sorted(table["image"].unique()) == ["kodim01", "kodim02"]
    assert table.groupby("quality")["bpp"].mean().tolist() == \
        d["results"]["bpp"]
