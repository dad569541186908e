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
import dataclasses
import time
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from .checkpoints import _REBUILT, load_checkpoint
from .config import get_device
from .data import RandomCrops, eval_images
from .codec import image_tensor, pad_to
from .models import CompressionModel, build_model
from .precision import bf16_transforms, use_bf16
from .run_state import device_name
from .train_config import lr_at

__all__ = ["FrozenConfig", "transforms_bypassed", "latent_cache",
           "context_model", "latent_crop", "latent_bpp", "train_context",
           "trainable"]


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
    bf16: bool | None = False        # context network under bf16 autocast
    #                                  (None: where the CPU computes bf16
    #                                  natively, lic_lib.precision)

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
    """Names of ``model``'s parameters that it does not take from ``base``:
    the context model's own (everything else is frozen).  A model that
    names the base parts it takes (``from_base``, the authors' PMS: only
    the transforms) trains all the rest, its own entropy bottleneck too."""
    if hasattr(model, "from_base"):
        return [n for n, _ in model.named_parameters()
                if not n.startswith(model.from_base)]
    have = dict(base.named_parameters())
    return [n for n, _ in model.named_parameters() if n not in have]


def base_weights(model: CompressionModel, weights: dict) -> dict:
    """The entries of a base checkpoint's ``weights`` that ``model`` takes
    from it: all but the rebuilt tables, or the ``from_base`` parts only."""
    keep = getattr(model, "from_base", None)
    return {k: v for k, v in weights.items() if not k.endswith(_REBUILT)
            and (keep is None or k.startswith(keep))}


def context_model(name: str, lmbda: float, base: str = "mbt2018-mean",
                  device: torch.device | str = "cpu",
                  refit: tuple[str, ...] = ()
                  ) -> tuple[CompressionModel, list[str]]:
    """Model ``name`` holding the shipped ``base`` at ``lmbda`` (frozen
    but for the parameters whose names start with a ``refit`` prefix),
    and the names of its parameters left to train."""
    base_net, rec = load_checkpoint(base, lmbda)
    net = build_model(name, rec["N"], rec["M"])
    weights = base_weights(net, base_net.state_dict())
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
    noise or rounding as the model's mode says; ẑ's are 0 for a model
    without a hyperprior)."""
    with transforms_bypassed(model):
        out = model(y)
    lik = out["likelihoods"]
    per = -1.0 / (pixels * y.shape[0] * torch.log(torch.tensor(2.0)))
    z = lik["z"].log().sum() * per if "z" in lik else y.new_zeros(())
    return lik["y"].log().sum() * per, z


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
    # a bottleneck of the model's own (the PMS coarsest scale) trains with
    # it, its quantiles through the auxiliary loss ×0.001 (the authors')
    own_bottleneck = any(n.startswith("entropy_bottleneck.") for n in names)
    bf16, why = use_bf16(cfg.bf16, torch.device(device))
    log(f"{run_dir}: context network in {'bf16' if bf16 else 'fp32'} "
        f"({why})")
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
                 "device": device_name(device),
                 "precision": "bf16" if bf16 else "fp32",
                 "config": dataclasses.asdict(cfg)}
        torch.save(state, ckpt.with_suffix(".tmp"))
        ckpt.with_suffix(".tmp").replace(ckpt)

    bar = tqdm(total=cfg.iterations, initial=step, disable=not progress,
               desc=f"{cfg.name} on frozen {cfg.base} λ={cfg.lmbda:g}")
    t0, running = time.time() - elapsed, []
    while step < cfg.iterations:
        net.train()
        if not own_bottleneck:
            net.entropy_bottleneck.eval()    # ẑ rounded, as in decoding
        idx = torch.randint(0, len(ys), (cfg.batch_size,))
        y = ys[idx].to(device).float()
        side = cfg.sizes[step % len(cfg.sizes)] if cfg.sizes else cfg.crop
        if side != cfg.crop:
            y = latent_crop(y, side, cfg.crop)
        pixels = side * side
        for g in opt.param_groups:
            g["lr"] = lr_at(step, cfg)
        with bf16_transforms(net, bf16):
            by, _ = latent_bpp(net, y, pixels)
        loss = by + 0.001 * net.aux_loss() if own_bottleneck else by
        opt.zero_grad(set_to_none=True)
        loss.backward()
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
