"""Rate–distortion training that survives interruptions.

Introduced in the chapter {ref}`chap-vae-codec`; run it with ``lic train``.

The recipe (every knob is a field of :class:`TrainConfig`):

* loss λ·255²·MSE + bpp (CompressAI's ``RateDistortionLoss``) on random
  crops of the training photos, plus the auxiliary loss that fits the
  entropy bottleneck's quantiles (own Adam, CompressAI's split of the
  parameters);
* Adam, linear warm-up, learning rate ×0.1 at ``lr_drop`` of the run,
  gradient clipping;
* on a CPU with native bf16 arithmetic, the four transforms (g_a, g_s,
  h_a, h_s) run under bfloat16 autocast in channels-last layout while
  likelihoods and entropy models stay fp32; elsewhere fp32
  (:mod:`lic_lib.precision` decides, and the run's log says which);
* an optional final phase (``finetune_iterations``) freezes g_a, g_s
  and h_a and trains the probability model on *rounded* latents, as the
  encoder will code them, instead of on noisy ones.

A run lives in a folder: ``last.pt`` (model, optimisers, step and RNG
state, written every ``checkpoint_seconds`` and at the end, atomically),
``main_phase.pt`` (the whole state when the final phase began: see
:func:`lic_lib.run_state.redo_final_phase`) and ``log.csv``.  Calling
:func:`train` again on the same folder resumes exactly where it stopped;
the batches drawn are the same as in an uninterrupted run, because all
randomness comes from the saved torch RNG.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import math
import time
from pathlib import Path
from typing import Callable

import torch
from torch import nn

from .codec import image_tensor
from .config import get_device
from .data import RandomCrops, eval_images
from .models import CompressionModel, RateDistortionLoss, build_model
from .precision import bf16_transforms, use_bf16
from .quantizers import ste_quantization
from .rate_estimate import evaluate_likelihood_rd
from .run_state import (adam, device_name, distributed, load_optimizer,
                        rng_states, save_atomic)
from .train_config import TrainConfig, lr_at, same_recipe

__all__ = ["TrainConfig", "train", "lr_at"]


def _split_params(model: nn.Module):
    """CompressAI's rule: ``*.quantiles`` go to the aux optimiser."""
    main, aux = [], []
    for n, p in model.named_parameters():
        if p.requires_grad:
            (aux if n.endswith(".quantiles") else main).append(p)
    return main, aux


def _rd_loss(out: dict, x: torch.Tensor, lmbda: float
             ) -> dict[str, torch.Tensor]:
    """CompressAI's λ·255²·MSE + bpp, with our short key names."""
    terms = RateDistortionLoss(lmbda=lmbda)(out, x)
    return {"loss": terms["loss"], "bpp": terms["bpp_loss"],
            "mse": terms["mse_loss"]}


def _finetune_mode(model: CompressionModel) -> None:
    """Freeze g_a, g_s and h_a for the final phase (which rounds).

    What is left to learn is the probability model of fixed discrete
    latents: h_s (μ, σ of ŷ given ẑ) and the density of ẑ.  Two ways to do
    this were seen to fail here:

    * rounding in eval mode: ŷ − μ is rounded with zero gradient, the rate
      no longer sees μ, and it explodes (0.45 → 7 bpp in 4,000 steps);
    * straight-through rounding with h_a still trainable: the rate of ẑ,
      whose rounding the gradient then ignores, grew from 0.009 to 0.067
      bpp in 1,450 steps while that of ŷ fell by only 0.005 (mean-scale,
      λ = 0.0067, CID22 val).
    """
    for name in ("g_a", "g_s", "h_a"):          # the factorized prior
        if hasattr(model, name):                # has no h_a
            getattr(model, name).requires_grad_(False)


class _Run:
    """One training run: model, optimisers, data and the run folder."""

    def __init__(self, cfg: TrainConfig, run_dir: Path,
                 device: torch.device, log: Callable[[str], None]):
        if cfg.quantizer not in ("noise", "ste"):
            raise ValueError(f"quantizer must be 'noise' or 'ste', got "
                             f"{cfg.quantizer!r}")
        self.cfg, self.run_dir, self.log = cfg, run_dir, log
        self.rank, self.world, self.device = distributed(device)
        torch.manual_seed(cfg.seed)
        model = build_model(cfg.model, cfg.N, cfg.M).to(self.device)
        if self.device.type == "cpu":
            model = model.to(memory_format=torch.channels_last)
        self.model = model                     # the bare model, never DDP
        if self.device.type == "cuda":         # fixed crop size: pick the
            torch.backends.cudnn.benchmark = True   # fastest kernels once
        main_p, aux_p = _split_params(model)
        self.opt = adam(main_p, cfg.lr, self.device)
        self.aux_opt = adam(aux_p, cfg.aux_lr, self.device)
        self.step, self.elapsed = 0, 0.0
        self.bf16, self.why_precision = use_bf16(cfg.bf16, self.device)
        self.devices = [[self.device_name, 0]]      # [name, from step]
        self.ckpt = run_dir / "last.pt"
        if self.ckpt.exists():
            self._resume()
        elif cfg.init_from:
            init = torch.load(cfg.init_from, map_location=self.device,
                              weights_only=True)
            # a run's last.pt, or a shipped fp16 checkpoint (no CDF tables)
            weights = {k: v.float() if v.is_floating_point() else v
                       for k, v in init.get("model", init).items()}
            nn.Module.load_state_dict(model, weights, strict=False)
            log(f"warm start from {cfg.init_from}")
        if self.world > 1 and not self.ckpt.exists():
            torch.manual_seed(cfg.seed + 1 + self.rank)   # own crops/rank
        self.crops = RandomCrops("train", crop=cfg.crop)
        self.val = [image_tensor(a, self.device)[0]
                    for _, a in eval_images("val", limit=cfg.val_images)]
        self.forward = self._wrap(model)

    def _wrap(self, model: nn.Module) -> nn.Module:
        if self.world == 1:
            return model
        from torch.nn.parallel import DistributedDataParallel as DDP
        ids = [self.device.index] if self.device.type == "cuda" else None
        # the quantiles take no part in the RD loss, only in aux_loss, whose
        # gradient is the same on every rank: keep them out of the reducer
        DDP._set_params_and_buffers_to_ignore_for_model(
            model, [n for n, _ in model.named_parameters()
                    if n.endswith(".quantiles")])
        return DDP(model, device_ids=ids)

    def _resume(self) -> None:
        state = torch.load(self.ckpt, map_location=self.device,
                           weights_only=True)
        if not same_recipe(state["config"], self.cfg):
            raise ValueError(f"{self.ckpt} was written by another "
                             "configuration; use a new folder or the same "
                             "settings")
        self.model.load_state_dict(state["model"])
        self.step, self.elapsed = state["step"], state["elapsed"]
        self.devices = state.get("devices", [[state["device"], 0]])
        if self.devices[-1][0] != self.device_name:
            self.devices.append([self.device_name, self.step])
        if self.step > self.cfg.iterations:      # inside the final phase
            _finetune_mode(self.model)
        self.opt = _optimizer_like(self.model, self.opt, state["opt"],
                                   self.cfg, self.device)
        load_optimizer(self.aux_opt, state["aux_opt"], self.device)
        rng = state["rng"]
        rng = rng if isinstance(rng, torch.Tensor) else rng[self.rank]
        torch.set_rng_state(rng)
        self.log(f"resumed {self.run_dir} at step {self.step}")

    @property
    def device_name(self) -> str:
        """The device and the arithmetic of the transforms, as recorded."""
        return device_name(self.device, "bf16" if self.bf16 else "fp32")

    def train_step(self) -> dict[str, torch.Tensor]:
        """One optimiser step of the RD loss and one of the aux loss."""
        cfg = self.cfg
        if self.step == cfg.iterations and cfg.finetune_iterations:
            self.save(self.run_dir / "main_phase.pt")   # to redo the phase
            _finetune_mode(self.model)
            self.opt = adam(_split_params(self.model)[0], cfg.lr * 0.1,
                             self.device)
            self.forward = self._wrap(self.model)   # fewer trainable params
        idx = torch.randint(len(self.crops), (cfg.batch_size,))
        x = torch.stack([self.crops[int(i)] for i in idx]).to(self.device)
        if self.device.type == "cpu":
            x = x.contiguous(memory_format=torch.channels_last)
        for g in self.opt.param_groups:
            g["lr"] = lr_at(self.step, cfg) if self.step < cfg.iterations \
                else cfg.lr * 0.1
        self.opt.zero_grad(set_to_none=True)
        self.aux_opt.zero_grad(set_to_none=True)
        terms = _rd_loss(self.forward(x), x, cfg.lmbda)
        terms["loss"].backward()
        if cfg.clip:
            nn.utils.clip_grad_norm_(self.opt.param_groups[0]["params"],
                                     cfg.clip)
        self.opt.step()
        aux = self.model.aux_loss()
        aux.backward()
        self.aux_opt.step()
        self.step += 1
        terms = {k: v.detach() for k, v in terms.items()}
        terms["aux"] = aux.detach()
        return terms

    def save(self, path: Path | None = None) -> None:
        """Write the whole state (to ``last.pt`` unless told otherwise)."""
        rng = rng_states(self.world)
        if self.rank == 0:
            save_atomic(path or self.ckpt, {
                "config": dataclasses.asdict(self.cfg),
                "model": self.model.state_dict(),
                "opt": self.opt.state_dict(),
                "aux_opt": self.aux_opt.state_dict(),
                "step": self.step, "elapsed": self.elapsed,
                "device": self.device_name, "devices": self.devices,
                "world_size": self.world,
                "rng": rng[0] if self.world == 1 else rng})


def train(cfg: TrainConfig, run_dir: str | Path, progress: bool = True,
          device: torch.device | None = None, stop_at: int | None = None,
          log: Callable[[str], None] = print, deadline: float | None = None
          ) -> CompressionModel:
    """Train (or resume) the run in ``run_dir``; return the model.

    ``stop_at`` ends this call after that step and ``deadline`` (a
    ``time.time()`` value) at the first step after that moment, both with
    the checkpoint written, so a long run can be done in pieces; calling
    again continues it.  Under ``torchrun`` every process trains on its
    own crops (the batch size is per process) with
    DistributedDataParallel; rank 0 writes the log and the checkpoint.
    """
    from tqdm.auto import tqdm

    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    run = _Run(cfg, run_dir, device or get_device(), log)
    lead = run.rank == 0
    end = min(cfg.total, stop_at or cfg.total)
    log_path = run_dir / "log.csv"
    fields = ["step", "lr", "loss", "bpp", "mse", "psnr", "aux",
              "val_bpp", "val_psnr", "elapsed_s", "precision"]
    new_log = not log_path.exists()
    if not new_log:                     # a log begun before a new column
        with open(log_path, newline="") as f:
            fields = next(csv.reader(f), fields)
    with open(log_path, "a", newline="") if lead else \
            contextlib.nullcontext() as f:
        writer = csv.DictWriter(f, fieldnames=fields) if lead else None
        if lead and new_log:
            writer.writeheader()
        last_save = time.monotonic()
        bar = tqdm(total=cfg.total, initial=run.step,
                   disable=not (progress and lead),
                   desc=f"{cfg.model} λ={cfg.lmbda}")
        run.model.train()
        rounding = (lambda: cfg.quantizer == "ste"
                    or run.step >= cfg.iterations)  # final phase rounds
        precision = "bf16" if run.bf16 else "fp32"
        if lead:
            log(f"{run_dir}: transforms in {precision} "
                f"({run.why_precision})")
        with bf16_transforms(run.model, run.bf16), \
                ste_quantization(run.model, rounding):
            while run.step < end:
                t0 = time.perf_counter()
                terms = run.train_step()
                run.elapsed += time.perf_counter() - t0
                bar.update(1)
                step, row = run.step, None
                if step % cfg.log_every == 0 or step == cfg.total:
                    mse = float(terms["mse"])
                    row = {"step": step, "lr": run.opt.param_groups[0]["lr"],
                           "loss": float(terms["loss"]),
                           "bpp": float(terms["bpp"]), "mse": mse,
                           "psnr": 10 * math.log10(1 / max(mse, 1e-10)),
                           "aux": float(terms["aux"]),
                           "elapsed_s": round(run.elapsed, 1),
                           "precision": precision}
                if lead and (step % cfg.val_every == 0 or step == cfg.total):
                    v = evaluate_likelihood_rd(run.model, run.val)
                    row = (row or {"step": step,
                                   "precision": precision}) | {
                        "val_bpp": v["bpp"], "val_psnr": v["psnr"]}
                    bar.set_postfix(bpp=f"{v['bpp']:.3f}",
                                    psnr=f"{v['psnr']:.2f}")
                if lead and row:
                    writer.writerow({k: v for k, v in row.items()
                                     if k in fields})
                    f.flush()
                due = time.monotonic() - last_save > cfg.checkpoint_seconds
                late = deadline is not None and time.time() >= deadline
                if run.world > 1:                  # every rank must agree
                    flag = torch.tensor([float(due), float(late)],
                                        device=run.device)
                    torch.distributed.all_reduce(flag)
                    due, late = bool(flag[0] > 0), bool(flag[1] > 0)
                if due or late or step == end:
                    run.save()
                    last_save = time.monotonic()
                if late:
                    log(f"{run_dir}: deadline reached at step {step}")
                    break
        bar.close()
    return run.model


def _optimizer_like(model, opt, state, cfg, device):
    """The main optimiser for the phase a resumed run is in."""
    main = _split_params(model)[0]
    if len(main) != len(opt.param_groups[0]["params"]):
        opt = adam(main, cfg.lr * 0.1, device)
    load_optimizer(opt, state, device)
    return opt
