"""Conformance streams and decoding "on another machine".

Introduced in the chapter {ref}`chap-hyperprior` (section "Across
machines").  Video codecs prove that decoders agree with conformance
bitstreams: files and the checksums of what they must decode to.  This
module does the same for ``.lic`` files:

* :func:`decode_digests` decodes files and returns the SHA-256 of each
  decoded latent ŷ (which must be the same everywhere) and of the decoded
  image (which may differ in the last bits between machines);
* run as ``python -m lic_lib.conformance FILE…`` it does that in a fresh
  process and prints JSON — with ``--threads``, ``--no-mkldnn`` and
  ``--channels-last``, and environment variables such as
  ``ATEN_CPU_CAPABILITY=default`` or ``DNNL_MAX_CPU_ISA=SSE41``, that
  process computes with other kernels than the encoder's, as another
  machine would (:data:`CPU_VARIANTS`, :func:`decode_elsewhere`; on a
  GPU, ``--device cuda`` with TF32 or cuDNN off, :data:`GPU_VARIANTS`);
* ``tests/conformance/`` holds the committed streams and their digests
  (:func:`write_streams`, run once when format version 2 was defined, and
  once more for the ANS coder).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np

__all__ = ["decode_digests", "decode_elsewhere", "CPU_VARIANTS",
           "GPU_VARIANTS", "write_streams", "STREAMS", "latent_sha256"]

STREAMS = Path(__file__).resolve().parents[1] / "tests" / "conformance"

#: Decoder settings that change which kernels compute: name → (extra
#: environment, command-line options of this module).
CPU_VARIANTS: dict[str, tuple[dict[str, str], list[str]]] = {
    "1 thread": ({"OMP_NUM_THREADS": "1"}, ["--threads", "1"]),
    "4 threads": ({"OMP_NUM_THREADS": "4"}, ["--threads", "4"]),
    "ATEN_CPU_CAPABILITY=default": ({"ATEN_CPU_CAPABILITY": "default"}, []),
    "DNNL_MAX_CPU_ISA=SSE41": ({"DNNL_MAX_CPU_ISA": "SSE41"}, []),
    "oneDNN off": ({}, ["--no-mkldnn"]),
    "channels_last": ({}, ["--channels-last"]),
    "older CPU (both kernel limits, 1 thread)": (
        {"ATEN_CPU_CAPABILITY": "default", "DNNL_MAX_CPU_ISA": "SSE41",
         "OMP_NUM_THREADS": "1"}, ["--threads", "1"]),
}

#: The same on a CUDA device: PyTorch's defaults (TF32 convolutions,
#: cuDNN's own choice of algorithm) and each of them switched off.
GPU_VARIANTS: dict[str, tuple[dict[str, str], list[str]]] = {
    "CUDA defaults": ({}, ["--device", "cuda"]),
    "TF32 off": ({}, ["--device", "cuda", "--no-tf32"]),
    "cuDNN off": ({}, ["--device", "cuda", "--no-cudnn"]),
}


def latent_sha256(y_hat) -> str:
    """SHA-256 of a decoded latent's float32 bytes (C order)."""
    a = np.ascontiguousarray(y_hat.detach().cpu().float().numpy())
    return hashlib.sha256(a.tobytes()).hexdigest()


def decode_digests(paths: list[Path], channels_last: bool = False,
                   reference: Path | None = None, device: str = "cpu"
                   ) -> dict[str, dict]:
    """``{file name: {"latent": sha256, "image": sha256}}`` of ``.lic``
    files, each decoded on ``device`` with the shipped checkpoint its
    header names (and ``"psnr"`` against the image file ``reference``,
    when given)."""
    import torch

    from .bitstream import unpack
    from .checkpoints import LAMBDAS, load_checkpoint
    from .codec import decode_tensors

    from .data import load_rgb
    from .metrics import psnr
    original = None if reference is None else load_rgb(reference)
    models, out = {}, {}
    for path in map(Path, paths):
        data = path.read_bytes()
        header, _ = unpack(data)
        key = (header.model, header.lambda_index)
        if key not in models:
            model, record = load_checkpoint(
                header.model, LAMBDAS[header.lambda_index], device)
            if channels_last:
                model = model.to(memory_format=torch.channels_last)
            models[key] = model, bytes.fromhex(record["sha256"][:8])
        model, tag = models[key]
        dec = decode_tensors(model, data, header.model, tag)
        img = dec["x_hat"].clamp(0, 1).mul(255).round().byte()
        out[path.name] = {"latent": latent_sha256(dec["y_hat"]),
                          "image": hashlib.sha256(
                              img.cpu().numpy().tobytes()).hexdigest()}
        if original is not None:
            out[path.name]["psnr"] = psnr(
                original, img[0].permute(1, 2, 0).cpu().numpy())
    return out


def decode_elsewhere(paths: list[Path], variant: str,
                     reference: Path | None = None) -> dict:
    """:func:`decode_digests` in a fresh Python process under one of
    :data:`CPU_VARIANTS` or :data:`GPU_VARIANTS`."""
    env, args = {**CPU_VARIANTS, **GPU_VARIANTS}[variant]
    if reference is not None:
        args = [*args, "--reference", str(reference)]
    proc = subprocess.run(
        [sys.executable, "-m", "lic_lib.conformance", *args,
         *map(str, paths)], capture_output=True, text=True,
        env={**os.environ, **env}, cwd=Path(__file__).resolve().parents[1])
    if proc.returncode:
        raise RuntimeError(f"decoding under {variant} failed:\n"
                           f"{proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


#: The conformance set: (name, height, width, top, left) crops of Kodak.
SHAPES = (("1x1", 1, 1, 300, 400), ("17x33", 17, 33, 200, 300),
          ("64x96", 64, 96, 100, 200))
#: Added later: the whole image, for latents of full size.
WHOLE = (("768x512", 512, 768, 0, 0),)


def write_streams(models: list[str], qualities: tuple[int, ...] = (1, 3),
                  root: Path = STREAMS, coder: str = "rans",
                  shapes: tuple = SHAPES) -> dict:
    """Encode the conformance set of ``models`` (each × ``qualities`` ×
    crops of ``kodim23`` of ``shapes``) with ``coder``, decode it here,
    write the files and add their digests to ``digests.json`` (the streams
    of other models are kept as they are: a model shipped later gets
    streams of its own).  The streams of the ANS coder carry ``-ans`` in
    their names."""
    from .checkpoints import LAMBDAS, load_checkpoint
    from .codec import encode_image
    from .data import eval_images

    (_, img), = [(n, a) for n, a in eval_images("kodak")
                 if n == "kodim23"]
    root.mkdir(parents=True, exist_ok=True)
    names = []
    for model in models:
        for q in qualities:
            net, record = load_checkpoint(model, LAMBDAS[q - 1])
            for shape, h, w, top, left in shapes:
                crop = np.ascontiguousarray(img[top:top + h, left:left + w])
                name = (f"{model}-q{q}-{shape}"
                        f"{'-ans' if coder == 'ans' else ''}.lic")
                (root / name).write_bytes(encode_image(
                    net, crop, model,
                    tag=bytes.fromhex(record["sha256"][:8]),
                    lambda_index=q - 1, coder=coder))
                names.append(name)
    digests = decode_digests([root / n for n in names])
    path = root / "digests.json"
    old = json.loads(path.read_text()) if path.exists() else {}
    path.write_text(json.dumps({**old, **digests}, indent=1) + "\n")
    return digests


def main(argv: list[str] | None = None) -> None:
    import warnings
    warnings.filterwarnings("ignore")
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("files", nargs="+", type=Path)
    p.add_argument("--threads", type=int)
    p.add_argument("--no-mkldnn", action="store_true")
    p.add_argument("--channels-last", action="store_true")
    p.add_argument("--device", default="cpu")
    p.add_argument("--no-tf32", action="store_true",
                   help="CUDA: convolutions and matrix products in fp32")
    p.add_argument("--no-cudnn", action="store_true")
    p.add_argument("--reference", type=Path,
                   help="the original image: report each decode's PSNR")
    a = p.parse_args(argv)
    import torch
    if a.threads:
        torch.set_num_threads(a.threads)
    if a.no_mkldnn:
        torch.backends.mkldnn.enabled = False
    if a.no_tf32:
        torch.backends.cudnn.allow_tf32 = False
        torch.backends.cuda.matmul.allow_tf32 = False
    if a.no_cudnn:
        torch.backends.cudnn.enabled = False
    torch.set_grad_enabled(False)
    print(json.dumps(decode_digests(a.files, a.channels_last, a.reference,
                                    a.device)))


if __name__ == "__main__":
    main()
