"""What defines a training run: :class:`TrainConfig` (saved in every
checkpoint), its learning-rate schedule and when two configs are the same
run.

Pure data with no heavy imports, so that ``lic``'s argument parser can
list the training options without loading the training code.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

__all__ = ["TrainConfig", "lr_at", "same_recipe"]


@dataclass(frozen=True)
class TrainConfig:
    """Everything that defines a training run (saved in its checkpoint)."""

    model: str = "mbt2018-mean"
    lmbda: float = 0.0067          # RD trade-off: λ·255²·MSE + bpp
    N: int = 64                    # channels of the transforms
    M: int = 96                    # channels of the latent y
    iterations: int = 40_000       # optimiser steps of the main phase
    finetune_iterations: int = 0   # then: frozen transforms, rounded latents
    batch_size: int = 8
    crop: int = 128
    lr: float = 1e-3
    warmup: int = 200              # linear learning-rate warm-up (steps)
    lr_drop: float = 0.7           # ×0.1 from this fraction of the run on
    clip: float = 1.0              # gradient-norm clip
    aux_lr: float = 1e-3
    bf16: bool | None = None       # autocast the transforms in bf16 (CPU
    #                                only); None: where the CPU has native
    #                                bf16 (lic_lib.precision)
    log_every: int = 100           # steps between training rows in the log
    val_every: int = 2_000         # steps between validation rows in the log
    val_images: int = 8            # CID22 val/ images used for validation
    checkpoint_seconds: float = 300.0
    seed: int = 0
    init_from: str | None = None   # warm start: weights of another run
    quantizer: str = "noise"       # or "ste": rounding, straight-through

    @property
    def total(self) -> int:
        return self.iterations + self.finetune_iterations


def lr_at(step: int, cfg: TrainConfig) -> float:
    """Learning rate at ``step``: warm-up, plateau, ×0.1 drop (pure)."""
    if step < cfg.warmup:
        return cfg.lr * (step + 1) / cfg.warmup
    if step >= cfg.lr_drop * cfg.iterations:
        return cfg.lr * 0.1
    return cfg.lr


def same_recipe(saved: dict, cfg: TrainConfig) -> bool:
    """Whether a saved config (``last.pt`` or a checkpoint record) is the
    run ``cfg`` describes.  Two fields do not count: where the warm-start
    weights were read from (a finished run's ``last.pt`` and its shipped
    fp16 export are the same weights, to fp16 rounding) and ``bf16``, the
    arithmetic of the transforms, which follows the machine a run happens
    to be on (:mod:`lic_lib.precision`) and changes speed, not the recipe.
    """
    default = dataclasses.asdict(TrainConfig())
    return all(saved.get(k, default[k]) == v
               for k, v in dataclasses.asdict(cfg).items()
               if k not in ("init_from", "bf16"))
