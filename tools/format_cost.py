"""What format version 2 costs: rate and decode time.

``timing [MODEL…]``: for every shipped model at λ 0.0067, one Kodak image
(768×512) and the 2K photograph of the complexity chapter are coded in
both arithmetics (version 1: float; version 2: integers) and the two files
are decoded in turn, seven times each (median); the file sizes come with
them.  Both files use CompressAI's rANS coder (version 1 knows no other),
so the difference is the integer arithmetic alone.  Run it on a quiet
machine.

``bd``: BD-rate of every model's version-2 result files against its
version-1 result files (at commit ``V1``, the last before they were
re-measured) on every data set.

Both update ``data/results/complexity/format_v2.json``.

    .venv/bin/python tools/format_cost.py timing
    .venv/bin/python tools/format_cost.py bd
"""

import json
import statistics
import subprocess
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", category=FutureWarning)

from lic_lib.checkpoints import load_checkpoint  # noqa: E402
from lic_lib.codec import decode_tensors, encode_image  # noqa: E402
from lic_lib.complexity import device_label  # noqa: E402
from lic_lib.data import eval_images  # noqa: E402
from lic_lib.models import BASELINES, CONTEXT_MODELS  # noqa: E402
from lic_lib.results import RESULTS, provenance  # noqa: E402

OUT = RESULTS / "complexity" / "format_v2.json"
REPEATS = 7
V1 = "5a55839"               # the last commit with version-1 result files
DATASETS = ("kodak", "clic2025", "ood")


def decode_times(net, files: dict[str, bytes], model: str
                 ) -> dict[str, float]:
    """Median decode time of each file; the files take turns, so that a
    slower or faster spell of the machine touches them alike."""
    ts = {k: [] for k in files}
    for _ in range(REPEATS):
        for k, data in files.items():
            t = time.perf_counter()
            decode_tensors(net, data, model)
            ts[k].append(time.perf_counter() - t)
    return {k: statistics.median(v) for k, v in ts.items()}


def timing(models: list[str]) -> dict:
    torch.set_grad_enabled(False)
    images = [("kodim01 768×512", eval_images("kodak", limit=1)[0][1])]
    name, img = next((n, a) for n, a in eval_images("clic2025")
                     if a.shape[1] >= 1920)
    images.append((f"{name[:8]} {img.shape[1]}×{img.shape[0]}", img))
    rows = []
    for model in models:
        net, _ = load_checkpoint(model, 0.0067)
        for label, im in images:
            row = {"model": model, "image": label}
            # both with CompressAI's rANS, version 1's only coder: what
            # differs is the arithmetic of the entropy parameters alone
            files = {a: encode_image(net, im, model, arithmetic=a,
                                     coder="rans")
                     for a in ("float", "integer")}
            decode_tensors(net, files["integer"], model)        # warm up
            for arith, seconds in decode_times(net, files, model).items():
                row[f"bytes_{arith}"] = len(files[arith])
                row[f"decode_s_{arith}"] = seconds
            row["decode_change_pct"] = 100 * (row["decode_s_integer"]
                                              / row["decode_s_float"] - 1)
            print(json.dumps(row), flush=True)
            rows.append(row)
    return {"timing_meta": provenance(
        "kodak", 1, device=device_label("cpu"), lmbda=0.0067,
        repeats=REPEATS, note="median decode times, the two files decoded "
        "in turn, both coded with CompressAI's rANS; bytes include the "
        "header (version 2: +2)"),
        "timing": rows}


def bd() -> dict:
    """BD-rate v2 vs v1 over the λ both result files have; result files
    not yet re-measured in version 2 are listed as pending."""
    from lic_lib.bdrate import bd_rate
    rows, pending = [], []
    for ds in DATASETS:
        for model in (*BASELINES, *CONTEXT_MODELS):
            path = RESULTS / ds / f"{model}.json"
            new = json.loads(path.read_text())
            if new["meta"].get("format") != 2:
                pending.append(f"{ds}/{model}")
                continue
            rel = path.relative_to(Path(__file__).resolve().parents[1])
            old = json.loads(subprocess.run(
                ["git", "show", f"{V1}:{rel}"], capture_output=True,
                check=True, text=True).stdout)
            assert dict(zip(old["results"]["lmbda"],
                            old["meta"]["checkpoints_sha256"])).items() <= \
                dict(zip(new["results"]["lmbda"],
                         new["meta"]["checkpoints_sha256"])).items(), \
                f"{path}: other weights"
            o, n = (_at(d["results"], set(old["results"]["lmbda"])
                        & set(new["results"]["lmbda"])) for d in (old, new))
            rows.append({"dataset": ds, "model": model,
                         "bd_rate_pct": bd_rate(o["bpp"], o["psnr-rgb"],
                                                n["bpp"], n["psnr-rgb"]),
                         "lambdas": len(o["bpp"]),
                         "images": new["meta"]["images"]})
            print(json.dumps(rows[-1]), flush=True)
    return {"bd_meta": {"version_1_results": f"commit {V1}",
                        "version_2_results": "data/results/<dataset>/",
                        "pending": pending},
            "bd_rate_v2_vs_v1": rows}


def _at(results: dict, lambdas: set) -> dict:
    """The points of a result at the λ in ``lambdas``."""
    keep = [i for i, lam in enumerate(results["lmbda"]) if lam in lambdas]
    return {k: [results[k][i] for i in keep] for k in ("bpp", "psnr-rgb")}


def main() -> None:
    what, models = sys.argv[1], sys.argv[2:]
    d = json.loads(OUT.read_text()) if OUT.exists() else {}
    d.update(timing(models or [*BASELINES, *CONTEXT_MODELS])
             if what == "timing" else bd())
    OUT.write_text(json.dumps(d, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
