"""Learned models on a data set, measured from real bitstreams.

Introduced in the chapter {ref}`chap-vae-codec`.

For each shipped λ of a model, every image is encoded to ``.lic`` bytes and
decoded back; bpp comes from the byte count, PSNR and MS-SSIM from the
decoded 8-bit image, and the likelihood estimate of the rate is kept
beside the real one.  Results go to ``data/results/<dataset>/<model>.json``
in CompressAI's schema.
"""

from __future__ import annotations

import time
from typing import Callable, Sequence

import numpy as np
import torch

from .checkpoints import LAMBDAS, checkpoint_path, load_checkpoint
from .codec import decode_image, encode_image, image_tensor, pad_to
from .data import eval_images
from .metrics import MS_SSIM_MIN_SIDE, ms_ssim, psnr
from .results import provenance, result_path, save_rd

__all__ = ["shipped_lambdas", "evaluate_model", "estimated_bpp"]


def shipped_lambdas(model: str) -> list[float]:
    """The λ of the ladder for which ``model`` has a shipped checkpoint."""
    return [lam for lam in LAMBDAS
            if checkpoint_path(model, lam).with_suffix(".json").exists()]


@torch.no_grad()
def estimated_bpp(model, img: np.ndarray) -> float:
    """Rate the model's likelihoods predict for ``img`` (no coding)."""
    device = next(model.parameters()).device
    x = image_tensor(img, device)
    out = model(pad_to(x, int(model.downsampling_factor)))
    bits = sum(-torch.log2(v).sum() for v in out["likelihoods"].values())
    return float(bits) / (img.shape[0] * img.shape[1])


def _measured(model: str, dataset: str, n_images: int, device: str
              ) -> dict[str, dict]:
    """Points already in the result file, by checkpoint SHA-256, if they
    were measured on the same images and device (so that re-running after
    a new λ was shipped codes only the new one)."""
    from .results import load_rd
    path = result_path(dataset, model)
    if not path.exists():
        return {}
    old = load_rd(path)
    meta = old.get("meta", {})
    if meta.get("images") != n_images or meta.get("device") != device:
        return {}
    r = old["results"]
    return {sha: {k: r[k][i] for k in r}
            for i, sha in enumerate(meta.get("checkpoints_sha256", []))}


def evaluate_model(model: str, dataset: str = "kodak",
                   lambdas: Sequence[float] | None = None,
                   limit: int | None = None, device: str = "cpu",
                   save: bool = True, progress: bool = False,
                   log: Callable[[str], None] = print) -> dict:
    """RD points of ``model`` (one per λ) on ``dataset``, from real files."""
    from tqdm.auto import tqdm

    lambdas = list(lambdas or shipped_lambdas(model))
    if not lambdas:
        raise FileNotFoundError(f"no shipped checkpoint for {model}")
    images = [a for _, a in eval_images(dataset, limit)]
    keys = ("bpp", "bpp_estimate", "psnr-rgb", "ms-ssim-rgb",
            "encoding_time", "decoding_time")
    res: dict[str, list] = {k: [] for k in keys}
    shas = []
    done = _measured(model, dataset, len(images), device)
    for lam in tqdm(lambdas, disable=not progress, desc=model):
        net, rec = load_checkpoint(model, lam, device)
        tag = bytes.fromhex(rec["sha256"][:8])
        shas.append(rec["sha256"])
        if rec["sha256"] in done:            # same weights, same images
            for k in keys:
                res[k].append(done[rec["sha256"]][k])
            continue
        rows = []
        for img in images:
            t0 = time.perf_counter()
            data = encode_image(net, img, model, tag=tag)
            t1 = time.perf_counter()
            rec_img = decode_image(net, data, model, tag=tag)
            t2 = time.perf_counter()
            h, w = img.shape[:2]
            rows.append({
                "bpp": 8 * len(data) / (h * w),
                "bpp_estimate": estimated_bpp(net, img),
                "psnr-rgb": psnr(img, rec_img),
                "ms-ssim-rgb": ms_ssim(img, rec_img)
                if min(h, w) >= MS_SSIM_MIN_SIDE else float("nan"),
                "encoding_time": t1 - t0, "decoding_time": t2 - t1})
        for k in keys:
            res[k].append(float(np.mean([r[k] for r in rows])))
    res["lmbda"] = lambdas
    d = {"name": model, "description": model, "results": res,
         "meta": provenance(dataset, len(images), device=device,
                            checkpoints_sha256=shas,
                            threads=torch.get_num_threads())}
    if save:
        log(f"wrote {save_rd(d, result_path(dataset, model))}")
    return d
