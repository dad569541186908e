"""A context model trained end to end, with the AR model's own recipe.

MSP `balanced` (default) or the authors' `pms-base` (``--model``).

The shipped MSP models are heads trained for 3,000 steps on the frozen
transforms of the mean-scale model; the shipped AR model (``mbt2018``)
trained its transforms *with* its context model (44,000 steps at
λ = 0.0067, then 10,000 warm-started steps per other λ).  That makes the
real-file comparison of the two (chapter on the MSP model) one of training
as much as of probability models.  These runs give MSP the AR model's
budget: at each λ, the training configuration recorded in the shipped AR
checkpoint — crops, seed, schedule, steps, final phase on rounded latents
— with MSP as the model, and warm starts from this script's own run of
the same parent λ.

Writes data/results/experiments/msp_joint.json (pms_joint.json for
``pms-base``; the chapter reads them):
per finished λ, the run's validation curve (CID22 val, the same 8 images
and schedule as every shipped run's log) and its Kodak result from real
files, beside the shipped mean-scale, MSP `balanced` and AR models at that
λ.  The checkpoints are exported beside the runs, not shipped.
Resumable: the runs live in runs/joint/; on 2 cores ≈ 0.15 s a step
for MSP `balanced` (λ = 0.0067: 1.9 h; each other λ: about 25 min) and
≈ 0.3–0.4 s for `pms-base` (λ = 0.0067: ≈ 5 h; each other λ: about 1 h;
tools/pms_h8_cost.py measures its step).

    python tools/joint_msp.py [--model pms-base] [--lambdas 0.0067 ...]
                              [--hours H] [--keep]

``--keep`` copies the runs' ``last.pt`` and ``log.csv`` into
data/train_state/ (committed, so a later checkout resumes them): an
unfinished run's state whole, a finished one's without its optimiser
states (its children warm-start from its weights and its export needs
nothing more; half the bytes).
"""
import argparse
import json
import shutil
import time
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", category=FutureWarning)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from lic_lib.checkpoints import (checkpoint_path, export_run,  # noqa: E402
                                 load_checkpoint)
from lic_lib.data import eval_images  # noqa: E402
from lic_lib.evaluate import image_rows, mean_rd_cost, measure_image  # noqa: E402,E501
from lic_lib.joint_results import FILES  # noqa: E402
from lic_lib.results import RESULTS, provenance  # noqa: E402
from lic_lib.train import TrainConfig, train  # noqa: E402
from lic_lib.train_config import same_recipe  # noqa: E402

MODEL = "msp-balanced"                   # --model sets these three
ROOT = Path("runs/joint") / MODEL
OUT = RESULTS / "experiments" / "msp_joint.json"
STATE = Path("data/train_state")
SHIPPED = ("mbt2018-mean", "msp-balanced", "mbt2018")
#: Parents before the λ warm-started from them (as the AR ladder trained).
ORDER = (0.0067, 0.0035, 0.013, 0.0018, 0.025)


def recipe(lmbda: float) -> tuple[TrainConfig, Path]:
    """The shipped AR model's training configuration at ``lmbda`` with
    MSP as the model, warm-starting from this script's run of the same
    parent λ; and the run folder."""
    cfg = json.loads(checkpoint_path("mbt2018", lmbda).with_suffix(".json")
                     .read_text())["train_config"]
    init = cfg["init_from"] and str(
        ROOT / Path(cfg["init_from"]).parent.name / "last.pt")
    return (TrainConfig(**{**cfg, "model": MODEL, "init_from": init}),
            ROOT / f"{lmbda:g}")


def finished(lmbda: float) -> bool:
    """Whether the run of ``lmbda`` reached its last step (refusing a
    folder left by another recipe)."""
    cfg, run = recipe(lmbda)
    if not (run / "last.pt").exists():
        return False
    state = torch.load(run / "last.pt", map_location="cpu", weights_only=True)
    if not same_recipe(state["config"], cfg):
        raise SystemExit(f"{run} holds a run of another recipe")
    return state["step"] >= cfg.total


def keep(lmbda: float) -> Path:
    """Copy the run of ``lmbda`` into data/train_state/ (see the module
    docstring) and return where."""
    _, run = recipe(lmbda)
    if not (run / "last.pt").exists():
        raise SystemExit(f"{run} has no state to keep")
    dest = STATE / run.relative_to("runs")
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy2(run / "log.csv", dest / "log.csv")
    if finished(lmbda):
        state = torch.load(run / "last.pt", map_location="cpu",
                           weights_only=True)
        torch.save({k: v for k, v in state.items()
                    if k not in ("opt", "aux_opt")}, dest / "last.pt")
    else:
        shutil.copy2(run / "last.pt", dest / "last.pt")
    return dest


def summary(rows: pd.DataFrame, lmbda: float) -> dict:
    return {"images": len(rows), "bpp": float(rows["bpp"].mean()),
            "psnr-rgb": float(rows["psnr-rgb"].mean()),
            "rd_cost": mean_rd_cost(rows, lmbda),
            "decoding_time": float(rows["decoding_time"].median())}


def measure(lmbda: float) -> dict:
    """Export the finished run of ``lmbda`` beside it and code Kodak."""
    _, run = recipe(lmbda)
    export_run(run, root=run / "export")
    net, rec = load_checkpoint(MODEL, lmbda, root=run / "export")
    tag = bytes.fromhex(rec["sha256"][:8])
    rows = pd.DataFrame([measure_image(net, img, MODEL, tag, lmbda)
                         for _, img in tqdm(eval_images("kodak"),
                                            desc=f"Kodak, λ={lmbda:g}")])
    log = pd.read_csv(run / "log.csv").dropna(subset=["val_bpp"])
    shipped = {}
    for m in SHIPPED:
        r = image_rows(m, "kodak")
        shipped[m] = summary(r[np.isclose(r["lmbda"], lmbda)], lmbda)
    return {"lmbda": lmbda,
            "recipe": {"train_config": rec["train_config"],
                       "wall_time_s": rec["wall_time_s"],
                       "device": rec["device"], "sha256": rec["sha256"]},
            "validation": log[["step", "val_bpp", "val_psnr"]].to_dict("list"),
            "kodak": summary(rows, lmbda),
            "shipped": shipped}                # Kodak, real files, same λ


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--lambdas", type=float, nargs="+", default=[0.0067],
                   choices=ORDER, help="λ to train (default: 0.0067)")
    p.add_argument("--hours", type=float,
                   help="stop training after this long (resume later)")
    p.add_argument("--model", choices=list(FILES), default=MODEL)
    p.add_argument("--keep", action="store_true",
                   help="only copy the runs' states into data/train_state/")
    a = p.parse_args()
    MODEL, ROOT = a.model, Path("runs/joint") / a.model
    OUT = RESULTS / "experiments" / FILES[a.model]
    if MODEL not in SHIPPED:          # beside its frozen-transform version
        SHIPPED = (*SHIPPED[:-1], MODEL, SHIPPED[-1])
    deadline = time.time() + a.hours * 3600 if a.hours else None
    if a.keep:
        for lam in a.lambdas:
            print(f"λ={lam:g}: kept in {keep(lam)}")
        raise SystemExit
    for lam in (lam for lam in ORDER if lam in a.lambdas):
        cfg, run = recipe(lam)
        if finished(lam):                  # (a finished state may be slim)
            continue
        parent = cfg.init_from and float(Path(cfg.init_from).parent.name)
        if parent and not (run / "last.pt").exists() and not finished(parent):
            raise SystemExit(f"λ={lam:g} warm-starts from λ={parent:g}: "
                             "train that one first")
        train(cfg, run, progress=True, deadline=deadline)
        if not finished(lam):
            raise SystemExit(f"{run} is unfinished; run again to resume")
    old = json.loads(OUT.read_text())["runs"] if OUT.exists() else {}
    runs = {}
    for lam in (lam for lam in ORDER if lam in a.lambdas):  # all finished
        print(f"λ={lam:g}: measuring on Kodak")
        runs[f"{lam:g}"] = measure(lam)
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({"model": MODEL, "runs": {**old, **runs},
                               "meta": provenance("kodak", 24)},
                              indent=1) + "\n")
    print(f"wrote {OUT}")
