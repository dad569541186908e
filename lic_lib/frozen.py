"""Context models trained on a trained model's frozen transforms.

Introduced in the chapter {ref}`chap-msp`.

To compare probability models fairly, and cheaply on a CPU, every context
model of the book (checkerboard, the MSP profiles, the AR model) is put on
top of the *same* trained mean-scale hyperprior: its analysis and
synthesis transforms, hyper-transforms and density of ẑ are frozen, and
only the context model's own parameters (the MSP heads, the AR model's
masked convolution and entropy parameters) are trained, on the rate of ŷ
alone.  The distortion then differs between models only by where each
rounds (around its own predicted means), so the RD difference isolates the
probability model.

Because the transforms are frozen, y = g_a(x) of the training crops is
computed once and cached (:func:`latent_cache`); training then never runs
the transforms, which makes a context model train in minutes on a CPU.
A trained context model is shipped as its own parameters only, with a
reference (model, λ, SHA-256) to the mean-scale checkpoint it extends.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import json
import shutil
import time
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from .checkpoints import _REBUILT, checkpoint_path, load_checkpoint
from .config import get_device
from .data import RandomCrops, eval_images
from .codec import image_tensor, pad_to
from .models import CompressionModel, build_model
from .train import _device_name, lr_at

__all__ = ["FrozenConfig", "transforms_bypassed", "latent_cache",
           "context_model", "latent_crop", "latent_bpp", "train_context",
           "trainable", "export_context", "read_log"]


@dataclasses.dataclass
class FrozenConfig:
    """One context model trained on the frozen ``base`` model at λ."""

    model: str                       # e.g. "msp-balanced", "mbt2018"
    lmbda: float = 0.0067            # λ of the base checkpoint
    base: str = "mbt2018-mean"
    iterations: int = 3_000
    batch_size: int = 8
    lr: float = 1e-3
    warmup: int = 100
    lr_drop: float = 0.7             # ×0.1 from this fraction of the run
    crops: int = 2_048               # cached training crops
    crop: int = 256
    seed: int = 0
    log_every: int = 100
    kodak_images: int = 24           # rate logged on the first ones
    refit: tuple[str, ...] = ()      # base parameters trained too, by
    #                                  name prefix: ("h_s.",) re-fits the
    #                                  hyper-synthesis on the same latents
    sizes: tuple[int, ...] = ()      # crop sides (pixels, multiples of 64)
    #                                  cut from the cached crops, one size
    #                                  per step in turn; () = whole crops
    colour: float = 0.0              # fraction of crops re-coloured

    @property
    def name(self) -> str:
        """``model``, plus ``+h_s`` (say) when base parameters are re-fit."""
        return "+".join([self.model, *(p.rstrip(".") for p in self.refit)])


@contextlib.contextmanager
def transforms_bypassed(model: CompressionModel) -> Iterator[None]:
    """Inside, ``model(y)`` runs only the probability model on latents y
    (g_a and g_s are identities; ``x_hat`` is then ŷ)."""
    g_a, g_s = model.g_a, model.g_s
    model.g_a = model.g_s = nn.Identity()
    try:
        yield
    finally:
        model.g_a, model.g_s = g_a, g_s


@torch.no_grad()
def latent_cache(base: str, lmbda: float, n: int, crop: int = 256,
                 seed: int = 0, root: str | Path = "runs/latents",
                 progress: bool = True, colour: float = 0.0
                 ) -> torch.Tensor:
    """y = g_a(x) of ``n`` random training crops (fp16, n×M×h×w), computed
    once with the shipped ``base`` model at ``lmbda`` and kept on disk;
    a fraction ``colour`` of the crops re-coloured
    (:func:`~lic_lib.data.colour_jitter`)."""
    tag = f"-colour{colour:g}" if colour else ""
    path = Path(root) / f"{base}-{lmbda:g}-{n}x{crop}-seed{seed}{tag}.pt"
    if path.exists():
        return torch.load(path, weights_only=True)
    from tqdm.auto import tqdm
    net, _ = load_checkpoint(base, lmbda)
    torch.manual_seed(seed)
    crops = RandomCrops("train", crop=crop, colour=colour)
    out = []
    for i in tqdm(range(0, n, 16), desc=f"latents of {n} crops",
                  disable=not progress):
        x = torch.stack([crops[j] for j in range(i, min(n, i + 16))])
        out.append(net.g_a(x).half())
    ys = torch.cat(out)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(ys, path)
    return ys


def trainable(model: CompressionModel, base: CompressionModel
              ) -> list[str]:
    """Names of ``model``'s parameters that ``base`` does not have: the
    context model's own (everything else is frozen)."""
    have = dict(base.named_parameters())
    return [n for n, _ in model.named_parameters() if n not in have]


def context_model(name: str, lmbda: float, base: str = "mbt2018-mean",
                  device: torch.device | str = "cpu",
                  refit: tuple[str, ...] = ()
                  ) -> tuple[CompressionModel, list[str]]:
    """Model ``name`` holding the shipped ``base`` at ``lmbda`` (frozen
    but for the parameters whose names start with a ``refit`` prefix),
    and the names of its parameters left to train."""
    base_net, rec = load_checkpoint(base, lmbda)
    net = build_model(name, rec["N"], rec["M"])
    weights = {k: v for k, v in base_net.state_dict().items()
               if not k.endswith(_REBUILT)}
    _, unexpected = nn.Module.load_state_dict(net, weights, strict=False)
    if unexpected:
        raise ValueError(f"{base} does not fit inside {name}: {unexpected}")
    net.update(force=True)
    names = trainable(net, base_net) + [
        n for n, _ in base_net.named_parameters() if n.startswith(refit)
        and not n.startswith("entropy_bottleneck")]   # ẑ stays as coded
    if not names:
        raise ValueError(f"{name} on {base}: no parameter to train "
                         "(name a context model, or base parameters to "
                         "re-fit)")
    for n, p in net.named_parameters():
        p.requires_grad_(n in names)
    return net.to(device), names


def latent_crop(y: torch.Tensor, side: int, crop: int
                ) -> torch.Tensor:
    """A random ``side``² window (in pixels) of latents ``y`` of ``crop``²
    pixel crops, at an offset on ẑ's grid (64 pixels), so that one cache
    of large crops trains on small and large images alike."""
    f = crop // y.shape[-1]                   # pixels per latent (16)
    if side % 64 or not 64 <= side <= crop:
        raise ValueError(f"crop side {side} must be a multiple of 64 "
                         f"within the cached {crop}² crops")
    s, g = side // f, 64 // f
    i, j = (g * int(torch.randint(0, (n - s) // g + 1, ()))
            for n in y.shape[-2:])
    return y[..., i:i + s, j:j + s]


def latent_bpp(model: CompressionModel, y: torch.Tensor, pixels: int
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """Bits per pixel of ŷ and of ẑ for latents ``y`` (mean over the batch;
    noise or rounding as the model's mode says)."""
    with transforms_bypassed(model):
        out = model(y)
    lik = out["likelihoods"]
    per = -1.0 / (pixels * y.shape[0] * torch.log(torch.tensor(2.0)))
    return (lik["y"].log().sum() * per, lik["z"].log().sum() * per)


@torch.no_grad()
def _kodak_latents(model: CompressionModel, limit: int | None = None
                   ) -> list[torch.Tensor]:
    """g_a of the Kodak images, padded to the model's multiple."""
    f = int(model.downsampling_factor)
    return [model.g_a(pad_to(image_tensor(a), f))
            for _, a in eval_images("kodak", limit=limit)]


@torch.no_grad()
def kodak_rate(model: CompressionModel, ys: list[torch.Tensor]) -> float:
    """Mean bpp (ŷ + ẑ, likelihoods of the rounded latents) on Kodak."""
    model.eval()
    total = 0.0
    for y in ys:
        by, bz = latent_bpp(model, y, 256 * y.shape[-2] * y.shape[-1])
        total += float(by + bz)
    return total / len(ys)


def train_context(cfg: FrozenConfig, run_dir: str | Path,
                  progress: bool = True, deadline: float | None = None,
                  log: Callable[[str], None] = print,
                  cache: str | Path = "runs/latents") -> CompressionModel:
    """Train ``cfg.model``'s context parameters on the frozen base, with
    checkpoints that resume exactly (``last.pt``) and a CSV log whose
    rows give the training rate and the Kodak rate (likelihoods).
    ``cache`` is the folder of the cached training latents."""
    from tqdm.auto import tqdm
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    device = get_device()
    torch.manual_seed(cfg.seed)              # the heads' initial weights
    net, names = context_model(cfg.model, cfg.lmbda, cfg.base, device,
                               cfg.refit)
    params = [p for n, p in net.named_parameters() if n in names]
    opt = torch.optim.Adam(params, lr=cfg.lr)
    ys = latent_cache(cfg.base, cfg.lmbda, cfg.crops, cfg.crop, cfg.seed,
                      cache, progress, cfg.colour)
    kodak = [y.to(device) for y in _kodak_latents(net.cpu(),
                                                  cfg.kodak_images)]
    net.to(device)
    step, elapsed = 0, 0.0
    ckpt, log_path = run_dir / "last.pt", run_dir / "log.csv"
    torch.manual_seed(cfg.seed)
    if ckpt.exists():
        state = torch.load(ckpt, map_location=device, weights_only=True)
        # fields added since the run started take their defaults
        saved = {**dataclasses.asdict(FrozenConfig(cfg.model)),
                 **state["config"]}
        if saved != dataclasses.asdict(cfg):
            raise ValueError(f"{ckpt} was trained with another config")
        nn.Module.load_state_dict(net, state["model"], strict=False)
        opt.load_state_dict(state["optimizer"])
        step, elapsed = state["step"], state["elapsed"]
        torch.set_rng_state(state["rng"])
    else:                                   # row 0: where training starts
        log_path.write_text("step,lr,train_bpp_y,kodak_bpp,seconds\n"
                            f"0,0,,{kodak_rate(net, kodak):.5f},0\n")

    def save() -> None:
        state = {"model": {n: p.detach().cpu() for n, p in
                           net.named_parameters() if n in names},
                 "optimizer": opt.state_dict(), "step": step,
                 "elapsed": elapsed, "rng": torch.get_rng_state(),
                 "device": _device_name(device),
                 "config": dataclasses.asdict(cfg)}
        torch.save(state, ckpt.with_suffix(".tmp"))
        ckpt.with_suffix(".tmp").replace(ckpt)

    bar = tqdm(total=cfg.iterations, initial=step, disable=not progress,
               desc=f"{cfg.name} on frozen {cfg.base} λ={cfg.lmbda:g}")
    t0, running = time.time() - elapsed, []
    while step < cfg.iterations:
        net.train()
        net.entropy_bottleneck.eval()        # ẑ rounded, as in decoding
        idx = torch.randint(0, len(ys), (cfg.batch_size,))
        y = ys[idx].to(device).float()
        side = cfg.sizes[step % len(cfg.sizes)] if cfg.sizes else cfg.crop
        if side != cfg.crop:
            y = latent_crop(y, side, cfg.crop)
        pixels = side * side
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        by, _ = latent_bpp(net, y, pixels)
        opt.zero_grad(set_to_none=True)
        by.backward()
        opt.step()
        running.append(float(by.detach()))
        step += 1
        bar.update()
        if step % cfg.log_every == 0 or step == cfg.iterations:
            elapsed = time.time() - t0
            rate = kodak_rate(net, kodak)
            with open(log_path, "a") as f:
                f.write(f"{step},{lr_at(step - 1, cfg):g},"
                        f"{sum(running) / len(running):.5f},{rate:.5f},"
                        f"{elapsed:.1f}\n")
            running = []
            bar.set_postfix(kodak_bpp=f"{rate:.4f}")
            save()
            if deadline is not None and time.time() >= deadline:
                log(f"deadline: {run_dir} stops at step {step}")
                break
    bar.close()
    net.eval()
    return net


def read_log(run_dir: str | Path) -> list[dict]:
    """Rows of a context run's ``log.csv`` (or of a CSV file) as floats;
    row 0, before training, has no training rate (NaN)."""
    path = Path(run_dir)
    path = path / "log.csv" if path.is_dir() else path
    with open(path, newline="") as f:
        return [{k: float(v) if v else float("nan") for k, v in r.items()}
                for r in csv.DictReader(f)]


def export_context(run_dir: str | Path, root: Path | None = None,
                   as_model: str | None = None) -> Path:
    """Ship a finished context run: its own parameters in fp16, and a
    record that names the base checkpoint (with its SHA-256).

    ``as_model`` ships it under another registry name of the very same
    architecture (an ablation run ``msp-s1k2`` as the profile that is
    defined as S=1, K=2, say); anything else is refused.  A run that
    re-fits the base model's own parameters replaces them in the base
    checkpoint (:func:`_export_refit`).
    """
    from .data import sha256
    from .results import provenance
    run_dir = Path(run_dir)
    state = torch.load(run_dir / "last.pt", map_location="cpu",
                       weights_only=True)
    cfg = FrozenConfig(**state["config"])
    if state["step"] < cfg.iterations:
        raise ValueError(f"{run_dir} is unfinished (step {state['step']})")
    base = checkpoint_path(cfg.base, cfg.lmbda, root)
    base_rec = json.loads(base.with_suffix(".json").read_text())
    name = as_model or cfg.model
    if name != cfg.model and not _same_architecture(cfg.model, name):
        raise ValueError(f"{cfg.model} and {name} are different models")
    path = checkpoint_path(name, cfg.lmbda, root)
    if path == base:
        return _export_refit(run_dir, state, cfg, base, base_rec)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({k: v.half() for k, v in state["model"].items()}, path)
    rows = read_log(run_dir)
    record = {
        "model": name, "lmbda": cfg.lmbda, "N": base_rec["N"],
        "M": base_rec["M"],
        "base": {"model": cfg.base, "lmbda": cfg.lmbda,
                 "sha256": base_rec["sha256"]},
        "iterations": cfg.iterations, "finetune_iterations": 0,
        "crops": f"{cfg.batch_size} cached latents of {cfg.crop}² crops "
                 f"per step ({cfg.crops} crops)",
        "wall_time_s": round(state["elapsed"], 1),
        "device": state.get("device", "cpu"),
        "sha256": sha256(path), "bytes": path.stat().st_size,
        "validation": {"step": int(rows[-1]["step"]),
                       "bpp_estimate": rows[-1]["kodak_bpp"],
                       "images": "Kodak (24), likelihoods"},
        "train_config": dataclasses.asdict(cfg),
        **{k: v for k, v in provenance("train", 187).items()
           if k in ("commit", "date", "dataset_sha256sums")}}
    path.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    shutil.copyfile(run_dir / "log.csv", path.with_suffix(".csv"))
    return path


def _export_refit(run_dir: Path, state: dict, cfg: FrozenConfig,
                  base: Path, base_rec: dict) -> Path:
    """Ship a re-fit of the base model's own parameters (``cfg.model ==
    cfg.base``, e.g. its hyper-synthesis re-fit on larger crops) *in place*
    of the base checkpoint: the re-fit parameters replace the shipped ones,
    and the record keeps how the base was trained and adds how, on what
    and by how much it was re-fit.  Context models trained on the old base
    then refuse to load (its SHA-256 changed) until they are retrained."""
    from .data import sha256
    from .results import provenance
    weights = torch.load(base, map_location="cpu", weights_only=True)
    for k, v in state["model"].items():
        if k not in weights:
            raise ValueError(f"{k} of {run_dir} is not in {base}")
        weights[k] = v.to(weights[k].dtype)
    torch.save(weights, base)
    rows = read_log(run_dir)
    refits = list(base_rec.get("refits", []))
    refits.append({
        "parameters": list(cfg.refit), "iterations": cfg.iterations,
        "crops": f"{cfg.batch_size} cached latents per step, windows of "
                 + "/".join(f"{s}²" for s in cfg.sizes or (cfg.crop,))
                 + f" pixels in turn, from {cfg.crops} crops of "
                 f"{cfg.crop}²" + (f", {cfg.colour:.0%} of them re-coloured"
                                   if cfg.colour else ""),
        "loss": "rate of ŷ (transforms and density of ẑ frozen)",
        "wall_time_s": round(state["elapsed"], 1),
        "device": state.get("device", "cpu"),
        "kodak_bpp_estimate": {"before": rows[0]["kodak_bpp"],
                               "after": rows[-1]["kodak_bpp"],
                               "images": cfg.kodak_images},
        "previous_sha256": base_rec["sha256"],
        "train_config": dataclasses.asdict(cfg),
        **{k: v for k, v in provenance("train", 187).items()
           if k in ("commit", "date")}})
    record = {**base_rec, "sha256": sha256(base),
              "bytes": base.stat().st_size, "refits": refits}
    base.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    shutil.copyfile(run_dir / "log.csv",
                    base.with_name(f"{base.stem}.refit.csv"))
    return base


def _same_architecture(a: str, b: str) -> bool:
    """Same decoding units and the same parameter shapes."""
    ma, mb = build_model(a), build_model(b)
    return getattr(ma, "units", None) == getattr(mb, "units", None) and {
        n: p.shape for n, p in ma.named_parameters()} == {
        n: p.shape for n, p in mb.named_parameters()}
