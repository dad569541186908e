"""Decode files "on other machines": version 1 (float) against version 2.

Every shipped model at λ 0.0067 codes two Kodak images (768×512) and the
2K photograph of the complexity chapter in both formats; the files are
decoded here and then in fresh processes under each of
:data:`lic_lib.conformance.CPU_VARIANTS` (other thread counts, PyTorch's
generic kernels, oneDNN limited to SSE4.1 or off, channels-last).  A
decode is exact when its latent is bit-identical to this process's.
Writes ``data/results/complexity/portability.json``.

    .venv/bin/python tools/portability.py
"""

import json
import sys
import tempfile
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", category=FutureWarning)

from lic_lib.checkpoints import LAMBDAS, load_checkpoint  # noqa: E402
from lic_lib.codec import encode_image  # noqa: E402
from lic_lib.complexity import device_label  # noqa: E402
from lic_lib.conformance import (CPU_VARIANTS, decode_digests,  # noqa: E402
                                 decode_elsewhere)
from lic_lib.data import eval_images  # noqa: E402
from lic_lib.models import BASELINES, CONTEXT_MODELS  # noqa: E402
from lic_lib.results import RESULTS, provenance  # noqa: E402

OUT = RESULTS / "complexity" / "portability.json"


def main() -> None:
    torch.set_grad_enabled(False)
    images = eval_images("kodak", limit=2)
    images.append(next((n[:8], a) for n, a in eval_images("clic2025")
                       if a.shape[1] >= 1920))
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for model in (*BASELINES, *CONTEXT_MODELS):
            net, rec = load_checkpoint(model, LAMBDAS[2])
            for name, img in images:
                for arith in ("float", "integer"):
                    path = Path(tmp) / f"{model}@{name}@{arith}.lic"
                    path.write_bytes(encode_image(
                        net, img, model, lambda_index=2, arithmetic=arith,
                        tag=bytes.fromhex(rec["sha256"][:8])))
                    files[path.name] = path
        here = decode_digests(list(files.values()))
        rows = []
        for variant in CPU_VARIANTS:
            there = decode_elsewhere(list(files.values()), variant)
            for name in files:
                model, image, arith = name[:-4].split("@")
                rows.append({"variant": variant, "model": model,
                             "image": image,
                             "format": 1 if arith == "float" else 2,
                             "exact": there[name]["latent"]
                             == here[name]["latent"],
                             "same_pixels": there[name]["image"]
                             == here[name]["image"]})
            done = [r for r in rows if r["variant"] == variant]
            print(variant, {v: sum(r["exact"] for r in done
                                   if r["format"] == v) for v in (1, 2)},
                  f"of {len(done) // 2} each", flush=True)
    OUT.write_text(json.dumps({
        "meta": provenance("kodak", 2, device=device_label("cpu"),
                           lmbda=LAMBDAS[2], also=images[-1][0] + " (2K)",
                           variants={k: {"env": e, "args": a} for k, (e, a)
                                     in CPU_VARIANTS.items()}),
        "rows": rows}, indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
