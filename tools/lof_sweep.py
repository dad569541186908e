"""The LOF sweep behind the LOF chapter, in order of priority and
resumable (every image's result is kept in data/results/<set>/rows/):
python tools/lof_sweep.py [--models M ...] [--kodak-images N] [--ood [--ood-images N]]."""
import argparse
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)

from lic_lib.evaluate import evaluate_model, shipped_lambdas  # noqa: E402
from lic_lib.lof import LOFConfig  # noqa: E402

MODELS = ("mbt2018-mean", "msp-balanced")
FIRST = (0.0067, 0.0035, 0.013)           # in this order

if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--models", nargs="+", default=list(MODELS))
    p.add_argument("--kodak-images", type=int, default=4)
    p.add_argument("--ood-images", type=int, default=6)
    p.add_argument("--ood", action="store_true",
                   help="also the out-of-domain set at λ = 0.0067")
    a = p.parse_args()
    for model in a.models:
        lams = [lam for lam in FIRST if lam in shipped_lambdas(model)]
        for i in range(len(lams)):          # the JSON after every λ
            evaluate_model(model, "kodak", lams[:i + 1], a.kodak_images,
                           lof=LOFConfig(), progress=True)
        if a.ood:       # plain rows: `lic eval --model M --dataset ood`
            evaluate_model(model, "ood", [0.0067], a.ood_images,
                           lof=LOFConfig(), progress=True)
