"""The LOF settings ablation of the LOF chapter: surrogate (STE vs SGA),
step size, and greedy acceptance vs the last iterate, on 384×256 crops of
the first Kodak images with the shipped mean-scale model at λ = 0.0067.
Writes data/results/lof/settings.csv (python tools/lof_settings.py)."""
import argparse
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)

import pandas as pd  # noqa: E402

from lic_lib.checkpoints import load_checkpoint  # noqa: E402
from lic_lib.data import eval_images  # noqa: E402
from lic_lib.lof import LOFConfig, compare_settings  # noqa: E402
from lic_lib.results import RESULTS  # noqa: E402

SETTINGS = {
    "STE, lr 1e-3": LOFConfig(surrogate="ste", lr=1e-3),
    "STE, lr 1e-2": LOFConfig(surrogate="ste", lr=1e-2),
    "STE, lr 1e-2, last iterate": LOFConfig(surrogate="ste", lr=1e-2,
                                            greedy=False),
    "SGA, lr 5e-3": LOFConfig(lr=5e-3),
    "SGA, lr 2e-2 (default)": LOFConfig(),
    "SGA, lr 2e-2, last iterate": LOFConfig(greedy=False),
}

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--images", type=int, default=4)
    p.add_argument("--lmbda", type=float, default=0.0067)
    p.add_argument("--only", nargs="+", metavar="SETTING",
                   help="run these settings and replace their rows in the "
                        "existing file")
    a = p.parse_args()
    chosen = {k: SETTINGS[k] for k in (a.only or SETTINGS)}
    net, _ = load_checkpoint("mbt2018-mean", a.lmbda)
    crops = [(n, img[128:384, 192:576].copy())
             for n, img in eval_images("kodak", limit=a.images)]
    rows = pd.DataFrame(compare_settings(net, crops, a.lmbda, chosen,
                                         progress=True))
    out = RESULTS / "lof" / "settings.csv"
    out.parent.mkdir(parents=True, exist_ok=True)
    if a.only and out.exists():
        old = pd.read_csv(out)
        rows = pd.concat([old[~old.setting.isin(a.only)], rows])
        rows["order"] = rows.setting.map(list(SETTINGS).index)
        rows = rows.sort_values(["order", "image"], kind="stable").drop(
            columns="order")
    rows.to_csv(out, index=False, float_format="%.6g")
    print(f"wrote {out}")
