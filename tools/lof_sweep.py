"""The LOF sweep behind the LOF chapter, in order of priority and
resumable (every image's result is kept in data/results/<set>/rows/):
python tools/lof_sweep.py [--models M ...] [--kodak-images N] [--ood [--ood-images N]]
                          [--clic2025 N] [--device cuda]

On 2 CPU cores, alone, LOF took 41–67 s per Kodak image and λ (200
iterations; the encoding_time of the rows; Intel Xeon) and 10–13 minutes
per 2K image of clic2025 and λ (AMD EPYC; the first two images are
shipped at three λ; data/results/README.md records both): more of
clic2025 is meant for a lent GPU or a long resumable run."""
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
    p.add_argument("--kodak-images", type=int, default=20,
                   help="the first N Kodak images (default: the shipped sweep's"
                        " 20; pms-base's has 8)")
    p.add_argument("--ood-images", type=int, default=6)
    p.add_argument("--ood", action="store_true",
                   help="also the out-of-domain set at λ = 0.0067")
    p.add_argument("--clic2025", type=int, default=0, metavar="N",
                   help="also the first N clic2025 images at the same λ "
                        "(plain rows: `lic eval --dataset clic2025`)")
    p.add_argument("--device", default="cpu")
    a = p.parse_args()
    for model in a.models:
        lams = [lam for lam in FIRST if lam in shipped_lambdas(model)]
        for dataset, n in (("kodak", a.kodak_images), ("clic2025", a.clic2025)):
            for i in range(len(lams) if n else 0):    # the JSON after every λ
                evaluate_model(model, dataset, lams[:i + 1], n, a.device,
                               lof=LOFConfig(), progress=True)
        if a.ood:       # plain rows: `lic eval --model M --dataset ood`
            evaluate_model(model, "ood", [0.0067], a.ood_images, a.device,
                           lof=LOFConfig(), progress=True)
