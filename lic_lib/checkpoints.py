"""Shipped checkpoints: fp16 weights, a SHA-256 and a JSON record each.

Introduced in the chapter {ref}`chap-vae-codec`.

``data/checkpoints/<model>/<λ>.pt`` holds the trained weights in fp16
(buffers such as the likelihood bounds stay fp32) without the entropy
coder's CDF tables; those are shipped as integers beside it
(``<λ>.tables.npz``, :mod:`lic_lib.tables`), never recomputed in float on
the machine that decodes.  ``<λ>.json`` records the training run (λ,
widths, iterations, crops, wall time, device, commit) and the SHA-256 of
the weights and of the tables, which :func:`load_checkpoint` verifies
before ``torch.load(..., weights_only=True)``.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from torch import nn

from .bitstream import LAMBDAS
from .config import DATA
from .data import sha256
from .models import CompressionModel, build_model
from .results import provenance
from .tables import (TablesError, load_tables, save_bottleneck_tables,
                     tables_path)

__all__ = ["CHECKPOINTS", "LAMBDAS", "export_run", "load_checkpoint",
           "checkpoint_path", "CheckpointError", "training_records"]

CHECKPOINTS = DATA / "checkpoints"
_REBUILT = ("_quantized_cdf", "_offset", "_cdf_length", "scale_table",
            "context_prediction.mask")     # fixed by the architecture


class CheckpointError(FileNotFoundError):
    """A shipped checkpoint is missing or does not match its SHA-256."""


def checkpoint_path(model: str, lmbda: float, root: Path | None = None
                    ) -> Path:
    return (root or CHECKPOINTS) / model / f"{lmbda:g}.pt"


def export_run(run_dir: str | Path, root: Path | None = None,
               device: str | None = None) -> Path:
    """Write the run's final weights as a shipped fp16 checkpoint."""
    run_dir = Path(run_dir)
    state = torch.load(run_dir / "last.pt", map_location="cpu",
                       weights_only=True)
    cfg = state["config"]
    if state["step"] < cfg["iterations"] + cfg["finetune_iterations"]:
        raise ValueError(f"{run_dir} is unfinished (step {state['step']})")
    params = {n for n, _ in build_model(cfg["model"], cfg["N"],
                                        cfg["M"]).named_parameters()}
    # parameters in fp16; buffers (the entropy models' lower bounds, e.g.
    # 1e-9 on likelihoods, which fp16 would round to 0) stay fp32
    weights = {k: v.half() if k in params and v.is_floating_point() else v
               for k, v in state["model"].items()
               if not k.endswith(_REBUILT)}
    path = checkpoint_path(cfg["model"], cfg["lmbda"], root)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save(weights, path)
    last_val = _last_validation(run_dir / "log.csv")
    record = {"model": cfg["model"], "lmbda": cfg["lmbda"], "N": cfg["N"],
              "M": cfg["M"], "iterations": cfg["iterations"],
              "finetune_iterations": cfg["finetune_iterations"],
              "crops": f"{cfg['batch_size']}×{cfg['crop']}² per step",
              "wall_time_s": round(state["elapsed"], 1),
              "device": device or _devices(state),
              "sha256": sha256(path), "bytes": path.stat().st_size,
              "validation": last_val, "train_config": cfg,
              **{k: v for k, v in provenance("train", 187).items()
                 if k in ("commit", "date", "dataset_sha256sums")}}
    record["tables_sha256"] = save_bottleneck_tables(
        _with_weights(cfg["model"], record, weights, path),
        tables_path(path))
    path.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    shutil.copyfile(run_dir / "log.csv", path.with_suffix(".csv"))
    return path


def _devices(state: dict) -> str:
    """Where a run trained: one device, or several with their step ranges
    (a run started on a GPU and finished on a CPU, say)."""
    hist = state.get("devices") or [[state.get("device", "unknown"), 0]]
    if len(hist) == 1:
        return hist[0][0]
    ends = [s for _, s in hist[1:]] + [state["step"]]
    return "; ".join(f"{d}: steps {s}–{e}"
                     for (d, s), e in zip(hist, ends))


def _last_validation(log: Path) -> dict:
    import csv
    with open(log, newline="") as f:
        rows = [r for r in csv.DictReader(f) if r.get("val_bpp")]
    if not rows:
        return {}
    r = rows[-1]
    return {"step": int(r["step"]), "bpp_estimate": float(r["val_bpp"]),
            "psnr": float(r["val_psnr"]), "images": "CID22 val/ (first 8)"}


def load_checkpoint(model: str, lmbda: float, device: torch.device | str
                    = "cpu", root: Path | None = None
                    ) -> tuple[CompressionModel, dict]:
    """The shipped model ``model`` at ``lmbda``, ready to code, + record."""
    path = checkpoint_path(model, lmbda, root)
    meta = path.with_suffix(".json")
    if not path.exists() or not meta.exists():
        raise CheckpointError(f"no shipped checkpoint {path} (with its "
                              ".json); train one with `lic train` and "
                              "export it")
    record = json.loads(meta.read_text())
    if sha256(path) != record["sha256"]:
        raise CheckpointError(f"{path} does not match the SHA-256 in {meta}")
    weights = torch.load(path, map_location="cpu", weights_only=True)
    owner = record
    if "base" in record:           # a context model: only its own weights
        base = _base_weights(record["base"], root)
        if "from_base" in record:  # it takes only these parts of the base
            base = {k: v for k, v in base.items()
                    if k.startswith(tuple(record["from_base"]))}
        weights = {**base, **weights}
        if "tables_sha256" not in record:      # it codes with the base's ẑ
            owner = json.loads(checkpoint_path(
                record["base"]["model"], record["base"]["lmbda"],
                root).with_suffix(".json").read_text())
    net = _with_weights(model, record, weights, path)
    if "tables_sha256" not in owner:
        raise CheckpointError(f"{path} has no integer coding tables (an "
                              "export from before format version 2); "
                              "export it again")
    tables = tables_path(checkpoint_path(owner["model"], owner["lmbda"],
                                         root))
    try:
        load_tables(net, tables, owner["tables_sha256"])
    except TablesError as e:
        raise CheckpointError(str(e)) from None
    return net.to(device).eval(), record


def _with_weights(model: str, record: dict, weights: dict, path: Path
                  ) -> CompressionModel:
    """``build_model(model)`` holding ``weights`` (fp16 → fp32)."""
    net = build_model(model, record["N"], record["M"])
    missing, unexpected = nn.Module.load_state_dict(
        net, {k: v.float() if v.is_floating_point() else v
              for k, v in weights.items()}, strict=False)
    bad = [k for k in missing if not k.endswith(_REBUILT)] + unexpected
    if bad:
        raise CheckpointError(f"{path} does not fit {model} "
                              f"N={record['N']} M={record['M']}: {bad[:3]}")
    return net


def _base_weights(base: dict, root: Path | None) -> dict:
    """The weights of the checkpoint a context model extends, checked to
    be the very file it was trained on."""
    path = checkpoint_path(base["model"], base["lmbda"], root)
    if not path.exists() or sha256(path) != base["sha256"]:
        raise CheckpointError(f"{path} is missing or is not the checkpoint "
                              "this context model was trained on")
    return torch.load(path, map_location="cpu", weights_only=True)


def _parent_lambda(cfg: dict) -> str:
    """λ of the run a run was warm-started from (its last.pt or export)."""
    if not cfg.get("init_from"):
        return "—"
    p = Path(cfg["init_from"])
    return p.parent.name if p.name == "last.pt" else p.stem


def training_records(models: list[str], root: Path | None = None):
    """One row per shipped checkpoint: how it was trained (a DataFrame).

    Columns: model, λ, main and final-phase iterations, crops, wall time,
    device(s), last validation (bpp estimate and PSNR on CID22 val/), and
    the file size.
    """
    import pandas as pd
    rows = []
    for model in models:
        for lam in LAMBDAS:
            meta = checkpoint_path(model, lam, root).with_suffix(".json")
            if not meta.exists():
                continue
            r = json.loads(meta.read_text())
            v = r.get("validation", {})
            rows.append({
                "model": model, "λ": lam, "iterations": r["iterations"],
                "final phase": r["finetune_iterations"],
                "crops": r["crops"],
                "warm start": _parent_lambda(r["train_config"]),
                "wall time [min]": round(r["wall_time_s"] / 60, 1),
                "device": r["device"], "val bpp": v.get("bpp_estimate"),
                "val PSNR [dB]": v.get("psnr"),
                "size [MB]": round(r["bytes"] / 1e6, 2)})
    return pd.DataFrame(rows)
