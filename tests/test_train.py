import pytest
import torch

from lic_lib import config
from lic_lib.train import TrainConfig, lr_at, train

needs_train = pytest.mark.skipif(
    not (config.data_dir() / "train").is_dir(),
    reason="training photos not found under LIC_DATA_DIR")

TINY = dict(model="mbt2018-mean", N=16, M=24, batch_size=2, crop=64,
            iterations=4, finetune_iterations=2, warmup=2, val_every=3,
            val_images=1, checkpoint_seconds=0)


def test_lr_schedule():
    cfg = TrainConfig(lr=1e-3, warmup=10, iterations=100, lr_drop=0.7)
    assert lr_at(0, cfg) == pytest.approx(1e-4)
    assert lr_at(50, cfg) == 1e-3
    assert lr_at(70, cfg) == pytest.approx(1e-4)


@needs_train
def test_resume_is_exact(tmp_path):
    cfg = TrainConfig(**TINY)
    a = train(cfg, tmp_path / "a", progress=False, log=lambda _: None)
    train(cfg, tmp_path / "b", progress=False, stop_at=3, log=lambda _: None)
    b = train(cfg, tmp_path / "b", progress=False, log=lambda _: None)
    sa, sb = a.state_dict(), b.state_dict()
    assert sa.keys() == sb.keys()
    for k in sa:
        torch.testing.assert_close(sa[k], sb[k], rtol=0, atol=0, msg=k)
    rows = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert rows[0].startswith("step,lr,loss")
    # the arithmetic the CPU chose is recorded in the log and the state
    from lic_lib.precision import use_bf16
    chosen = "bf16" if use_bf16(None, torch.device("cpu"))[0] else "fp32"
    assert rows[0].endswith(",precision") and rows[1].endswith("," + chosen)
    state = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert state["device"].endswith(f", {chosen})"), state["device"]
    # finetune phase froze the synthesis transform, and the weights before
    # it were kept
    assert not any(p.requires_grad for p in b.g_s.parameters())
    kept = torch.load(tmp_path / "b" / "main_phase.pt", weights_only=True)
    assert kept["step"] == 4
    torch.testing.assert_close(kept["model"]["g_s.0.weight"],
                               sb["g_s.0.weight"])    # g_s frozen since


@needs_train
def test_redo_final_phase_is_exact(tmp_path):
    from lic_lib.run_state import redo_final_phase
    cfg = TrainConfig(**TINY)
    a = train(cfg, tmp_path / "a", progress=False, log=lambda _: None)
    train(cfg, tmp_path / "b", progress=False, log=lambda _: None)
    redo_final_phase(tmp_path / "b")
    assert torch.load(tmp_path / "b" / "last.pt",
                      weights_only=True)["step"] == cfg.iterations
    rows = (tmp_path / "b" / "log.csv").read_text().splitlines()
    assert int(rows[-1].split(",")[0]) <= cfg.iterations
    b = train(cfg, tmp_path / "b", progress=False, log=lambda _: None)
    for k, v in a.state_dict().items():
        torch.testing.assert_close(v, b.state_dict()[k], rtol=0, atol=0,
                                   msg=k)
    assert not any(p.requires_grad for p in b.h_a.parameters())


@needs_train
def test_resume_refuses_other_config(tmp_path):
    train(TrainConfig(**TINY), tmp_path, progress=False, stop_at=1,
          log=lambda _: None)
    with pytest.raises(ValueError, match="another configuration"):
        train(TrainConfig(**{**TINY, "lmbda": 0.1}), tmp_path,
              progress=False, log=lambda _: None)


def test_ste_quantization_rounds_with_identity_gradient():
    from lic_lib.models import build_model
    from lic_lib.quantizers import ste_quantization
    torch.manual_seed(0)
    m = build_model("mbt2018-mean", N=16, M=24).train()
    gc = m.gaussian_conditional
    y = torch.randn(1, 24, 4, 4, requires_grad=True)
    mu = torch.randn(1, 24, 4, 4)
    with ste_quantization(m):
        q = gc.quantize(y, "noise", mu)
        assert torch.equal(q, torch.round(y - mu) + mu)
        q.sum().backward()
        assert torch.equal(y.grad, torch.ones_like(y))
    noisy = gc.quantize(y, "noise", mu)            # patch removed
    assert not torch.equal(noisy, torch.round(y - mu) + mu)
    with ste_quantization(m, when=lambda: False):  # switched off
        assert not torch.equal(gc.quantize(y, "noise", mu),
                               torch.round(y - mu) + mu)


def test_final_phase_rate_sees_the_means():
    """In the final (rounded) phase the rate must depend on μ; with plain
    eval-mode rounding its gradient w.r.t. μ was zero and the rate blew up."""
    from lic_lib.models import build_model
    from lic_lib.quantizers import ste_quantization
    torch.manual_seed(0)
    m = build_model("mbt2018-mean", N=16, M=24).train()
    y = torch.randn(1, 24, 4, 4) * 3
    mu = torch.zeros(1, 24, 4, 4, requires_grad=True)
    scales = torch.ones(1, 24, 4, 4)
    with ste_quantization(m):
        _, lik = m.gaussian_conditional(y, scales, means=mu)
    (-torch.log2(lik).sum()).backward()
    assert mu.grad.abs().sum() > 0


@needs_train
def test_torchrun_two_processes_resume_exactly(tmp_path):
    """DistributedDataParallel on two gloo (CPU) processes, interrupted and
    resumed, ends with the same weights as an uninterrupted run."""
    import subprocess
    import sys
    from pathlib import Path
    torchrun = Path(sys.executable).parent / "torchrun"
    if not torchrun.exists():
        pytest.skip("torchrun not installed")
    args = ["--model", "mbt2018-mean", "--N", "16", "--M", "24",
            "--batch-size", "2", "--crop", "64", "--iterations", "4",
            "--finetune-iterations", "2", "--val-every", "3",
            "--val-images", "1", "--checkpoint-seconds", "0"]

    def run(folder, *extra):
        subprocess.run([str(torchrun), "--standalone", "--nproc_per_node=2",
                        "-m", "lic_lib.cli", "train", str(folder), *args,
                        *extra], check=True, capture_output=True,
                       timeout=300)

    run(tmp_path / "a")
    run(tmp_path / "b", "--stop-at", "3")
    run(tmp_path / "b")
    a = torch.load(tmp_path / "a" / "last.pt", weights_only=True)
    b = torch.load(tmp_path / "b" / "last.pt", weights_only=True)
    assert a["world_size"] == 2 and a["step"] == b["step"] == 6
    for k in a["model"]:
        torch.testing.assert_close(a["model"][k], b["model"][k], rtol=0,
                                   atol=0, msg=k)


@needs_train
def test_deadline_stops_resumably(tmp_path):
    import time
    cfg = TrainConfig(**TINY)
    train(cfg, tmp_path, progress=False, deadline=time.time(),
          log=lambda _: None)
    assert torch.load(tmp_path / "last.pt", weights_only=True)["step"] == 1
    train(cfg, tmp_path, progress=False, log=lambda _: None)
    assert torch.load(tmp_path / "last.pt",
                      weights_only=True)["step"] == cfg.total


@needs_train
def test_parallel_ladder_trains_and_exports_every_lambda(tmp_path,
                                                         monkeypatch):
    """Two runs at a time, each in its own process: every λ warm-starts
    from a finished neighbour (else loading its weights fails) and is
    exported once done."""
    import lic_lib.checkpoints as ck
    from lic_lib.ladder import ladder_plan, train_ladders
    monkeypatch.setattr(ck, "CHECKPOINTS", tmp_path / "ckpt")
    kw = dict(main_iterations=3, main_finetune=1, iterations=2, finetune=1,
              **{k: v for k, v in TINY.items() if k not in (
                  "model", "iterations", "finetune_iterations", "warmup")})
    model = "bmshj2018-factorized"
    done = train_ladders([model], tmp_path / "runs", jobs=2,
                         progress=False, log=lambda _: None, **kw)
    assert sorted(done) == sorted(ck.checkpoint_path(model, lam)
                                  for lam in ck.LAMBDAS[:5])
    for cfg, run_dir in ladder_plan(model, tmp_path / "runs", **kw):
        state = torch.load(run_dir / "last.pt", weights_only=True)
        assert state["step"] == cfg.total
        assert ck.checkpoint_path(model, cfg.lmbda).with_suffix(
            ".csv").read_text() == (run_dir / "log.csv").read_text()
    # called again: nothing to train, and shipped records are not rewritten
    for j in (1, 2):
        assert train_ladders([model], tmp_path / "runs", jobs=j,
                             progress=False, log=lambda _: None, **kw) == []
    # a later session without the run folders: what is shipped counts as
    # done, and a missing λ warm-starts from its shipped neighbour
    import shutil
    shutil.rmtree(tmp_path / "runs")
    ck.checkpoint_path(model, 0.025).unlink()
    again = train_ladders([model], tmp_path / "runs", progress=False,
                          log=lambda _: None, **kw)
    assert again == [ck.checkpoint_path(model, 0.025)]
    state = torch.load(tmp_path / "runs" / model / "0.025" / "last.pt",
                       weights_only=True)
    assert state["config"]["init_from"] == str(ck.checkpoint_path(model,
                                                                  0.013))


@needs_train
def test_last_start_starts_nothing_new(tmp_path):
    from lic_lib.ladder import train_ladders
    kw = dict(main_iterations=3, main_finetune=1, iterations=2, finetune=1,
              **{k: v for k, v in TINY.items() if k not in (
                  "model", "iterations", "finetune_iterations", "warmup")})
    for jobs in (1, 2):
        assert train_ladders(["bmshj2018-factorized"], tmp_path, jobs=jobs,
                             progress=False, log=lambda _: None,
                             last_start=1e-9, **kw) == []
    assert not any(tmp_path.rglob("last.pt"))


def test_cli_ladder_passes_another_recipe(monkeypatch, tmp_path):
    """`lic ladder --crop 256` must reach the plan: a shipped 128² model
    is then not "done", so the whole ladder retrains on the new crops."""
    from lic_lib import cli, ladder
    from lic_lib.ladder import _shipped, ladder_plan
    seen = {}
    monkeypatch.setattr(ladder, "train_ladders",
                        lambda models, root, **kw: seen.update(kw) or [])
    assert cli.main(["ladder", "--model", "mbt2018-mean", "--root",
                     str(tmp_path), "--crop", "256", "--batch-size", "4"]) == 0
    assert seen["crop"] == 256 and seen["batch_size"] == 4
    cfg, _ = ladder_plan("mbt2018-mean", tmp_path)[0]
    new, _ = ladder_plan("mbt2018-mean", tmp_path, crop=256, batch_size=4)[0]
    assert _shipped(cfg) is not None and _shipped(new) is None
