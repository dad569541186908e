"""Exercise 5 of the hyperprior chapter, run for real: a mean-scale model
whose analysis and synthesis transforms start from the shipped scale
hyperprior's (λ = 0.0067), trained with a neighbour λ's budget of the
ladder (8,000 + 2,000 steps): with the ladder's recipe, and with 256²
crops instead of 128² (batch 2, the same pixels per step), each measured on Kodak from real files beside the
shipped mean-scale and scale hyperprior models.

Writes data/results/experiments/mean_scale_warm_start.json (the chapter
reads it).  Resumable: the runs live in runs/ms_from_hp*.

    python tools/warm_start.py    # two runs, ≈ 20 min each on 2 cores
"""
import argparse
import json
import warnings
from pathlib import Path

warnings.filterwarnings("ignore", category=FutureWarning)

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from lic_lib.checkpoints import checkpoint_path, export_run, load_checkpoint  # noqa: E402,E501
from lic_lib.data import eval_images  # noqa: E402
from lic_lib.evaluate import image_rows, mean_rd_cost, measure_image  # noqa: E402,E501
from lic_lib.results import RESULTS, provenance  # noqa: E402
from lic_lib.codec import image_tensor  # noqa: E402
from lic_lib.rate_estimate import rate_on_tiles  # noqa: E402
from lic_lib.train import TrainConfig, train  # noqa: E402

LMBDA = 0.0067
RUN = "runs/ms_from_hp"
OUT = RESULTS / "experiments" / "mean_scale_warm_start.json"


def summary(rows: pd.DataFrame) -> dict:
    return {"images": len(rows), "bpp": float(rows["bpp"].mean()),
            "psnr-rgb": float(rows["psnr-rgb"].mean()),
            "ms-ssim-rgb": float(rows["ms-ssim-rgb"].mean()),
            "rd_cost": mean_rd_cost(rows, LMBDA)}


VARIANTS = {                       # name → (run folder, TrainConfig fields)
    "ladder recipe": (RUN, {}),
    "256² crops, batch 2": (f"{RUN}_crop256", {"crop": 256, "batch_size": 2}),
}


def run_variant(name: str, iterations: int, finetune: int) -> dict:
    """Train (or resume) one warm-started run and measure it on Kodak."""
    run, fields = VARIANTS[name]
    transforms = "runs/hp_transforms.pt"
    sd = torch.load(checkpoint_path("bmshj2018-hyperprior", LMBDA),
                    weights_only=True)
    torch.save({k: v for k, v in sd.items() if k.startswith(("g_a.", "g_s."))},
               transforms)
    cfg = TrainConfig(model="mbt2018-mean", lmbda=LMBDA,
                      iterations=iterations, finetune_iterations=finetune,
                      init_from=transforms, **fields)
    train(cfg, run)
    root = Path(run) / "export"            # not shipped: beside the run
    export_run(run, root=root)
    net, rec = load_checkpoint("mbt2018-mean", LMBDA, root=root)
    tag = bytes.fromhex(rec["sha256"][:8])
    kodak = [a for _, a in eval_images("kodak")]
    rows = pd.DataFrame([measure_image(net, img, "mbt2018-mean", tag, LMBDA)
                         for img in tqdm(kodak, desc=f"Kodak, {name}")])
    log = pd.read_csv(f"{run}/log.csv").dropna(subset=["val_bpp"])
    tiles = rate_on_tiles(net, [image_tensor(a)[0] for a in kodak[:8]])
    return {"recipe": {"changed": fields, "iterations": iterations,
                       "finetune_iterations": finetune,
                       "wall_time_s": rec["wall_time_s"],
                       "device": rec["device"], "sha256": rec["sha256"]},
            "validation": log[["step", "val_bpp", "val_psnr"]].to_dict("list"),
            "kodak": summary(rows),
            "tiles_bpp": {str(n): r for n, r in tiles.items()}}  # 8 images


def write(name: str, variant: dict) -> dict:
    """Add one variant to the result file (re-read first: variants may run
    in parallel processes) with the shipped models beside it."""
    old = json.loads(OUT.read_text()) if OUT.exists() else {}
    shipped = {}
    kodak = [image_tensor(a)[0] for _, a in eval_images("kodak", limit=8)]
    for m in ("mbt2018-mean", "bmshj2018-hyperprior"):
        rows = image_rows(m, "kodak")
        tiles = rate_on_tiles(load_checkpoint(m, LMBDA)[0], kodak)
        shipped[m] = {**summary(rows[np.isclose(rows["lmbda"], LMBDA)]),
                      "tiles_bpp": {str(n): r for n, r in tiles.items()}}
    new = {"lmbda": LMBDA,
           "init": "g_a, g_s of the shipped bmshj2018-hyperprior at "
                   "λ = 0.0067 (44,000 steps); h_a, h_s and the entropy "
                   "models from scratch",
           "warm_start": {**old.get("warm_start", {}), name: variant},
           "shipped": shipped,                 # Kodak, real files, same λ
           "meta": provenance("kodak", 24)}
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps(new, indent=1) + "\n")
    return new


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--variants", nargs="+", default=list(VARIANTS),
                   choices=list(VARIANTS))
    p.add_argument("--iterations", type=int, default=8_000)
    p.add_argument("--finetune-iterations", type=int, default=2_000)
    a = p.parse_args()
    for name in a.variants:
        done = write(name, run_variant(name, a.iterations,
                                       a.finetune_iterations))
    table = {f"warm start, {k}": v["kodak"]
             for k, v in done["warm_start"].items()}
    print(pd.DataFrame({**table, **done["shipped"]}).T.round(4))
    print(f"wrote {OUT}")
