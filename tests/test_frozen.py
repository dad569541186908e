"""Context models on the frozen mean-scale model: they start exactly at
the mean-scale rate, train only their own parameters, resume exactly, and
ship as their own weights plus a checked reference to the base."""

import json
import shutil

import pytest
import torch

from lic_lib import checkpoints as ck
from lic_lib.context_export import export_context
from lic_lib.frozen import (FrozenConfig, context_model, kodak_rate,
                            latent_crop, train_context, _kodak_latents)
from test_train import needs_train

BASE = ("mbt2018-mean", 0.0067)


@pytest.fixture(scope="module")
def base_and_latents():
    base, _ = ck.load_checkpoint(*BASE)
    return base, _kodak_latents(base, limit=1)


@pytest.mark.parametrize("name", ["checkerboard", "msp-fast"])
def test_untrained_heads_predict_what_the_hyperprior_does(name,
                                                          base_and_latents):
    base, ys = base_and_latents
    net, names = context_model(name, BASE[1])
    assert names and all(n.startswith("heads.") for n in names)
    assert kodak_rate(net, ys) == pytest.approx(kodak_rate(base, ys),
                                                rel=1e-6)


def test_ar_model_trains_only_its_context_parts():
    net, names = context_model("mbt2018", BASE[1])
    assert {n.split(".")[0] for n in names} == {"context_prediction",
                                                "entropy_parameters"}
    frozen = [p for n, p in net.named_parameters() if n not in names]
    assert frozen and not any(p.requires_grad for p in frozen)


def test_refit_trains_the_named_base_parameters_and_nothing_else():
    net, names = context_model("msp-fast", BASE[1], refit=("h_s.",))
    assert {n.split(".")[0] for n in names} == {"heads", "h_s"}
    base, only = context_model("mbt2018-mean", BASE[1], refit=("h_s.",))
    assert only and all(n.startswith("h_s.") for n in only)
    assert FrozenConfig("mbt2018-mean", refit=("h_s.",)).name == \
        "mbt2018-mean+h_s"
    with pytest.raises(ValueError, match="no parameter to train"):
        context_model("mbt2018-mean", BASE[1])
    # the density of ẑ is never re-fit: ẑ is coded with the base's tables
    _, names = context_model("mbt2018-mean", BASE[1],
                             refit=("h_s.", "entropy_bottleneck."))
    assert not any(n.startswith("entropy_bottleneck") for n in names)


def test_latent_windows_sit_on_the_hyperprior_grid():
    y = torch.arange(32 * 32.0).reshape(1, 1, 32, 32)    # a 512² crop
    torch.manual_seed(0)
    for side in (64, 128, 256, 512):
        for _ in range(20):
            w = latent_crop(y, side, 512)
            assert w.shape[-2:] == (side // 16, side // 16)
            i, j = divmod(int(w[0, 0, 0, 0]), 32)
            assert i % 4 == 0 and j % 4 == 0          # 64-pixel offsets
            assert torch.equal(w, y[..., i:i + side // 16, j:j + side // 16])
    for bad in (96, 1024, 32):
        with pytest.raises(ValueError, match="multiple of 64"):
            latent_crop(y, bad, 512)


@needs_train
def test_refit_of_the_base_replaces_only_its_parameters(tmp_path):
    cfg = FrozenConfig(model="mbt2018-mean", refit=("h_s.",), crops=8,
                       crop=128, sizes=(64, 128), batch_size=2,
                       iterations=2, log_every=2, kodak_images=1)
    train_context(cfg, tmp_path / "r", progress=False, log=lambda _: None,
                  cache=tmp_path / "lat")
    real = ck.checkpoint_path(*BASE)
    before = ck.sha256(real)
    root = tmp_path / "ckpt"
    for suffix in (".pt", ".json", ".tables.npz"):
        dst = ck.checkpoint_path(*BASE, root).with_suffix(suffix)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(real.with_suffix(suffix), dst)
    old = torch.load(real, weights_only=True)
    path = export_context(tmp_path / "r", root)
    assert path == ck.checkpoint_path(*BASE, root)
    assert ck.sha256(real) == before                  # the shipped one
    new = torch.load(path, weights_only=True)
    run = torch.load(tmp_path / "r" / "last.pt", weights_only=True)["model"]
    assert set(new) == set(old) and run and all(k.startswith("h_s.")
                                                 for k in run)
    for k, v in new.items():
        assert v.dtype == old[k].dtype, k
        assert torch.equal(v, run[k].to(v.dtype) if k in run else old[k]), k
    rec = json.loads(path.with_suffix(".json").read_text())
    assert rec["sha256"] == ck.sha256(path) != before
    shipped_refits = json.loads(real.with_suffix(".json").read_text()).get(
        "refits", [])
    *kept, refit = rec["refits"]                      # one more, appended
    assert kept == shipped_refits
    assert refit["previous_sha256"] == before
    assert refit["parameters"] == ["h_s."] and "64²/128²" in refit["crops"]
    assert rec["iterations"] == json.loads(
        real.with_suffix(".json").read_text())["iterations"]
    net, _ = ck.load_checkpoint(*BASE, root=root)     # SHA-256 checks out
    assert torch.equal(net.h_s[0].weight, run["h_s.0.weight"].half().float())


def _copy_of_base(root):
    """``root`` holding a copy of the shipped base checkpoint (weights,
    record, tables), to export context runs beside it."""
    for suffix in (".pt", ".json", ".tables.npz"):
        src = ck.checkpoint_path(*BASE).with_suffix(suffix)
        dst = ck.checkpoint_path(*BASE, root).with_suffix(suffix)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return root


@needs_train
def test_resume_export_and_load(tmp_path):
    cfg = FrozenConfig(model="msp-fast", crops=8, crop=64, batch_size=2,
                       iterations=4, log_every=2, kodak_images=1)
    kw = dict(progress=False, log=lambda _: None, cache=tmp_path / "lat")
    straight = train_context(cfg, tmp_path / "a", **kw)
    train_context(cfg, tmp_path / "b", deadline=0, **kw)   # stops at 2
    assert torch.load(tmp_path / "b" / "last.pt",
                      weights_only=True)["step"] == 2
    resumed = train_context(cfg, tmp_path / "b", **kw)
    for (n, p), q in zip(straight.named_parameters(), resumed.parameters()):
        assert torch.equal(p, q), n
    # shipped: the heads only, beside a copy of the base checkpoint
    root = _copy_of_base(tmp_path / "ckpt")
    with pytest.raises(ValueError, match="different models"):
        export_context(tmp_path / "a", root, as_model="msp-balanced")
    assert export_context(tmp_path / "a", root, as_model="msp-s1k1") == \
        ck.checkpoint_path("msp-s1k1", BASE[1], root)
    path = export_context(tmp_path / "a", root)
    assert all(k.startswith("heads.") for k in torch.load(
        path, weights_only=True))
    net, rec = ck.load_checkpoint("msp-fast", BASE[1], root=root)
    assert rec["base"]["model"] == BASE[0]
    for n, p in straight.named_parameters():
        assert torch.equal(p.half().float(), dict(net.named_parameters())[n]
                           .cpu()), n
    # a different base file is refused
    meta = ck.checkpoint_path(*BASE, root).with_suffix(".json")
    rec_base = json.loads(meta.read_text())
    base_file = ck.checkpoint_path(*BASE, root)
    base_file.write_bytes(base_file.read_bytes() + b"\0")
    rec_base["sha256"] = ck.sha256(base_file)
    meta.write_text(json.dumps(rec_base))
    with pytest.raises(ck.CheckpointError, match="trained on"):
        ck.load_checkpoint("msp-fast", BASE[1], root=root)


@needs_train
def test_authors_model_trains_its_own_bottleneck_and_ships_its_table(
        tmp_path):
    """pms-base takes only g_a/g_s from the base: its bottleneck (the
    coarsest scale) trains, and ships with its own integer table."""
    cfg = FrozenConfig(model="pms-base", crops=8, crop=128, batch_size=2,
                       iterations=2, log_every=2, kodak_images=1)
    net, names = context_model("pms-base", BASE[1])
    assert any(n.startswith("entropy_bottleneck.") for n in names)
    assert not any(n.startswith(("g_a.", "g_s.")) for n in names)
    before = {n: p.clone() for n, p in net.named_parameters()}
    trained = train_context(cfg, tmp_path / "r", progress=False,
                            log=lambda _: None, cache=tmp_path / "lat")
    moved = {n for n, p in trained.named_parameters()
             if not torch.equal(p.cpu(), before[n])}
    assert "entropy_bottleneck.quantiles" in moved       # aux loss trains it
    assert not any(n.startswith(("g_a.", "g_s.")) for n in moved)
    root = _copy_of_base(tmp_path / "ckpt")
    path = export_context(tmp_path / "r", root)
    rec = json.loads(path.with_suffix(".json").read_text())
    assert rec["from_base"] == ["g_a.", "g_s."]
    assert rec["tables_sha256"] == ck.sha256(path.with_suffix(".tables.npz"))
    assert not any(k.startswith(("g_a.", "g_s.", "h_s."))
                   for k in torch.load(path, weights_only=True))
    net, _ = ck.load_checkpoint("pms-base", BASE[1], root=root)
    base, _ = ck.load_checkpoint(*BASE, root=root)
    assert torch.equal(net.g_a[0].weight, base.g_a[0].weight)
    assert net.entropy_bottleneck._quantized_cdf.shape[0] == net.M
