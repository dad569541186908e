"""``.lic`` files on disk: an image file in, a ``.lic`` file out, and back.

What ``lic compress`` and ``lic decompress`` do, apart from parsing their
arguments: load the shipped checkpoint the quality (or the file's header)
names, code with :mod:`lic_lib.codec` — or with latent overfitting
(:mod:`lic_lib.lof`) when asked — and write the result so that a failure
leaves no partial file.  Kept apart from :mod:`lic_lib.codec` because LOF
itself codes with that module.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image

from .bitstream import BitstreamError, unpack
from .codec import decode_image, encode_image
from .lof import encode_lof

__all__ = ["compress_file", "decompress_file"]


def _write_atomic(path: Path, data: bytes | None = None,
                  image: np.ndarray | None = None) -> None:
    """Write bytes or a PNG so that a failure leaves no partial file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        if image is not None:
            Image.fromarray(image).save(tmp, format="PNG")
        else:
            tmp.write_bytes(data)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _check_paths(src: Path, dst: Path) -> None:
    if not src.is_file():
        raise FileNotFoundError(f"input {src} does not exist")
    if dst.exists() and dst.resolve() == src.resolve():
        raise ValueError("output would overwrite the input; choose another "
                         "name")
    if not dst.parent.is_dir():
        raise FileNotFoundError(f"output folder {dst.parent} does not exist")


def compress_file(src: str | Path, dst: str | Path, model_name: str,
                  quality: int, device: str = "cpu",
                  log: Callable[[str], None] = print,
                  lof=None, progress: bool = True) -> dict:
    """Compress an image file into a ``.lic`` file with a shipped model
    (with latent overfitting when ``lof`` is a :class:`~lic_lib.lof.
    LOFConfig`; the file is then the cheaper of the LOF and plain ones;
    ``progress`` shows the search's progress bar)."""
    from .checkpoints import LAMBDAS, load_checkpoint
    from .data import load_rgb

    src, dst = Path(src), Path(dst)
    _check_paths(src, dst)
    if not 1 <= quality <= len(LAMBDAS):
        raise ValueError(f"quality must be 1..{len(LAMBDAS)}, got {quality}")
    img = load_rgb(src)
    with Image.open(src) as im:
        if im.mode != "RGB":
            log(f"note: {src.name} is {im.mode}; coded as 8-bit RGB")
    model, record = load_checkpoint(model_name, LAMBDAS[quality - 1], device)
    t = time.perf_counter()
    header = dict(tag=bytes.fromhex(record["sha256"][:8]),
                  lambda_index=quality - 1)
    if lof is None:
        data = encode_image(model, img, model_name, **header)
    else:
        data, rep = encode_lof(model, img, model_name, record["lmbda"], lof,
                               progress=progress, **header)
        log(f"LOF: RD cost {rep['plain_cost']:.4f} → {rep['lof_cost']:.4f} "
            f"after {rep['iterations']} iterations ({rep['plain_bytes']} → "
            f"{rep['lof_bytes']} bytes); "
            + ("kept" if rep["used_lof"] else "no gain, plain file kept"))
    seconds = time.perf_counter() - t
    _write_atomic(dst, data=data)
    h, w = img.shape[:2]
    return {"bytes": len(data), "bpp": 8 * len(data) / (h * w),
            "seconds": seconds}


def decompress_file(src: str | Path, dst: str | Path, device: str = "cpu"
                    ) -> dict:
    """Decode a ``.lic`` file into a PNG with the checkpoint it names."""
    from .checkpoints import LAMBDAS, load_checkpoint

    src, dst = Path(src), Path(dst)
    _check_paths(src, dst)
    data = src.read_bytes()
    header, _ = unpack(data)
    if header.lambda_index >= len(LAMBDAS):
        raise BitstreamError(f"λ index {header.lambda_index} is not in the "
                             "shipped ladder")
    model, record = load_checkpoint(header.model,
                                    LAMBDAS[header.lambda_index], device)
    t = time.perf_counter()
    img = decode_image(model, data, header.model,
                       tag=bytes.fromhex(record["sha256"][:8]))
    seconds = time.perf_counter() - t
    _write_atomic(dst, image=img)
    return {"height": header.height, "width": header.width,
            "seconds": seconds}
