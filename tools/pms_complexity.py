"""The authors' PMS profiles beside our MSP, mean-scale and AR: complexity.

For each model at λ 0.0067: parameters, decode multiply–accumulates per
pixel (entropy part and synthesis), sequential steps, and encode and
decode time (decode split into entropy decoding and synthesis, median of
3 decodes after one warm-up; the AR model and ``pms-extra`` one decode) on a 512² crop and
on the whole 2048×1358 ``clic2025`` photograph of the complexity chapter,
all in one run (on a GPU with ``--device cuda``).  ``pms-extra`` is not trained: it is timed with its
initial weights and coding tables built here (time does not depend on the
weights, bar the entropy coder's share).  Run it on a quiet machine.

Writes ``data/results/complexity/pms.json``.

    .venv/bin/python tools/pms_complexity.py [--device cuda --out F.json]
"""

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", category=FutureWarning)

from lic_lib.checkpoints import load_checkpoint  # noqa: E402
from lic_lib.codec import encode_image  # noqa: E402
from lic_lib.complexity import (decode_macs, device_label,  # noqa: E402
                                sequential_steps, sweep_images, time_decode)
from lic_lib.models import build_model  # noqa: E402
from lic_lib.results import RESULTS, provenance  # noqa: E402

OUT = RESULTS / "complexity" / "pms.json"
MODELS = ("mbt2018-mean", "msp-balanced", "pms-base", "pms-extra", "mbt2018")
LAMBDA = 0.0067


def model(name: str, device: str = "cpu"):
    """The shipped model, or (not shipped) its initial weights + tables."""
    try:
        return load_checkpoint(name, LAMBDA, device)[0], True
    except FileNotFoundError:
        torch.manual_seed(0)
        net = build_model(name).eval()
        net.update(force=True)
        return net.to(device), False


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args()
    images = sweep_images((512,))             # a 512² crop, the photo
    rows = []
    for name in MODELS:
        net, trained = model(name, a.device)
        macs = decode_macs(net, name, 512, 512)
        params = sum(p.numel() for n, p in net.named_parameters()
                     if not n.startswith(("g_a.", "g_s.")))
        for label, img in images:
            t0 = time.perf_counter()
            data = encode_image(net, img, name)
            enc = time.perf_counter() - t0
            once = name in ("mbt2018", "pms-extra")     # slow: one decode
            t = time_decode(net, img, name, repeats=1 if once else 3,
                            warmup=0 if once else 1)
            rows.append({
                "model": name, "trained": trained, "image": label,
                "height": img.shape[0], "width": img.shape[1],
                "steps": sequential_steps(name, *img.shape[:2]),
                "probability_model_parameters": params,
                "decode_macs_per_pixel": macs, "bytes": len(data),
                "encode_s": enc, "decode_s": t.total,
                "entropy_s": t.entropy, "synthesis_s": t.synthesis})
            print(json.dumps(rows[-1]), flush=True)
    a.out.write_text(json.dumps({
        "rows": rows, "lmbda": LAMBDA, "device": device_label(a.device),
        "threads": torch.get_num_threads(),
        "meta": provenance("clic2025", 1)}, indent=1) + "\n")
    print(f"wrote {a.out}")


if __name__ == "__main__":
    main()
