import json

import pytest

from lic_lib import anchors, cli, results
from lic_lib.bdrate import bd_rate
from lic_lib.metrics import ms_ssim_db

VTM = results.ANCHORS / "kodak" / "vtm.json"


def test_run_anchors_writes_schema_and_resumes(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    log = []
    paths = anchors.run_anchors("kodak", ["jpeg"], limit=1, progress=False,
                                log=log.append)
    d = json.loads(paths[0].read_text())
    assert paths[0] == tmp_path / "kodak" / "jpeg.json"
    assert d["meta"]["images"] == 1 and d["meta"]["dataset"] == "kodak"
    n = len(d["results"]["bpp"])
    assert all(len(v) == n for v in d["results"].values())
    assert anchors.run_anchors("kodak", ["jpeg"], limit=1,
                               log=log.append) == []
    assert "skipped" in log[-1]


def test_cli_bdrate_and_errors(tmp_path, capsys):
    assert cli.main(["bdrate", str(VTM), str(results.ANCHORS / "kodak" /
                                              "jpeg.json")]) == 0
    assert "BD-rate +" in capsys.readouterr().out
    far = tmp_path / "far.json"
    far.write_text(json.dumps({"name": "far", "results": {
        "bpp": [10, 20, 30], "psnr-rgb": [60, 61, 62]}}))
    assert cli.main(["bdrate", str(VTM), str(far)]) == 2
    assert "do not overlap" in capsys.readouterr().err
    assert cli.main(["anchors", "--codecs", "bpg"]) == 2
    assert "unknown codec" in capsys.readouterr().err
    assert cli.main(["data", "verify", "kodak"]) == 0
    bad = tmp_path / "bad.json"
    bad.write_text("{\"results\": {}}")
    assert cli.main(["bdrate", str(VTM), str(bad)]) == 2


def test_cli_writes_out_of_domain_set(tmp_path):
    assert cli.main(["data", "ood", str(tmp_path), "-n", "2"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "SHA256SUMS", "chart-01.png", "text-00.png"]


# -- the committed anchor results (regenerate with `make anchors`) ---------

CODECS = ["jpeg", "jpeg2000", "webp", "avif", "hevc"]


def committed(name):
    path = results.result_path("kodak", name)
    if not path.exists():
        pytest.fail(f"{path} missing: run `make anchors`")
    return results.load_rd(path)


@pytest.mark.parametrize("name", CODECS)
def test_committed_anchor_is_complete(name):
    d = committed(name)
    assert d["meta"]["images"] == 24
    r = d["results"]
    assert r["bpp"] == sorted(r["bpp"])
    assert r["psnr-rgb"] == sorted(r["psnr-rgb"])


def test_committed_anchors_are_ordered_as_expected():
    vtm = results.load_rd(VTM)["results"]

    def vs_vtm(name, metric="psnr-rgb"):
        r = committed(name)["results"]
        if metric == "ms-ssim":
            return bd_rate(vtm["bpp"], ms_ssim_db(vtm["ms-ssim-rgb"]),
                           r["bpp"], ms_ssim_db(r["ms-ssim-rgb"]))
        return bd_rate(vtm["bpp"], vtm["psnr-rgb"], r["bpp"], r["psnr-rgb"])

    bd = {c: vs_vtm(c) for c in CODECS}
    assert bd["jpeg"] > max(bd["webp"], bd["avif"], bd["hevc"]) + 30
    assert 10 < bd["hevc"] < 40           # HEVC 4:4:4 vs VVC: ~20–30 %
    assert all(v > 0 for v in bd.values())  # nothing beats VTM


def test_mean_rd_cost_recovers_the_mse_from_each_images_psnr():
    import pandas as pd
    from lic_lib.evaluate import mean_rd_cost
    rows = pd.DataFrame({"psnr-rgb": [20.0, 30.0], "bpp": [0.1, 0.5]})
    # MSE 1e-2 and 1e-3 on a 0–1 scale; the mean of the two costs, not the
    # cost of the mean PSNR
    want = ((0.0067 * 255 ** 2 * 1e-2 + 0.1) + (0.0067 * 255 ** 2 * 1e-3 + 0.5)) / 2
    assert mean_rd_cost(rows, 0.0067) == pytest.approx(want)
