"""Do .lic files decode on another device?  (GPU <-> CPU compatibility)

A decoder must recompute the encoder's entropy parameters (μ, σ → table
index) to the last bit; a GPU computes them with other kernels (TF32
convolutions by default) than a CPU.  Three steps, two machines:

1. ``prepare OUTDIR`` (here, CPU): encode Kodak and 2K images with the
   shipped models; keep the files and what the CPU decodes from them
   (ŷ, the input of g_s, as round(32 ŷ): a wrong symbol moves it by ≥ 32,
   a different μ by far less than 1).
2. ``device INDIR OUT`` (the lent GPU machine): decode those files on the
   GPU (default settings, and with TF32 off), on that machine's CPU, and
   with a *portable* placement (entropy parameters on the CPU, g_a and g_s
   on the GPU); encode the images on the GPU; JSON + the GPU's files.
3. ``merge OUT RUN...`` (here): decode the GPU's files on this CPU and
   write one JSON.

Files are written in the format ``encode_image`` writes by default.  The
first run (2026-11-27, ``data/results/complexity/crossdev.json``) coded
format version 1 (float entropy parameters) and recorded its failures;
run again for version 2 (``checks_v2.sh``), its merge goes to
``crossdev_v2.json`` beside it.  Not a library feature: a measurement for
the hyperprior and complexity chapters.
"""
import hashlib
import json
import os
import sys
import tarfile
import time
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from lic_lib.checkpoints import LAMBDAS, load_checkpoint   # noqa: E402
from lic_lib.codec import decode_image, encode_image        # noqa: E402
from lic_lib.data import eval_images                        # noqa: E402
from lic_lib.metrics import psnr                            # noqa: E402

LMBDA = 0.0067
MODELS = ["bmshj2018-factorized", "bmshj2018-hyperprior", "mbt2018-mean",
          "checkerboard", "msp-fast", "msp-balanced", "mbt2018", "pms-base"]
BIG_MODELS = ["mbt2018-mean", "checkerboard", "msp-balanced", "pms-base"]


def images():
    if os.environ.get("XDEV_QUICK"):
        (n, a), = eval_images("kodak", limit=1)
        return [(n, a, ["mbt2018-mean", "msp-balanced"])]
    kodak = [(n, a) for n, a in eval_images("kodak") if n in ("kodim01", "kodim23")]
    big = next((n[:8], a) for n, a in eval_images("clic2025") if a.shape[1] >= 1920)
    return [(n, a, MODELS) for n, a in kodak] + [(big[0], big[1], BIG_MODELS)]


@lru_cache(maxsize=None)
def header(model):
    _, rec = load_checkpoint(model, LMBDA)
    return dict(tag=bytes.fromhex(rec["sha256"][:8]),
                lambda_index=LAMBDAS.index(LMBDA))


def decode(net, data, model, sync=None):
    """Image, round(32 ŷ) and seconds (or the error) of one decode."""
    seen = []
    h = net.g_s.register_forward_pre_hook(lambda _, a: seen.append(a[0]))
    try:
        t = time.perf_counter()
        img = decode_image(net, data, model)
        if sync:
            sync()
        sec = time.perf_counter() - t
    except Exception as e:                       # recorded, not raised
        return None, None, f"{type(e).__name__}: {e}"[:200]
    finally:
        h.remove()
    y = seen[0].detach().float().cpu().numpy()
    return img, np.round(32 * np.nan_to_num(y, nan=1e6)).astype(np.int64), sec


def compare(q, q_ref):
    d = np.abs(q - q_ref)
    return {"symbols_off": int((d >= 16).sum()), "symbols": int(d.size),
            "max_mu_diff": float(d[d < 16].max() / 32) if (d < 16).any() else None}


class OnDevice(nn.Module):
    """Runs a transform on ``device`` inside a model that lives on the CPU."""

    def __init__(self, module, device):
        super().__init__()
        self.module, self.device = module.to(device), device

    def forward(self, x):
        return self.module(x.to(self.device)).cpu()


def portable(model, device):
    """The model on the CPU with only g_a and g_s on ``device``: every
    entropy parameter is computed by the CPU."""
    net, _ = load_checkpoint(model, LMBDA, "cpu")
    net.g_a, net.g_s = OnDevice(net.g_a, device), OnDevice(net.g_s, device)
    return net


def prepare(out: Path):
    out.mkdir(parents=True, exist_ok=True)
    info = {}
    for name, img, models in images():
        for m in models:
            net, _ = load_checkpoint(m, LMBDA, "cpu")
            key = f"{m}@{name}"
            data = encode_image(net, img, m, **header(m))
            rec, q, sec = decode(net, data, m)
            (out / f"{key}.lic").write_bytes(data)
            np.savez_compressed(out / f"{key}.npz", q=q)
            info[key] = {"bytes": len(data), "psnr": psnr(img, rec),
                         "decode_s": sec}
            print(key, info[key], flush=True)
    (out / "cpu.json").write_text(json.dumps(
        {"device": "book CPU", "torch": torch.__version__, "files": info}, indent=1))


def device_run(indir: Path, out: Path):
    cuda = torch.device(os.environ.get("XDEV_DEVICE", "cuda"))   # cpu: dry run
    sync = torch.cuda.synchronize if cuda.type == "cuda" else (lambda: None)
    cpu_info = json.loads((indir / "cpu.json").read_text())["files"]
    res = {"torch": torch.__version__, "gpu": torch.cuda.get_device_name() if cuda.type == "cuda" else "none",
           "cpu_threads": torch.get_num_threads(), "decode_cpu_files": {},
           "gpu_files": {}}
    gdir = Path("/tmp/gpu_files"); gdir.mkdir(exist_ok=True)
    imgs = {n: a for n, a, _ in images()}
    for name, img, models in images():
        for m in models:
            key = f"{m}@{name}"
            data = (indir / f"{key}.lic").read_bytes()
            q_ref = np.load(indir / f"{key}.npz")["q"]
            row = {}
            for variant in ("gpu", "gpu-no-tf32", "device-cpu", "portable"):
                torch.backends.cudnn.allow_tf32 = variant != "gpu-no-tf32"
                torch.backends.cuda.matmul.allow_tf32 = False
                if variant == "portable":
                    net = portable(m, cuda)
                else:
                    net, _ = load_checkpoint(m, LMBDA, "cpu" if variant == "device-cpu" else cuda)
                decode(net, data, m, sync)                 # warm-up
                rec, q, sec = decode(net, data, m, sync)
                row[variant] = ({"error": sec} if rec is None else
                                {**compare(q, q_ref), "psnr": psnr(img, rec),
                                 "psnr_cpu": cpu_info[key]["psnr"], "decode_s": sec})
            torch.backends.cudnn.allow_tf32 = True
            res["decode_cpu_files"][key] = row
            print(key, json.dumps(row), flush=True)
            # the GPU encodes: same bytes twice? decodes its own file?
            g = {}
            for variant in ("gpu", "portable"):
                net = portable(m, cuda) if variant == "portable" else \
                    load_checkpoint(m, LMBDA, cuda)[0]
                t = time.perf_counter()
                d1 = encode_image(net, imgs[name], m, **header(m))
                sync()
                enc_s = time.perf_counter() - t
                d2 = encode_image(net, imgs[name], m, **header(m))
                rec, q, sec = decode(net, d1, m, sync)
                (gdir / f"{variant}-{key}.lic").write_bytes(d1)
                if q is not None:
                    np.savez_compressed(gdir / f"{variant}-{key}.npz", q=q)
                g[variant] = {"bytes": len(d1), "repeatable": d1 == d2,
                              "encode_s": enc_s,
                              "sha256": hashlib.sha256(d1).hexdigest(),
                              **({"error": sec} if rec is None else
                                 {"psnr": psnr(imgs[name], rec), "decode_s": sec})}
            res["gpu_files"][key] = g
            print(key, json.dumps(g), flush=True)
            (out / "xdev.json").write_text(json.dumps(res, indent=1))
    with tarfile.open(out / "gpu_files.tar", "w") as t:
        t.add(gdir, arcname="gpu_files")


def check(gdir: Path) -> dict:
    """Decode the device's files here (CPU) and compare with its ŷ."""
    res = {}
    imgs = {n: a for n, a, _ in images()}
    for f in sorted(gdir.glob("*.lic")):
        variant, key = f.stem.split("-", 1)
        m, name = key.split("@")
        net, _ = load_checkpoint(m, LMBDA, "cpu")
        rec, q, sec = decode(net, f.read_bytes(), m)
        qf = f.with_suffix(".npz")
        if rec is None:
            res[f.stem] = {"error": sec}
        else:
            res[f.stem] = {"psnr": psnr(imgs[name], rec), **(
                compare(q, np.load(qf)["q"]) if qf.exists() else {})}
        print(f.stem, res[f.stem], flush=True)
    return res


def merge(out: Path, runs: list[Path]) -> None:
    """One JSON from the device runs (each a folder with its xdev.json and
    the unpacked gpu_files/) and this machine's decodes of their files."""
    from lic_lib.complexity import device_label
    from lic_lib.results import provenance
    d = {"meta": provenance("kodak", 2, also="clic2025 0c49a5cc (2048×1358)",
                            encoder=device_label("cpu"),
                            encoder_torch=torch.__version__, lmbda=LMBDA),
         "decode_cpu_files": {}, "gpu_files": {}, "here": {}}
    from lic_lib.bitstream import unpack
    for run in runs:
        h, _ = unpack(next((run / "gpu_files").glob("*.lic")).read_bytes())
        d["meta"].update(arithmetic=h.arithmetic, coder=h.coder)
        x = json.loads((run / "xdev.json").read_text())
        d["meta"].update(device=x["gpu"], device_torch=x["torch"],
                         device_cpu_threads=x["cpu_threads"])
        d["decode_cpu_files"].update(x["decode_cpu_files"])
        d["gpu_files"].update(x["gpu_files"])
        d["here"].update(check(run / "gpu_files"))
    out.write_text(json.dumps(d, indent=1) + "\n")


if __name__ == "__main__":
    mode = sys.argv[1]
    if mode == "prepare":
        prepare(Path(sys.argv[2]))
    elif mode == "device":
        device_run(Path(sys.argv[2]), Path(sys.argv[3]))
    else:                                     # merge OUT RUN...
        merge(Path(sys.argv[2]), [Path(a) for a in sys.argv[3:]])
