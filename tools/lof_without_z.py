"""How much of LOF's gain on our MSP comes from moving ẑ.

The authors' `pms-base` has no hyper-latent, so LOF can move its ŷ only,
and on the images of its sweep it saves far less than on our MSP
`balanced`, whose search moves ŷ and ẑ.  This codes the same images at
the same λ with `balanced` and the sweep's settings but ``optimize_z=False``
(ŷ only), for real, alone on the machine, one row per (image, λ), appended
as it is made (resumable) to data/results/lof/without_z.jsonl.  The LOF
chapter compares it with the sweep's rows on the same images.

    python tools/lof_without_z.py [--model msp-balanced] [--images 8]
"""
import argparse
import json
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)

from tqdm import tqdm  # noqa: E402

from lic_lib.checkpoints import load_checkpoint  # noqa: E402
from lic_lib.data import eval_images  # noqa: E402
from lic_lib.evaluate import measure_image  # noqa: E402
from lic_lib.lof import LOFConfig  # noqa: E402
from lic_lib.lof_report import WITHOUT_Z as OUT  # noqa: E402

LAMBDAS = (0.0035, 0.0067, 0.013)          # the Kodak sweep's

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--model", default="msp-balanced")
    p.add_argument("--images", type=int, default=8,
                   help="the first N Kodak images (pms-base's sweep has 8)")
    a = p.parse_args()
    done = set()
    if OUT.exists():
        done = {(r["model"], r["sha256"], r["image"])
                for r in map(json.loads, OUT.read_text().splitlines())}
    images = eval_images("kodak", a.images)
    for lam in LAMBDAS:
        net, rec = load_checkpoint(a.model, lam)
        tag = bytes.fromhex(rec["sha256"][:8])
        for stem, img in tqdm(images, desc=f"{a.model} λ={lam:g} (ŷ only)"):
            if (a.model, rec["sha256"], stem) in done:
                continue
            row = measure_image(net, img, a.model, tag, lam,
                                LOFConfig(optimize_z=False))
            OUT.parent.mkdir(parents=True, exist_ok=True)
            with open(OUT, "a") as f:
                f.write(json.dumps({"model": a.model, "lmbda": lam,
                                    "image": stem, "sha256": rec["sha256"],
                                    **row}) + "\n")
    print(f"wrote {OUT}")
