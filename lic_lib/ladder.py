"""The λ ladder: one model trained at every quality, resumably.

Introduced in the chapter {ref}`chap-vae-codec`; run it with
``lic ladder``.  The ladder is trained outwards from its middle: the main
λ from scratch (:func:`lic_lib.train.train`), each other λ warm-started
from its trained neighbour, so that a shorter run suffices there.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from pathlib import Path
from typing import Callable

import torch

from .train import train
from .train_config import TrainConfig, same_recipe

__all__ = ["MAIN_LAMBDA", "ladder_plan", "train_ladders"]

#: The λ ladder is trained outwards from its middle: the main λ from
#: scratch, each other λ warm-started from its trained neighbour.  Five of
#: the six qualities are trained: the checkpoint budget of the repository
#: (≈ 80 MB) holds five λ of the four baselines (≈ 63 MB) and the context
#: models; quality 6 (λ = 0.0483) is left out.
MAIN_LAMBDA = 0.0067
_NEIGHBOUR = {0.0035: 0.0067, 0.013: 0.0067, 0.0018: 0.0035,
              0.025: 0.013}


def ladder_plan(model: str, root: str | Path = "runs", main_iterations:
                int = 40_000, main_finetune: int = 4_000, iterations: int =
                8_000, finetune: int = 2_000, **overrides
                ) -> list[tuple[TrainConfig, Path]]:
    """(config, run folder) for every λ of the ladder, in training order."""
    root = Path(root) / model
    plan = [(TrainConfig(model=model, lmbda=MAIN_LAMBDA,
                         iterations=main_iterations,
                         finetune_iterations=main_finetune, **overrides),
             root / f"{MAIN_LAMBDA:g}")]
    for lam, parent in _NEIGHBOUR.items():
        plan.append((TrainConfig(
            model=model, lmbda=lam, iterations=iterations,
            finetune_iterations=finetune, warmup=0,
            init_from=str(root / f"{parent:g}" / "last.pt"), **overrides),
            root / f"{lam:g}"))
    return plan




def _warm_start(parent: TrainConfig, parent_dir: Path) -> str | None:
    """The weights a run warm-starts from, once its parent is done: the
    parent's finished ``last.pt``, or else its shipped checkpoint if that
    was trained with the same recipe (so a ladder can be finished in a
    later session, or on another machine, from what is committed)."""
    if _finished(parent, parent_dir):
        return str(parent_dir / "last.pt")
    shipped = _shipped(parent)
    return str(shipped) if shipped else None


def _shipped(cfg: TrainConfig) -> Path | None:
    """The shipped checkpoint of ``cfg``'s model and λ, if it was trained
    with this recipe."""
    from .checkpoints import checkpoint_path
    path = checkpoint_path(cfg.model, cfg.lmbda)
    meta = path.with_suffix(".json")
    if path.exists() and meta.exists() and same_recipe(
            json.loads(meta.read_text())["train_config"], cfg):
        return path
    return None


def _finished(cfg: TrainConfig, run_dir: Path) -> bool:
    done = run_dir / "last.pt"
    return done.exists() and torch.load(
        done, map_location="cpu", weights_only=True)["step"] >= cfg.total


def _train_job(cfg: TrainConfig, run_dir: Path, deadline: float | None,
               threads: int) -> None:
    """Body of one ladder run in its own process (see train_ladders)."""
    torch.set_num_threads(threads)
    train(cfg, run_dir, progress=False, deadline=deadline,
          log=lambda m: print(m, flush=True))


def train_ladders(models: list[str], root: str | Path = "runs",
                  jobs: int = 1, hours: float | None = None,
                  progress: bool = True, log: Callable[[str], None] = print,
                  last_start: float | None = None,
                  **plan_kw) -> list[Path]:
    """Train (resuming) and export every λ of each model in ``models``.

    With ``jobs=1`` the runs go one after the other in this process.  With
    more, up to ``jobs`` runs train at once, each in its own process (on a
    GPU, small models leave it mostly idle, so several fill it better), a
    run starting as soon as the run it is warm-started from is done; main
    λ first, for every model, then outwards.  ``hours`` bounds the wall
    time: at the deadline every run saves its checkpoint and stops, and
    calling again resumes them.  ``last_start`` (hours) stops starting
    new runs after that long, so that a session does not end with runs
    that are barely begun.  Returns the exported checkpoints.
    """
    from .checkpoints import export_run

    plans = [ladder_plan(m, root, **plan_kw) for m in models]
    queue = [job for ring in zip(*plans) for job in ring]   # main λ first
    deadline = time.time() + hours * 3600 if hours else None
    no_new = time.time() + last_start * 3600 if last_start else None
    exported: list[Path] = []
    by_dir = {run_dir: cfg for cfg, run_dir in queue}

    def ready(cfg: TrainConfig) -> TrainConfig | None:
        """``cfg`` with its warm-start source, or None if not yet."""
        if not cfg.init_from:
            return cfg
        up = Path(cfg.init_from).parent
        src = _warm_start(by_dir[up], up)
        return dataclasses.replace(cfg, init_from=src) if src else None

    def export(run_dir: Path) -> None:
        exported.append(export_run(run_dir))
        log(f"exported {exported[-1]}")

    if jobs == 1:
        for cfg, run_dir in queue:
            now = time.time()
            if (deadline and now >= deadline) or (no_new and now >= no_new):
                break
            if _shipped(cfg):
                continue                     # done earlier: record stays
            if not _finished(cfg, run_dir):
                if (cfg := ready(cfg)) is None:
                    log(f"{run_dir}: its warm start is not trained yet")
                    continue
                train(cfg, run_dir, progress=progress, log=log,
                      deadline=deadline)
            if _finished(cfg, run_dir):
                export(run_dir)
        return exported

    import multiprocessing as mp
    ctx = mp.get_context("spawn")           # fresh CUDA state per process
    threads = max(1, (os.cpu_count() or 2) // jobs)
    shipped = {run_dir for cfg, run_dir in queue if _shipped(cfg)}
    done = {run_dir for cfg, run_dir in queue if _finished(cfg, run_dir)}
    for d in sorted(done - shipped):     # shipped: the record stays as is
        export(d)
    done |= shipped
    running: dict[Path, tuple[TrainConfig, mp.Process]] = {}
    waiting = [(c, d) for c, d in queue if d not in done]
    while waiting or running:
        for run_dir, (cfg, proc) in list(running.items()):
            if proc.is_alive():
                continue
            del running[run_dir]
            if proc.exitcode == 0 and _finished(cfg, run_dir):
                done.add(run_dir)
                export(run_dir)
            elif proc.exitcode != 0:        # its dependents are dropped
                log(f"{run_dir} failed (exit code {proc.exitcode})")
        now = time.time()
        late = (deadline is not None and now >= deadline) or \
            (no_new is not None and now >= no_new)
        for cfg, run_dir in list(waiting):
            up = Path(cfg.init_from).parent if cfg.init_from else None
            parent_done = up is None or up in done
            pending = up in running or any(up == d for _, d in waiting)
            if late or not (parent_done or pending):
                waiting.remove((cfg, run_dir))   # cannot start (now)
            elif parent_done and len(running) < jobs:
                started = ready(cfg)             # reads the parent once
                waiting.remove((cfg, run_dir))
                proc = ctx.Process(target=_train_job,
                                   args=(started, run_dir, deadline,
                                         threads))
                proc.start()
                running[run_dir] = (started, proc)
                log(f"started {run_dir}")
        time.sleep(1.0)
    return exported
