"""`lic compress` / `lic decompress` with a tiny trained checkpoint."""

import numpy as np
import pytest
from PIL import Image

from lic_lib import checkpoints, cli, config
from lic_lib.codec import decode_image
from lic_lib.train import TrainConfig, train

pytestmark = pytest.mark.skipif(
    not (config.data_dir() / "train").is_dir(),
    reason="training photos not found under LIC_DATA_DIR")


@pytest.fixture(scope="module")
def shipped(tmp_path_factory):
    """A 2-step mean-scale run exported as the quality-3 checkpoint."""
    root = tmp_path_factory.mktemp("ckpt")
    run = tmp_path_factory.mktemp("run")
    cfg = TrainConfig(model="mbt2018-mean", lmbda=checkpoints.LAMBDAS[2],
                      N=16, M=24, iterations=2, batch_size=2, crop=64,
                      val_images=1, val_every=2)
    train(cfg, run, progress=False, log=lambda _: None)
    checkpoints.export_run(run, root=root)
    return root


@pytest.fixture
def ckpt(shipped, monkeypatch):
    monkeypatch.setattr(checkpoints, "CHECKPOINTS", shipped)
    return shipped


@pytest.fixture
def png(tmp_path):
    rng = np.random.default_rng(0)
    p = tmp_path / "in.png"
    Image.fromarray(rng.integers(0, 256, (37, 53, 3)).astype(np.uint8)).save(p)
    return p


def test_export_record_and_load(ckpt):
    model, rec = checkpoints.load_checkpoint("mbt2018-mean", 0.0067)
    assert rec["N"] == 16 and rec["iterations"] == 2
    path = checkpoints.checkpoint_path("mbt2018-mean", 0.0067)
    import torch
    stored = torch.load(path, weights_only=True)
    params = {n for n, _ in model.named_parameters()}
    assert {v.dtype for k, v in stored.items() if k in params} \
        == {torch.float16}
    # a bound of 1e-9 in fp16 would be 0: buffers stay fp32
    assert stored["gaussian_conditional.likelihood_lower_bound.bound"] \
        .dtype == torch.float32
    assert model.gaussian_conditional.likelihood_lower_bound.bound == 1e-9
    assert not any("_quantized_cdf" in k for k in stored)   # rebuilt on load
    assert model.g_a[0].weight.dtype == torch.float32
    assert rec["sha256"] and rec["bytes"] == path.stat().st_size


def test_compress_decompress_round_trip(ckpt, png, tmp_path, capsys):
    lic, out = tmp_path / "x.lic", tmp_path / "out.png"
    assert cli.main(["compress", str(png), str(lic), "--quality", "3"]) == 0
    assert "bpp" in capsys.readouterr().out
    assert cli.main(["decompress", str(lic), str(out)]) == 0
    got = np.asarray(Image.open(out))
    model, rec = checkpoints.load_checkpoint("mbt2018-mean", 0.0067)
    ref = decode_image(model, lic.read_bytes(), "mbt2018-mean")
    assert got.shape == (37, 53, 3) and np.array_equal(got, ref)


def test_greyscale_input_is_converted_with_a_note(ckpt, tmp_path, capsys):
    p = tmp_path / "grey.png"
    Image.fromarray(np.full((20, 30), 128, np.uint8)).save(p)
    assert cli.main(["compress", str(p), str(tmp_path / "g.lic")]) == 0
    assert "is L; coded as 8-bit RGB" in capsys.readouterr().err


def test_failures_leave_nothing_behind(ckpt, png, tmp_path, capsys):
    before = png.read_bytes()
    assert cli.main(["compress", str(png), str(png)]) == 2
    assert "overwrite the input" in capsys.readouterr().err
    assert png.read_bytes() == before
    bad = tmp_path / "bad.lic"
    bad.write_bytes(b"LIC\x89" + bytes(40))
    out = tmp_path / "never.png"
    assert cli.main(["decompress", str(bad), str(out)]) == 2
    assert not out.exists()
    assert not list(tmp_path.glob(".*.tmp"))
    txt = tmp_path / "notes.txt"
    txt.write_text("not an image")
    assert cli.main(["compress", str(txt), str(tmp_path / "n.lic")]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert not (tmp_path / "n.lic").exists()


def test_missing_or_tampered_checkpoint(ckpt, png, tmp_path, capsys):
    assert cli.main(["compress", str(png), str(tmp_path / "a.lic"),
                     "--quality", "1"]) == 2
    assert "no shipped checkpoint" in capsys.readouterr().err
    path = checkpoints.checkpoint_path("mbt2018-mean", 0.0067)
    original = path.read_bytes()
    try:
        path.write_bytes(original[:-1] + bytes([original[-1] ^ 1]))
        assert cli.main(["compress", str(png), str(tmp_path / "b.lic")]) == 2
        assert "SHA-256" in capsys.readouterr().err
    finally:
        path.write_bytes(original)


def test_evaluate_model_from_real_bytes(ckpt):
    from lic_lib.evaluate import evaluate_model, shipped_lambdas
    assert shipped_lambdas("mbt2018-mean") == [0.0067]
    d = evaluate_model("mbt2018-mean", "kodak", limit=1, save=False,
                       log=lambda _: None)
    r = d["results"]
    assert r["lmbda"] == [0.0067] and d["meta"]["images"] == 1
    # the file costs what the likelihoods predict, plus the header (37 B
    # here) and the coder's flush: a few bytes per string
    to_bytes = 768 * 512 / 8
    extra = (r["bpp"][0] - r["bpp_estimate"][0]) * to_bytes
    assert 37 <= extra < 37 + 40 + 0.02 * r["bpp_estimate"][0] * to_bytes
    assert 5 < r["psnr-rgb"][0] < 60


def test_code_ladder_reports_real_files(ckpt, png):
    """The quality slider's numbers are those of the real bitstream."""
    from lic_lib import widgets
    from lic_lib.data import load_rgb
    from lic_lib.metrics import psnr
    img = load_rgb(png)
    (p,) = widgets.code_ladder("mbt2018-mean", img)
    assert p.quality == 3 and p.lmbda == 0.0067
    model, rec = checkpoints.load_checkpoint("mbt2018-mean", 0.0067)
    from lic_lib.codec import encode_image
    data = encode_image(model, img, "mbt2018-mean",
                        tag=bytes.fromhex(rec["sha256"][:8]))
    assert p.bytes == len(data) and p.bpp == 8 * len(data) / (37 * 53)
    assert p.psnr == psnr(img, p.recon) and p.recon.shape == img.shape


def test_training_records_table(ckpt):
    t = checkpoints.training_records(["mbt2018-mean", "mbt2018"])
    assert list(t["model"]) == ["mbt2018-mean"] and t["λ"][0] == 0.0067
    assert t["iterations"][0] == 2 and t["warm start"][0] == "—"


def test_evaluate_codes_only_what_is_missing(ckpt, tmp_path, monkeypatch):
    """Measurements are kept per image (by checkpoint SHA-256, data set,
    image, device and settings): a second run codes only new images."""
    from lic_lib import evaluate, results
    monkeypatch.setattr(results, "RESULTS", tmp_path / "results")
    first = evaluate.evaluate_model("mbt2018-mean", "kodak", limit=1,
                                    log=lambda _: None)
    coded = []
    real = evaluate.encode_image
    monkeypatch.setattr(evaluate, "encode_image",
                        lambda *a, **k: coded.append(1) or real(*a, **k))
    again = evaluate.evaluate_model("mbt2018-mean", "kodak", limit=1,
                                    log=lambda _: None)
    assert again["results"] == first["results"] and not coded
    evaluate.evaluate_model("mbt2018-mean", "kodak", limit=2,
                            log=lambda _: None)
    assert len(coded) == 1                       # only the second image
    rows = (tmp_path / "results" / "kodak" / "rows" /
            "mbt2018-mean.jsonl").read_text().splitlines()
    assert len(rows) == 2


def test_profile_option_names_the_msp_model_and_lof():
    from lic_lib.cli import _model_and_lof, build_parser
    p = build_parser()
    assert _model_and_lof(p.parse_args(["compress", "a", "b", "--profile",
                                        "balanced"])) == ("msp-balanced", None)
    model, lof = _model_and_lof(p.parse_args(["eval", "--profile", "best"]))
    assert model == "msp-balanced" and lof.iterations == 200
    assert _model_and_lof(p.parse_args(["eval", "--model", "mbt2018"])) == \
        ("mbt2018", None)
    assert _model_and_lof(p.parse_args(["compress", "a", "b", "--lof",
                                        "--lof-iterations", "7"]))[1] \
        .iterations == 7
    with pytest.raises(SystemExit):
        _model_and_lof(p.parse_args(["eval", "--model", "mbt2018",
                                     "--profile", "fast"]))


def test_decode_path_loads_no_extras(ckpt, png, tmp_path):
    """`lic decompress` imports what decoding needs and nothing else of
    ours: no classical codecs, BD-rate, plots, widgets or matplotlib.
    (pandas and scipy come with compressai's own import, so they cannot
    be checked here.)"""
    import json
    import subprocess
    import sys
    lic = tmp_path / "a.lic"
    assert cli.main(["compress", str(png), str(lic), "--quality", "3"]) == 0
    probe = f"""
import sys, warnings
warnings.simplefilter("ignore")
import numpy, PIL.Image, torch, compressai
before = set(sys.modules)
from lic_lib import checkpoints, cli
checkpoints.CHECKPOINTS = __import__("pathlib").Path({str(ckpt)!r})
assert cli.main(["decompress", {str(lic)!r}, {str(tmp_path / "a.png")!r}]) == 0
print(__import__("json").dumps(sorted(set(sys.modules) - before)))
"""
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                         text=True, check=True).stdout.splitlines()[-1]
    new = json.loads(out)
    extras = ("matplotlib", "ipywidgets", "lic_lib.classic",
              "lic_lib.video_intra", "lic_lib.codec_base", "lic_lib.bdrate",
              "lic_lib.plots", "lic_lib.widgets", "lic_lib.evaluate",
              "lic_lib.report", "lic_lib.lof_report", "lic_lib.train")
    assert [m for m in new if m.split(".")[0] in extras or
            m in extras] == []
    assert "lic_lib.codec" in new                 # the probe did decode
