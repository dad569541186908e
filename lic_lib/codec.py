"""Images to ``.lic`` bytes and back with any trained model.

Introduced in the chapter {ref}`chap-vae-codec`.

The models need sides that are multiples of their downsampling factor
(16 for the factorized prior, 64 with a hyperprior), so an image is padded
by repeating its edge pixels — cheaper to code than zeros — and the decoder
crops back to the size stored in the header.  Coding runs with the model
in eval mode; the entropy parameters are computed on integers
(:mod:`lic_lib.models.exact`, format version 2), so the file decodes to
the encoder's latents on any machine (verified between CPU settings, not
yet through a GPU); the entropy coder is the one the header names (ANS
by default, :mod:`lic_lib.models.entropy`).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .bitstream import BitstreamError, Header, pack, unpack
from .models import CompressionModel
from .models.ans import ANSError
from .models.entropy import current_coder, entropy_coder
from .models.exact import arithmetic as coding_arithmetic
from .models.exact import current_arithmetic

__all__ = ["encode_image", "decode_image", "decode_tensors", "latent_shape",
           "pad_to",
           "image_tensor", "compress_file", "decompress_file"]


def _factor(model: CompressionModel) -> int:
    return int(model.downsampling_factor)


def latent_shape(model: CompressionModel, height: int,
                 width: int) -> tuple[int, int]:
    """The ``shape`` that ``model.compress`` reports for an H×W image.

    That is the shape of the last latent coded: y for the factorized
    prior, z for the hyperprior models — in both cases the padded size
    divided by the model's downsampling factor.
    """
    f = _factor(model)
    return -(-height // f), -(-width // f)


def pad_to(x: torch.Tensor, multiple: int) -> torch.Tensor:
    """Pad N×C×H×W on the bottom/right to multiples of ``multiple``."""
    h, w = x.shape[-2:]
    ph, pw = (-h) % multiple, (-w) % multiple
    if ph == pw == 0:
        return x
    return F.pad(x, (0, pw, 0, ph), mode="replicate")


def image_tensor(img: np.ndarray, device: torch.device | str = "cpu"
                 ) -> torch.Tensor:
    """H×W×3 uint8 → 1×3×H×W float in [0, 1] on ``device``."""
    return torch.from_numpy(np.array(img)).permute(2, 0, 1)[  # a copy
        None].float().div(255).to(device)


@torch.no_grad()
def encode_image(model: CompressionModel, img: np.ndarray, model_name: str,
                 tag: bytes = b"\0\0\0\0", lambda_index: int = 255,
                 profile: int = 0, arithmetic: str | None = None,
                 coder: str | None = None) -> bytes:
    """Compress an H×W×3 uint8 image into the bytes of a ``.lic`` file:
    format version 2 with ``coder`` (by default
    :func:`~lic_lib.models.entropy.current_coder`: the block's, the
    model's preferred one, or ``"ans"``), or with ``arithmetic="float"`` (or inside
    ``lic_lib.models.exact.arithmetic("float")``) the legacy version 1,
    which decodes only on the encoder's kind of machine and always used
    CompressAI's rANS coder."""
    arithmetic = arithmetic or current_arithmetic()
    coder = "rans" if arithmetic == "float" else coder or current_coder(model)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"expected H×W×3 uint8 RGB, got {img.shape} "
                         f"{img.dtype}")
    h, w = img.shape[:2]
    device = next(model.parameters()).device
    x = pad_to(image_tensor(img, device), _factor(model))
    with coding_arithmetic(arithmetic), entropy_coder(coder):
        out = model.compress(x)
    strings = [s[0] for s in out["strings"]]          # batch of one
    header = Header(model_name, h, w, tuple(int(v) for v in out["shape"]),
                    tag, profile, lambda_index, arithmetic, coder)
    return pack(header, strings)


@torch.no_grad()
def decode_tensors(model: CompressionModel, data: bytes, model_name: str,
                   tag: bytes | None = None) -> dict:
    """Decode ``.lic`` bytes with ``model``: ``{"x_hat", "y_hat",
    "header"}``, the image (1×3×H×W, cropped) and the decoded latent
    (``None`` for a model whose ``decompress`` does not return it, such as
    CompressAI's own classes).

    Raises :class:`~lic_lib.bitstream.BitstreamError` if the file is not
    valid, or was written by another model or checkpoint.
    """
    header, strings = unpack(data)
    if header.model != model_name:
        raise BitstreamError(f"file was written by {header.model}, not "
                             f"{model_name}")
    if tag is not None and header.tag != tag:
        raise BitstreamError("file was written with other weights "
                             f"(tag {header.tag.hex()}, expected {tag.hex()})")
    expected = latent_shape(model, header.height, header.width)
    if header.latent_shape != expected:
        raise BitstreamError(f"latent shape {header.latent_shape} does not "
                             f"fit a {header.height}×{header.width} image")
    expected = getattr(model, "n_strings", 2 if hasattr(model, "h_s") else 1)
    if len(strings) != expected:                  # y (and z, and units)
        raise BitstreamError("wrong number of strings for this model")
    try:
        with coding_arithmetic(header.arithmetic), entropy_coder(header.coder):
            out = model.decompress([[s] for s in strings], header.latent_shape)
    except ANSError as e:          # a string the ANS coder cannot read
        raise BitstreamError(f"corrupted entropy-coded data: {e}") from e
    return {"x_hat": out["x_hat"][..., :header.height, :header.width],
            "y_hat": out.get("y_hat"), "header": header}


def decode_image(model: CompressionModel, data: bytes, model_name: str,
                 tag: bytes | None = None) -> np.ndarray:
    """Decode ``.lic`` bytes with ``model``; H×W×3 uint8 (errors as
    :func:`decode_tensors`)."""
    x_hat = decode_tensors(model, data, model_name, tag)["x_hat"]
    return (x_hat.clamp(0, 1)[0].permute(1, 2, 0).mul(255).round()
            .byte().cpu().numpy())


# -- files -------------------------------------------------------------------

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
        from .lof import encode_lof
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
