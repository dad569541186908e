"""Decoding complexity: sequential steps, and decode time split in two.

Introduced in the chapter {ref}`chap-hyperprior`; the resolution sweep
(:func:`run_sweep`; ``python -m lic_lib.complexity [--device cuda]``) feeds the chapter
{ref}`chap-complexity`.

The number of *sequential entropy-decoding steps* — decoder calls that
must wait for the previous one — is the hardware-independent measure of
the paper's O(1) vs O(n) claim.  Wall time is measured side by side, with
warm-up and the median of repeats, and split into entropy decoding
(bitstream → latents: hyper-synthesis, context models, the entropy coder,
whose own share is measured too) and synthesis (latents → image,
``g_s``).
"""

from __future__ import annotations

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from .bitstream import VERSION
from .codec import decode_image, encode_image
from .models.entropy import coder_clock, current_coder

__all__ = ["sequential_steps", "decode_macs", "DecodeTiming", "time_decode",
           "sweep_images", "measure_model", "measure_codec", "run_sweep",
           "device_label", "SWEEP_MODELS", "SWEEP_CODECS"]


def sequential_steps(model_name: str, height: int, width: int) -> int:
    """Sequential entropy-decoding steps for an H×W image.

    * factorized prior: 1 (all of ŷ at once);
    * scale / mean-scale hyperprior: 2 (ẑ, then all of ŷ);
    * joint autoregressive: 1 + (number of latent positions): ẑ, then one
      raster-scan step per position of ŷ (all channels of a position are
      decoded together);
    * checkerboard and MSP: their ``decode_steps``, 1 + number of units,
      the same for every size.
    """
    hy, wy = -(-height // 64) * 4, -(-width // 64) * 4      # ŷ, padded
    steps = {"bmshj2018-factorized": 1, "bmshj2018-hyperprior": 2,
             "mbt2018-mean": 2, "mbt2018": 1 + hy * wy}
    if model_name in steps:
        return steps[model_name]
    from .models import build_model
    try:
        net = build_model(model_name, 8, 8)     # widths do not matter
    except ValueError:
        raise ValueError(f"no step count for model {model_name!r}") from None
    return net.decode_steps(height, width)


@torch.no_grad()
def decode_macs(model, model_name: str, height: int = 512,
                width: int = 768) -> dict[str, float]:
    """Multiply–accumulates per pixel to decode an H×W image: ``total``,
    ``synthesis`` (g_s) and ``entropy`` (the rest: hyper-synthesis and
    context networks), from PyTorch's FLOP counter (convolutions and
    matrix products; 1 MAC = 2 FLOPs).

    Counted on the float path (format version 1's arithmetic), whose
    convolutions are the network's own: the integer path computes the
    same convolutions, split into pieces where a float32 sum would not be
    exact, an implementation cost rather than the model's.  The AR model's
    loop is counted convolution by convolution, position by position."""
    from torch.utils.flop_counter import FlopCounterMode
    img = np.random.default_rng(0).integers(0, 256, (height, width, 3),
                                            np.uint8)
    data = encode_image(model, img, model_name, arithmetic="float")
    counter = FlopCounterMode(display=False)
    with counter:
        decode_image(model, data, model_name)
    total = counter.get_total_flops() / 2
    device = next(model.parameters()).device
    f = int(model.downsampling_factor)
    x = torch.zeros(1, 3, -(-height // f) * f, -(-width // f) * f,
                    device=device)
    y = model.g_a(x)
    counter = FlopCounterMode(display=False)
    with counter:
        model.g_s(y)
    synthesis = counter.get_total_flops() / 2
    px = height * width
    return {"total": total / px, "synthesis": synthesis / px,
            "entropy": (total - synthesis) / px}


@dataclass
class DecodeTiming:
    """Median decode times in seconds (and what they were measured on)."""

    total: float
    synthesis: float
    repeats: int
    device: str
    coding: float = float("nan")     #: inside the entropy coder

    @property
    def entropy(self) -> float:
        """Bitstream → latents: everything but the synthesis transform."""
        return self.total - self.synthesis

    @property
    def networks(self) -> float:
        """Entropy decoding's arithmetic: ``entropy`` minus ``coding``."""
        return self.entropy - self.coding


def time_decode(model, img: np.ndarray, model_name: str, repeats: int = 3,
                warmup: int = 1, coder: str | None = None) -> DecodeTiming:
    """Encode ``img`` once (with ``coder``, by default the default one),
    then time its decoding ``repeats`` times: in all, in the synthesis
    transform and inside the entropy coder (medians)."""
    data = encode_image(model, img, model_name, coder=coder)
    device = next(model.parameters()).device
    g_s_time = []
    start = {}

    def before(*_):
        if device.type == "cuda":
            torch.cuda.synchronize()
        start["t"] = time.perf_counter()

    def after(*_):
        if device.type == "cuda":
            torch.cuda.synchronize()
        g_s_time.append(time.perf_counter() - start["t"])

    hooks = [model.g_s.register_forward_pre_hook(before),
             model.g_s.register_forward_hook(after)]
    totals, coding = [], []
    try:
        for i in range(warmup + repeats):
            t = time.perf_counter()
            with coder_clock() as clock:
                decode_image(model, data, model_name)
            if device.type == "cuda":
                torch.cuda.synchronize()
            totals.append(time.perf_counter() - t)
            coding.append(clock[0])
    finally:
        for h in hooks:
            h.remove()
    return DecodeTiming(statistics.median(totals[warmup:]),
                        statistics.median(g_s_time[warmup:]), repeats,
                        str(device), statistics.median(coding[warmup:]))


# -- the resolution sweep ----------------------------------------------------

#: Learned models and VVC encoders of the sweep, and their operating point.
SWEEP_MODELS = ("bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean",
                "checkerboard", "msp-fast", "msp-balanced",
                "mbt2018")
SWEEP_CODECS = ("vvenc", "vtm")
SWEEP_LAMBDA, SWEEP_QP = 0.0067, 37


def sweep_images(sides: Sequence[int] = (256, 512, 1024)
                 ) -> list[tuple[str, np.ndarray]]:
    """Square crops (centre) of the first ≥ 1920-pixel-wide ``clic2025``
    image, then the whole image: one content, growing sizes."""
    from .data import eval_images
    name, img = next((n, a) for n, a in eval_images("clic2025")
                     if a.shape[1] >= 1920)
    h, w = img.shape[:2]
    out = []
    for s in sides:
        t, l = (h - s) // 2, (w - s) // 2
        out.append((f"{name[:8]} {s}×{s}",
                    np.ascontiguousarray(img[t:t + s, l:l + s])))
    return out + [(f"{name[:8]} {w}×{h}", img)]


def device_label(device: str | torch.device = "cpu") -> str:
    """What a timing was measured on, in words (CPU model and threads, or
    the GPU's name)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} threads"


def _rss_mb() -> float:
    """Current resident memory of this process in MB (Linux)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
        return pages * os.sysconf("SC_PAGE_SIZE") / 2 ** 20
    except (OSError, ValueError):
        return float("nan")


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_model(name: str, images: Sequence[tuple[str, np.ndarray]],
                  device: str = "cpu", lmbda: float = SWEEP_LAMBDA,
                  lof_iterations: int = 0) -> list[dict]:
    """Encode and decode time, decode split and peak memory of a shipped
    model at each image size (smallest first).

    Peak memory is the rise of the process's peak resident set over the
    loaded model (CPU; meaningful in a fresh process, sizes increasing,
    as :func:`run_sweep` runs it) or ``torch.cuda.max_memory_allocated``
    (GPU).  With ``lof_iterations`` the LOF search time per iteration is
    measured too (a short search: time, not rate, is what is wanted).
    """
    from .checkpoints import load_checkpoint
    net, _ = load_checkpoint(name, lmbda, device)
    cuda = torch.device(device).type == "cuda"
    ar = name == "mbt2018"
    encode_image(net, images[0][1], name)           # warm-up
    base = _rss_mb()
    rows = []
    for label, img in images:
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        t0 = time.perf_counter()
        data = encode_image(net, img, name)
        if cuda:
            torch.cuda.synchronize(device)
        enc = time.perf_counter() - t0
        t = time_decode(net, img, name, repeats=1 if ar else 3,
                        warmup=0 if ar else 1)
        peak = (torch.cuda.max_memory_allocated(device) / 2 ** 20 if cuda
                else _peak_rss_mb() - base)
        row = {"model": name, "image": label, "height": img.shape[0],
               "width": img.shape[1], "pixels": img.shape[0] * img.shape[1],
               "steps": sequential_steps(name, *img.shape[:2]),
               "bytes": len(data), "encode_s": enc, "decode_s": t.total,
               "entropy_s": t.entropy, "synthesis_s": t.synthesis,
               "coding_s": t.coding, "coder": current_coder(net),
               "peak_mb": peak}
        if lof_iterations:
            from .lof import LOFConfig, overfit
            t0 = time.perf_counter()
            with torch.enable_grad():
                overfit(net, img, lmbda, LOFConfig(iterations=lof_iterations))
            row["lof_s_per_iteration"] = (time.perf_counter() - t0) / \
                lof_iterations
        rows.append(row)
    return rows


def measure_codec(name: str, images: Sequence[tuple[str, np.ndarray]],
                  qp: int = SWEEP_QP) -> list[dict]:
    """Encode and decode time of a VVC encoder at each image size."""
    from .classic import CodecUnavailable, get_codec
    codec = get_codec(name)
    if not codec.available():
        raise CodecUnavailable(codec.unavailable_reason())
    rows = []
    for label, img in images:
        c = codec.code(img, qp)
        rows.append({"model": name, "image": label, "height": img.shape[0],
                     "width": img.shape[1],
                     "pixels": img.shape[0] * img.shape[1], "steps": None,
                     "bytes": len(c.data), "encode_s": c.encode_s,
                     "decode_s": c.decode_s, "entropy_s": None,
                     "synthesis_s": None, "peak_mb": None})
    return rows


def run_sweep(path: str | Path, models: Sequence[str] = SWEEP_MODELS,
              codecs: Sequence[str] = SWEEP_CODECS, device: str = "cpu",
              lof_iterations: int = 20,
              log: Callable[[str], None] = print) -> Path:
    """Measure every model and codec over :func:`sweep_images` and save
    ``{"meta", "rows"}`` JSON to ``path``.

    Each learned model runs in a fresh Python process (so peak memory is
    its own); a model already in the file is skipped, so a stopped sweep
    resumes.  Measure on a quiet machine: other jobs on the cores change
    every time.
    """
    from .results import provenance
    path = Path(path)
    d = json.loads(path.read_text()) if path.exists() else {"rows": []}
    done = {r["model"] for r in d["rows"]}
    for name in [*models, *codecs]:
        if name in done:
            log(f"{name}: already in {path}, skipped")
            continue
        t0 = time.perf_counter()
        if name in codecs:
            rows = measure_codec(name, sweep_images())
        else:
            lof = lof_iterations if name in ("mbt2018-mean", "msp-balanced") \
                else 0
            out = subprocess.run(
                [sys.executable, "-m", "lic_lib.complexity", "--one", name,
                 "--device", device, "--lof", str(lof)],
                capture_output=True, stdin=subprocess.DEVNULL, text=True,
                check=True)
            rows = json.loads(out.stdout.splitlines()[-1])
        d["rows"] += rows
        d.setdefault("wall_s", {})[name] = round(time.perf_counter() - t0, 1)
        d["meta"] = provenance("clic2025", 1, device=device_label(device),
                               lmbda=SWEEP_LAMBDA, vvc_qp=SWEEP_QP,
                               format=VERSION,
                               threads=torch.get_num_threads())
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(d, indent=1) + "\n")
        os.replace(tmp, path)
        log(f"{name}: {len(rows)} sizes in {time.perf_counter() - t0:.0f} s")
    return path


def _main() -> None:
    import argparse

    from .config import RESULTS
    ap = argparse.ArgumentParser(
        prog="python -m lic_lib.complexity",
        description="The complexity chapter's resolution sweep (resumable).")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--out", type=Path, help="default: data/results/"
                    "complexity/<cpu|gpu>.json")
    ap.add_argument("--one", help=argparse.SUPPRESS)     # run_sweep's child
    ap.add_argument("--lof", type=int, default=0, help=argparse.SUPPRESS)
    a = ap.parse_args()
    if a.one:
        print(json.dumps(measure_model(a.one, sweep_images(), a.device,
                                       lof_iterations=a.lof)))
        return
    kind = "gpu" if torch.device(a.device).type == "cuda" else "cpu"
    run_sweep(a.out or RESULTS / "complexity" / f"{kind}.json",
              device=a.device)


if __name__ == "__main__":
    _main()
