"""The entropy coders compared: alone, and inside every model's decoder.

``bench``: :func:`lic_lib.coder_bench.benchmark` on the ŷ call of the
mean-scale model (λ 0.0067) for one Kodak image (768×512) and the 2K
photograph of the complexity chapter: CompressAI's rANS and the ANS coder,
1 and 2 streams, best of 7.

``decode``: every model at λ 0.0067 on 256² and 512² crops of that
photograph, a Kodak image and the whole photograph, coded with each coder
in turn: file bytes, encode time and its time inside the coder, and decode
time split into synthesis, the coder and the rest of entropy decoding
(the networks' arithmetic); medians of 3 decodes after a warm-up (the AR
model and ``pms-base`` at 2K: one decode).  Run it on a quiet machine.

Both update ``data/results/complexity/coders.json``.

    .venv/bin/python tools/coder_cost.py bench decode
"""

import json
import sys
import time
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", category=FutureWarning)

from lic_lib import coder_bench  # noqa: E402
from lic_lib.checkpoints import load_checkpoint  # noqa: E402
from lic_lib.codec import encode_image, image_tensor, pad_to  # noqa: E402
from lic_lib.complexity import (device_label, sweep_images,  # noqa: E402
                                time_decode)
from lic_lib.data import eval_images  # noqa: E402
from lic_lib.models.entropy import CODERS, coder_clock  # noqa: E402
from lic_lib.results import RESULTS, provenance  # noqa: E402

OUT = RESULTS / "complexity" / "coders.json"
LAMBDA = 0.0067
MODELS = ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean",
          "checkerboard", "msp-fast", "msp-balanced", "pms-base", "mbt2018")
SLOW = ("mbt2018", "pms-base")          # one decode at 2K


def images() -> list[tuple[str, object]]:
    crops = sweep_images((256, 512))
    (name, kodak), = eval_images("kodak", limit=1)
    return crops[:2] + [(f"{name} 768×512", kodak), crops[-1]]


def bench() -> list[dict]:
    net, _ = load_checkpoint("mbt2018-mean", LAMBDA)
    out = []
    for label, img in images()[2:]:         # the Kodak image, the photograph
        x = pad_to(image_tensor(img), 64)
        symbols, indexes, gc = coder_bench.latent_call(net, x)
        table = coder_bench.benchmark(symbols, indexes, gc, repeats=7)
        print(label, table.round(4).to_string(), sep="\n", flush=True)
        out += [{"image": label, **table.attrs, **row}
                for row in table.to_dict("records")]
    return out


def decode() -> list[dict]:
    rows = []
    for name in MODELS:
        net, _ = load_checkpoint(name, LAMBDA)
        for label, img in images():
            once = name in SLOW and img.shape[1] >= 1920
            for coder in CODERS:
                with coder_clock() as clock:
                    t = time.perf_counter()
                    data = encode_image(net, img, name, coder=coder)
                    encode = time.perf_counter() - t
                d = time_decode(net, img, name, repeats=1 if once else 3,
                                warmup=0 if once else 1, coder=coder)
                rows.append({
                    "model": name, "image": label, "coder": coder,
                    "pixels": img.shape[0] * img.shape[1],
                    "bytes": len(data), "encode": encode,
                    "encode coding": clock[0], "decode": d.total,
                    "synthesis": d.synthesis, "decode coding": d.coding,
                    "decode networks": d.networks, "repeats": d.repeats})
                print({k: round(v, 4) if isinstance(v, float) else v
                       for k, v in rows[-1].items()}, flush=True)
    return rows


def main(parts: list[str]) -> None:
    torch.set_grad_enabled(False)
    for part in parts:                  # each part saved as soon as it ends
        rows = {"bench": bench, "decode": decode}[part]()
        old = json.loads(OUT.read_text()) if OUT.exists() else {}
        meta = {**provenance("clic2025 + kodak", 2),
                "device": device_label("cpu"),
                "threads": torch.get_num_threads(), "lambda": LAMBDA}
        OUT.write_text(json.dumps({**old, part: rows, f"meta {part}": meta},
                                  indent=1) + "\n")


if __name__ == "__main__":
    main(sys.argv[1:] or ["bench", "decode"])
