"""The reproduction report reads the result files and nothing else."""

import json
import math

import numpy as np
import pytest

from lic_lib import bdrate, joint_results, lof_report, report, results
from lic_lib.evaluate import codec_rows


def test_table_has_every_claim_with_numbers_from_the_files():
    t = report.reproduction_table()
    assert len(t) == 7
    assert list(t.columns) == ["paper", "ours", "our budget", "verdict"]
    r = {n: results.load_rd(results.result_path("kodak", n))["results"]
         for n in ("mbt2018-mean", "msp-balanced")}
    want = bdrate.bd_rate(r["mbt2018-mean"]["bpp"], r["mbt2018-mean"]["psnr-rgb"],
                          r["msp-balanced"]["bpp"], r["msp-balanced"]["psnr-rgb"])
    first = t.iloc[0]
    assert f"{want:+.1f} % vs mean-scale" in first.ours
    steps = t.loc["MSP decodes in O(1) sequential steps, AR in O(n)"]
    assert "16,385" in steps.ours and steps.verdict == "reproduced"
    assert "−2.5 / −1.0 / −1.3 %" in t.paper.tolist()


def test_anchor_falls_back_to_published_vtm_then_fails(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    label, res = report.vvc_anchor("kodak")
    assert label.startswith("VTM (published") and len(res["bpp"]) > 4
    with pytest.raises(FileNotFoundError, match="--codecs vvenc"):
        report.vvc_anchor("clic2025")
    (tmp_path / "kodak").mkdir()
    mine = {"name": "vvenc", "results": {"bpp": [0.1, 0.2],
                                         "psnr-rgb": [28.0, 31.0]}}
    (tmp_path / "kodak" / "vvenc.json").write_text(json.dumps(mine))
    assert report.vvc_anchor("kodak") == ("VVenC 4:2:0 (measured)",
                                          mine["results"])


def test_subset_results_are_compared_on_their_own_images(tmp_path, monkeypatch):
    t = report.bd_vs_vvc("kodak", ["msp-balanced", "msp-balanced+lof"],
                         ("psnr-rgb",))
    assert t.attrs["anchor"] == "VTM 4:4:4 (measured)"
    assert np.isfinite(t.values).all()      # +lof: VTM on the same images
    # ... the images the +lof file averages (coded at every λ), not every
    # image that has some LOF row
    lof = results.load_rd(results.result_path("kodak", "msp-balanced+lof"))
    imgs = lof_report.lof_pairs("msp-balanced").image.unique()
    assert len(imgs) == lof["meta"]["images"]
    vtm = codec_rows("vtm", "kodak")
    vtm = vtm[vtm.image.isin(imgs)].groupby("qp").mean(numeric_only=True)
    r = lof["results"]
    want = bdrate.bd_rate(vtm.bpp, vtm["psnr-rgb"], r["bpp"], r["psnr-rgb"])
    assert t.loc["msp-balanced+lof"].iloc[0] == pytest.approx(want)
    # without a measured anchor the LOF subset has no fair comparison
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    t = report.bd_vs_vvc("kodak", ["msp-balanced+lof"], ("psnr-rgb",))
    assert t.attrs["anchor"].startswith("VTM (published")


def test_decode_ratios_need_the_sweep(tmp_path, monkeypatch):
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    assert report.decode_ratios() is None
    (tmp_path / "complexity").mkdir()
    rows = [{"model": m, "pixels": 4, "width": 2, "height": 2, "decode_s": d,
             "entropy_s": e, "synthesis_s": d - e}
            for m, d, e in (("msp-balanced", 2.0, 0.5), ("mbt2018", 31.5, 30.0))]
    (tmp_path / "complexity" / "cpu.json").write_text(json.dumps(
        {"rows": rows, "meta": {"device": "test"}}))
    r = report.decode_ratios()
    assert r["entropy"] == 60 and r["whole"] == 15.75
    assert r["synthesis_share"] == 0.75 and r["bound"] == 21


def test_baseline_summary_adds_up_the_records_and_results():
    from lic_lib.checkpoints import training_records
    t = report.baseline_summary(["mbt2018-mean", "mbt2018"])
    rec = training_records(["mbt2018-mean"])
    ms = t.loc["mbt2018-mean"]
    assert ms["steps (all λ)"] == (rec.iterations + rec["final phase"]).sum()
    assert ms["checkpoints [MB]"] == pytest.approx(rec["size [MB]"].sum())
    r = {n: results.load_rd(results.result_path("kodak", n))["results"]
         for n in ("jpeg", "mbt2018")}
    assert t.loc["mbt2018", "BD-rate vs JPEG [%]"] == pytest.approx(
        bdrate.bd_rate(r["jpeg"]["bpp"], r["jpeg"]["psnr-rgb"],
                       r["mbt2018"]["bpp"], r["mbt2018"]["psnr-rgb"]))
    assert t.attrs["anchor"] == report.vvc_anchor("kodak")[0]


def test_a_result_file_out_of_step_with_its_rows_is_refused(tmp_path,
                                                            monkeypatch):
    import shutil
    shutil.copytree(results.RESULTS / "kodak", tmp_path / "kodak")
    path = tmp_path / "kodak" / "msp-balanced+lof.json"
    d = json.loads(path.read_text())
    d["meta"]["images"] -= 1            # as if rewritten by a partial sweep
    path.write_text(json.dumps(d))
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    with pytest.raises(ValueError, match="lof_sweep"):
        report.bd_vs_vvc("kodak", ["msp-balanced+lof"], ("psnr-rgb",))


def test_context_rates_take_each_logs_last_row_and_the_untrained_base(
        tmp_path, monkeypatch):
    monkeypatch.setattr(report, "RESULTS", tmp_path)
    folder = tmp_path / "context" / "0.0067"
    folder.mkdir(parents=True)
    head = "step,lr,train_bpp_y,kodak_bpp,seconds\n"
    (folder / "mbt2018-mean+h_s.csv").write_text(
        head + "0,0,,0.40,0\n100,0.001,0.5,0.38,1\n200,0.0001,0.5,0.37,2\n")
    (folder / "msp-s1k1.csv").write_text(head + "100,0.001,0.5,0.36,1\n")
    rates = report.context_rates(0.0067)
    assert rates.to_dict() == {"mbt2018-mean+h_s": 0.37, "msp-s1k1": 0.36,
                               "frozen base": 0.40}
    assert report.context_rates(0.013).empty


def test_reproduction_table_reports_msp_against_the_refit_control():
    rates = report.context_rates(0.0067)
    want = 100 * (rates["msp-s1k4-3x3"] / rates["mbt2018-mean+h_s"] - 1)
    first = report.reproduction_table().iloc[0]
    assert f"{want:+.1f} % vs a control with no context" in first.ours
    assert want > -8 > 100 * (rates["msp-s1k4-3x3"] / rates["frozen base"] - 1)


def test_lof_bd_gives_nan_where_the_curves_do_not_overlap(monkeypatch):
    import pandas as pd
    pairs = pd.DataFrame({
        "lmbda": [0.0035, 0.0067, 0.013], "image": ["a"] * 3,
        "bpp": [0.10, 0.13, 0.20], "psnr-rgb": [35.8, 36.9, 37.9],
        # LOF: rates all below the plain curve's, qualities inside its range
        "bpp_lof": [0.040, 0.056, 0.080], "psnr-rgb_lof": [36.6, 37.3, 37.8],
        "encoding_time": [1.0] * 3, "encoding_time_lof": [600.0] * 3})
    monkeypatch.setattr(lof_report, "lof_pairs", lambda *a: pairs)
    monkeypatch.setattr(lof_report, "image_rows", lambda *a, **k: pairs[
        ["lmbda", "image", "bpp", "psnr-rgb"]])
    g = lof_report.lof_bd("mbt2018-mean", "clic2025")
    assert np.isnan(g["BD-PSNR [dB]"])               # no common rate range
    assert g["BD-rate LOF vs plain [%]"] == pytest.approx(bdrate.bd_rate(
        pairs.bpp, pairs["psnr-rgb"], pairs.bpp_lof, pairs["psnr-rgb_lof"]))
    assert g["BD-rate LOF vs plain [%]"] < -40 and g["encode time ×"] == 600


def test_reproduction_table_reports_the_gpu_sweep_beside_the_cpu_one():
    g, c = report.decode_ratios("gpu"), report.decode_ratios("cpu")
    row = report.reproduction_table().loc["> 20× faster decoding than AR at 2K"]
    assert f"whole decode {g['whole']:.0f}×" in row.ours and g["device"] in row.ours
    assert f"entropy decoding {c['entropy']:.0f}×" in row.ours
    assert row.verdict.startswith("reproduced on the GPU") == (g["whole"] >= 20)


def test_vvc_rows_of_other_files_give_the_documented_error(monkeypatch):
    import pandas as pd

    from lic_lib import evaluate
    monkeypatch.setattr(evaluate, "codec_rows", lambda *a, **k: pd.DataFrame())
    with pytest.raises(FileNotFoundError, match="other files"):
        report.bd_vs_vvc("kodak", ["mbt2018-mean"])


def test_joint_msp_is_compared_with_the_ar_ladder_at_its_own_psnr():
    j = json.loads((results.RESULTS / "experiments" / "msp_joint.json")
                   .read_text())["runs"]["0.0067"]
    e2e = joint_results.joint_point()
    ar = results.load_rd(results.result_path("kodak", "mbt2018"))["results"]
    # the AR ladder's rate at the end-to-end model's PSNR, interpolated in
    # log-rate between its two neighbouring λ points, brackets the answer
    p, b = j["kodak"]["psnr-rgb"], j["kodak"]["bpp"]
    i = np.searchsorted(ar["psnr-rgb"], p)
    lo, hi = (100 * (b / ar["bpp"][k] - 1) for k in (i, i - 1))
    assert lo - 1e-9 <= e2e["rate vs AR [%]"] <= hi + 1e-9
    assert e2e["steps"] == 44_000          # the shipped AR model's recipe
    assert j["recipe"]["train_config"] == {
        **json.loads(results.DATA.joinpath(
            "checkpoints", "mbt2018", "0.0067.json").read_text())
        ["train_config"], "model": "msp-balanced"}
    row = report.reproduction_table().iloc[0]
    assert f"0.0067 ({e2e['rate vs AR [%]']:+.1f} %)" in row.ours


def test_joint_runs_follow_the_ar_recipe_at_every_lambda():
    for model in joint_results.FILES:
        runs = joint_results.joint_runs(model)
        lad = joint_results.joint_ladder(model)
        assert set(runs) == {f"{lam:g}" for lam in lad["lambdas"]}
        assert [p["lmbda"] for p in lad["points"]] == sorted(lad["lambdas"])
        for lam in lad["lambdas"]:         # the AR model's recipe at every λ,
            cfg = json.loads(results.DATA.joinpath(  # warm-started from this model's run
                "checkpoints", "mbt2018", f"{lam:g}.json").read_text())["train_config"]
            init = cfg["init_from"] and cfg["init_from"].replace(
                "runs/mbt2018/", f"runs/joint/{model}/")
            assert runs[f"{lam:g}"]["recipe"]["train_config"] == {
                **cfg, "model": model, "init_from": init}
        assert lad["steps"] == sum(r["recipe"]["train_config"]["iterations"]
                                   + r["recipe"]["train_config"]["finetune_iterations"]
                                   for r in runs.values())
        assert (lad["BD-rate vs AR [%]"] is None) == (
            len(runs) < joint_results.MIN_BD_POINTS)


def test_joint_ladder_measures_a_curve_against_the_ar_ladder(monkeypatch):
    ar = joint_results.kodak_ar()

    def fake(n):           # the AR ladder's own points, each 5 % more bits
        return {f"{lam:g}": {
            "lmbda": lam, "kodak": {"bpp": 1.05 * b, "psnr-rgb": q, "rd_cost": 1.0},
            "shipped": {"mbt2018": {"rd_cost": 1.0}}, "recipe": {
                "wall_time_s": 3600, "train_config": {"iterations": 8, "finetune_iterations": 2}}}
            for lam, b, q in list(zip(ar["lmbda"], ar["bpp"], ar["psnr-rgb"]))[:n]}

    monkeypatch.setattr(joint_results, "joint_runs", lambda model: fake(5))
    lad = joint_results.joint_ladder("pms-base")
    assert lad["BD-rate vs AR [%]"] == pytest.approx(5.0, abs=1e-6)   # not −4.76: not swapped
    assert all(p["rate vs AR [%]"] == pytest.approx(5.0) for p in lad["points"])
    assert (lad["steps"], lad["hours"]) == (50, 5.0)
    monkeypatch.setattr(joint_results, "joint_runs", lambda model: fake(2))
    assert joint_results.joint_ladder("pms-base")["BD-rate vs AR [%]"] is None


def test_a_point_beyond_the_ar_ladder_is_nan_not_extrapolated():
    ar = joint_results.kodak_ar()
    lo, hi = min(ar["psnr-rgb"]), max(ar["psnr-rgb"])
    assert math.isnan(joint_results.rate_vs_ar(ar, 0.1, lo - 0.01))
    assert math.isnan(joint_results.rate_vs_ar(ar, 1.0, hi + 0.01))
    i = int(np.argmin(ar["psnr-rgb"]))           # its own end point: 0 %
    assert joint_results.rate_vs_ar(ar, ar["bpp"][i], lo) == pytest.approx(0, abs=1e-9)


def test_lof_without_z_pairs_only_rows_of_the_shipped_checkpoints(
        tmp_path, monkeypatch):
    from lic_lib.evaluate import shipped_checkpoints
    monkeypatch.setattr(lof_report, "WITHOUT_Z", tmp_path / "none.jsonl")
    assert lof_report.lof_without_z().empty            # nothing measured yet
    sha = shipped_checkpoints("msp-balanced")
    pairs = lof_report.lof_pairs("msp-balanced")
    lams = sorted(pairs.lmbda.unique())
    rows = [{"model": "msp-balanced", "lmbda": lam, "image": img,
             "sha256": sha[lam], "bpp": 0.1 + lam, "lof_cost": 1.0}
            for lam in lams for img in ("kodim01", "kodim02")]
    rows[0]["sha256"] = "0" * 64     # kodim01, first λ: another checkpoint
    rows.append({**rows[1], "model": "mbt2018-mean", "bpp": 9.0})
    path = tmp_path / "without_z.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    monkeypatch.setattr(lof_report, "WITHOUT_Z", path)
    t = lof_report.lof_without_z("msp-balanced")
    assert set(t.image) == {"kodim02"}     # kodim01 lacks a λ on the shipped
    assert sorted(t.lmbda) == lams
    got = t.set_index(["lmbda", "image"]).loc[(lams[0], "kodim02")]
    want = pairs.set_index(["lmbda", "image"]).loc[(lams[0], "kodim02")]
    assert got.bpp == want.bpp and got.lof_cost == want.lof_cost
    assert got.bpp_y == pytest.approx(0.1 + lams[0]) and got.lof_cost_y == 1.0

