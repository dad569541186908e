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
by default, :mod:`lic_lib.models.entropy`).  Files on disk (what ``lic
compress`` writes) are :mod:`lic_lib.lic_files`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .bitstream import BitstreamError, Header, pack, unpack
from .models import CompressionModel
from .models.ans import ANSError
from .models.entropy import current_coder, entropy_coder
from .models.exact import arithmetic as coding_arithmetic
from .models.exact import current_arithmetic

__all__ = ["encode_image", "decode_image", "decode_tensors", "latent_shape",
           "pad_to", "image_tensor"]


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
