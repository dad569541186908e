"""Shipping a context model trained on frozen transforms.

Introduced in the chapter {ref}`chap-msp`.  A finished run of
:func:`lic_lib.frozen.train_context` becomes a checkpoint of the context
model's own parameters in fp16, with a record naming the base checkpoint
it extends (and that checkpoint's SHA-256); a model with an entropy
bottleneck of its own (the authors' PMS) also ships its integer coding
table.  A run that re-fits the base model's own parameters replaces them
in the base checkpoint instead.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import shutil
from pathlib import Path

import torch

from .checkpoints import _REBUILT, checkpoint_path
from .frozen import FrozenConfig
from .models import build_model
from .tables import save_bottleneck_tables, tables_path

__all__ = ["read_log", "export_context"]


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

    A model with an entropy bottleneck of its own (the authors' PMS) ships
    its integer table too, and the record lists the ``from_base`` parts.
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
    model, extra = build_model(cfg.model, base_rec["N"], base_rec["M"]), {}
    own = _own_weights(model, state)
    torch.save(own, path)
    if any(k.startswith("entropy_bottleneck.") for k in own):
        torch.nn.Module.load_state_dict(
            model, {k: v.float() if v.is_floating_point() else v
                    for k, v in own.items()}, strict=False)
        extra["tables_sha256"] = save_bottleneck_tables(model,
                                                        tables_path(path))
    if hasattr(model, "from_base"):
        extra["from_base"] = list(model.from_base)
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
        "precision": state.get("precision", "fp32"),   # runs before bf16
        "sha256": sha256(path), "bytes": path.stat().st_size,
        "validation": {"step": int(rows[-1]["step"]),
                       "bpp_estimate": rows[-1]["kodak_bpp"],
                       "images": "Kodak (24), likelihoods"},
        "train_config": dataclasses.asdict(cfg),
        **{k: v for k, v in provenance("train", 187).items()
           if k in ("commit", "date", "dataset_sha256sums")}, **extra}
    path.with_suffix(".json").write_text(json.dumps(record, indent=2) + "\n")
    shutil.copyfile(run_dir / "log.csv", path.with_suffix(".csv"))
    return path


def _own_weights(model: torch.nn.Module, state: dict) -> dict:
    """What a context checkpoint ships: the trained parameters in fp16 and,
    for a model with a bottleneck of its own, that bottleneck's buffers
    (fp32; the coding tables are shipped as integers instead)."""
    own = {k: v.half() for k, v in state["model"].items()}
    if any(k.startswith("entropy_bottleneck.") for k in own):
        own.update({k: v for k, v in model.state_dict().items()
                     if k.startswith(("entropy_bottleneck.",
                                      "gaussian_conditional."))
                     and k not in own and not k.endswith(_REBUILT)})
    return own


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
