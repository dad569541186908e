"""Context models on the frozen mean-scale model: they start exactly at
the mean-scale rate, train only their own parameters, resume exactly, and
ship as their own weights plus a checked reference to the base."""

import json
import shutil

import pytest
import torch

from lic_lib import checkpoints as ck
from lic_lib.frozen import (FrozenConfig, context_model, export_context,
                            kodak_rate, train_context, _kodak_latents)
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


@needs_train
def test_refit_of_the_base_itself_is_never_shipped_over_it(tmp_path):
    cfg = FrozenConfig(model="mbt2018-mean", refit=("h_s.",), crops=8,
                       crop=64, batch_size=2, iterations=2, log_every=2,
                       kodak_images=1)
    train_context(cfg, tmp_path / "r", progress=False, log=lambda _: None,
                  cache=tmp_path / "lat")
    before = ck.sha256(ck.checkpoint_path(*BASE))
    with pytest.raises(ValueError, match="would overwrite"):
        export_context(tmp_path / "r")
    assert ck.sha256(ck.checkpoint_path(*BASE)) == before


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
    root = tmp_path / "ckpt"
    for suffix in (".pt", ".json"):
        src = ck.checkpoint_path(*BASE).with_suffix(suffix)
        dst = ck.checkpoint_path(*BASE, root).with_suffix(suffix)
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
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
