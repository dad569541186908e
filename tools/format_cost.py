"""What format version 2 costs: decode time with integer entropy parameters.

For every shipped model at λ 0.0067, one Kodak image (768×512) and the
2K photograph of the complexity chapter are coded in both arithmetics
(version 1: float; version 2: integers) and the two files are decoded
in turn, seven times each (median); the file sizes come with them.  The BD-rate of version 2
against version 1 comes from the result files (version 1: the commit
before the re-measurement).  Writes ``data/results/complexity/format_v2.json``.

    .venv/bin/python tools/format_cost.py
"""

import json
import statistics
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


def main() -> None:
    torch.set_grad_enabled(False)
    images = [("kodim01 768×512", eval_images("kodak", limit=1)[0][1])]
    name, img = next((n, a) for n, a in eval_images("clic2025")
                     if a.shape[1] >= 1920)
    images.append((f"{name[:8]} {img.shape[1]}×{img.shape[0]}", img))
    rows = []
    for model in sys.argv[1:] or (*BASELINES, *CONTEXT_MODELS):
        net, _ = load_checkpoint(model, 0.0067)
        for label, im in images:
            row = {"model": model, "image": label}
            files = {a: encode_image(net, im, model, arithmetic=a)
                     for a in ("float", "integer")}
            decode_tensors(net, files["integer"], model)        # warm up
            for arith, seconds in decode_times(net, files, model).items():
                row[f"bytes_{arith}"] = len(files[arith])
                row[f"decode_s_{arith}"] = seconds
            row["decode_change_pct"] = 100 * (row["decode_s_integer"]
                                              / row["decode_s_float"] - 1)
            print(json.dumps(row), flush=True)
            rows.append(row)
    OUT.write_text(json.dumps({
        "meta": provenance("kodak", 1, device=device_label("cpu"),
                           lmbda=0.0067, repeats=REPEATS,
                           note="median of the decode times; bytes "
                                "include the header (version 2: +2)"),
        "rows": rows}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
