"""Run profiles, paths and the compute device.

Introduced in the chapter {ref}`chap-introduction`.

Every chapter reads one *profile* from the environment variable
``LIC_PROFILE`` so that the same notebook can be a 2-minute smoke test in
CI, the rendered book, or a full recomputation:

========  ==============================================================
``ci``    tiny live experiments (few images, small crops), everything
          else loaded from the committed results; each chapter in ≤ 3 min
          on 2 CPU cores.
``book``  (default) the rendered book: live demonstrations on a few whole
          images, RD results and checkpoints loaded from ``data/``.
``full``  recompute every result from scratch (hours on a CPU).
========  ==============================================================

The device is CUDA when one is visible, else the CPU; ``LIC_DEVICE``
overrides it (``LIC_DEVICE=cpu`` on a GPU machine, for instance).
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:                 # imported where used: `lic info` and the
    import torch                  # data paths need no torch

__all__ = ["Profile", "PROFILES", "get_profile", "get_device", "set_seed",
           "ROOT", "DATA", "RESULTS", "data_dir"]

#: The repository root (the folder holding ``lic_lib`` and ``data``).
ROOT = Path(__file__).resolve().parent.parent
#: Small committed data: Kodak, anchors, results, checkpoints.
DATA = ROOT / "data"
#: RD results in CompressAI's JSON schema, one folder per dataset
#: (``$LIC_RESULTS_DIR`` redirects them: ``make reproduce`` recomputes into
#: a fresh folder and compares with the committed one).
RESULTS = Path(os.environ["LIC_RESULTS_DIR"]).resolve() \
    if os.environ.get("LIC_RESULTS_DIR") else DATA / "results"


@dataclass(frozen=True)
class Profile:
    """How much a chapter computes live.

    Attributes:
        name: ``ci``, ``book`` or ``full``.
        eval_images: how many images of an evaluation set live experiments
            use (``None``: all of them).
        max_side: live experiments downscale larger images to this longest
            side (``None``: full resolution).
        recompute: recompute results that are otherwise loaded from
            ``data/results`` (only ``full``).
        progress: show tqdm progress bars (off where output is rendered).
        train_steps: optimiser steps of the small models chapters train
            live (the shipped models are trained separately).
    """

    name: str
    eval_images: int | None
    max_side: int | None
    recompute: bool
    progress: bool
    train_steps: int


PROFILES = {
    "ci": Profile("ci", eval_images=2, max_side=256, recompute=False,
                  progress=False, train_steps=60),
    "book": Profile("book", eval_images=4, max_side=None, recompute=False,
                    progress=False, train_steps=600),
    "full": Profile("full", eval_images=None, max_side=None, recompute=True,
                    progress=True, train_steps=5000),
}


def get_profile(name: str | None = None) -> Profile:
    """The profile named by ``name`` or ``$LIC_PROFILE`` (default ``book``)."""
    name = name or os.environ.get("LIC_PROFILE", "book")
    try:
        return PROFILES[name]
    except KeyError:
        raise ValueError(f"LIC_PROFILE={name!r} is not a profile; choose one "
                         f"of {', '.join(PROFILES)}") from None


def get_device() -> torch.device:
    """``$LIC_DEVICE`` if set, else CUDA when available, else the CPU."""
    import torch
    name = os.environ.get("LIC_DEVICE")
    if name:
        return torch.device(name)
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def set_seed(seed: int = 0) -> None:
    """Seed Python, NumPy and PyTorch (CPU and CUDA) in one call."""
    import numpy as np
    import torch
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def data_dir() -> Path:
    """Folder of the large data sets (training photos, ``clic2025``).

    ``$LIC_DATA_DIR`` when set; otherwise ``../shared/data`` beside the
    repository, where CI puts it.
    """
    env = os.environ.get("LIC_DATA_DIR")
    return Path(env).expanduser().resolve() if env else \
        (ROOT.parent / "shared" / "data").resolve()
