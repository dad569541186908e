"""Learned models and classical codecs on a data set, from real bitstreams.

Introduced in the chapter {ref}`chap-vae-codec`; classical codecs
(:func:`evaluate_codec`) in {ref}`chap-images-metrics-codecs`.

For each shipped λ of a model, every image is encoded to ``.lic`` bytes and
decoded back; bpp comes from the byte count, PSNR and MS-SSIM from the
decoded 8-bit image, and the likelihood estimate of the rate is kept
beside the real one.  Results go to ``data/results/<dataset>/<model>.json``
in CompressAI's schema.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import pandas as pd
import torch

from .bitstream import VERSION
from .checkpoints import LAMBDAS, checkpoint_path, load_checkpoint
from .codec import decode_image, encode_image, image_tensor, pad_to
from .data import dataset_files, eval_images
from .metrics import MS_SSIM_MIN_SIDE, ms_ssim, psnr
from .results import (FewerImages, NonMonotonicLadder, ladder_violations,
                      provenance, result_path, save_rd)

__all__ = ["shipped_lambdas", "shipped_checkpoints", "measured_on",
           "measured_format", "study",
           "evaluate_model", "estimated_bpp", "result_name",
           "mean_rd_cost", "image_rows", "evaluate_codec", "codec_rows", "measure_image"]


def shipped_lambdas(model: str) -> list[float]:
    """The λ of the ladder for which ``model`` has a shipped checkpoint."""
    return [lam for lam in LAMBDAS
            if checkpoint_path(model, lam).with_suffix(".json").exists()]


@torch.no_grad()
def estimated_bpp(model, img: np.ndarray) -> float:
    """Rate the model's likelihoods predict for ``img`` (no coding; the
    synthesis transform, which the rate does not need, is skipped)."""
    device = next(model.parameters()).device
    x = image_tensor(img, device)
    g_s, model.g_s = model.g_s, torch.nn.Identity()
    try:
        out = model(pad_to(x, int(model.downsampling_factor)))
    finally:
        model.g_s = g_s
    bits = sum(-torch.log2(v).sum() for v in out["likelihoods"].values())
    return float(bits) / (img.shape[0] * img.shape[1])


def _rows_path(dataset: str, name: str) -> Path:
    return result_path(dataset, name).parent / "rows" / f"{name}.jsonl"


def _load_rows(path: Path) -> dict[str, dict]:
    rows = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                rows[r["key"]] = r
    return rows


def _key(sha: str, dataset_sum: str | None, image: str, device: str,
         settings: dict | None, fmt: int = VERSION) -> str:
    """A row's key; rows of format version 1 keep their original keys."""
    parts = [sha, dataset_sum, image, device, settings]
    return hashlib.sha256(json.dumps(
        parts if fmt == 1 else parts + [fmt],
        sort_keys=True).encode()).hexdigest()[:20]


def result_name(model: str, lof=None) -> str:
    """``model``, or ``model+lof`` for results coded with LOF."""
    return f"{model}+lof" if lof is not None else model


def evaluate_model(model: str, dataset: str = "kodak",
                   lambdas: Sequence[float] | None = None,
                   limit: int | None = None, device: str = "cpu",
                   save: bool = True, progress: bool = False,
                   log: Callable[[str], None] = print, lof=None,
                   allow_non_monotonic: bool = False,
                   replace_larger: bool = False) -> dict:
    """RD points of ``model`` (one per λ) on ``dataset``, from real files.

    Every image's measurement is appended, as soon as it is made, to
    ``data/results/<dataset>/rows/<name>.jsonl`` under a key of checkpoint
    SHA-256, data-set checksum, image, device, settings and file format
    version: an interrupted
    evaluation (or one run again after a new λ was shipped) codes only
    what is missing, in this session or a later one.  With ``lof`` (a
    :class:`~lic_lib.lof.LOFConfig`) every image is coded with latent
    overfitting and the result is named ``<model>+lof``.

    A ladder whose bpp or PSNR does not rise with λ is not written
    (:class:`~lic_lib.results.NonMonotonicLadder`, the rows stay cached)
    unless ``allow_non_monotonic``: such a model gives a larger file at a
    lower quality, which is a defect to fix, not a result to ship.  Nor
    does a run over fewer images (``limit``) replace a result file that
    averages more (:class:`~lic_lib.results.FewerImages`) unless
    ``replace_larger``: a quick look must not erase a long sweep.
    """
    from tqdm.auto import tqdm

    from .results import _dataset_checksum
    lambdas = list(lambdas or shipped_lambdas(model))
    if not lambdas:
        raise FileNotFoundError(f"no shipped checkpoint for {model}")
    name = result_name(model, lof)
    settings = None if lof is None else dataclasses.asdict(lof)
    images = eval_images(dataset, limit)
    out = result_path(dataset, name)
    if save and out.exists() and not replace_larger:    # before any coding
        before = json.loads(out.read_text()).get("meta", {}).get("images", 0)
        if before > len(images):
            raise FewerImages(
                f"{out} averages {before} images; this run would have "
                f"{len(images)}: nothing coded (replace it with --replace, "
                "or set LIC_RESULTS_DIR elsewhere)")
    checksum = _dataset_checksum(dataset)
    rows_path = _rows_path(dataset, name)
    cache = _load_rows(rows_path) if save else {}
    res: dict[str, list] = {k: [] for k in _KEYS}
    shas = []
    for lam in lambdas:
        net, rec = load_checkpoint(model, lam, device)
        tag = bytes.fromhex(rec["sha256"][:8])
        shas.append(rec["sha256"])
        rows = []
        for stem, img in tqdm(images, disable=not progress,
                              desc=f"{name} λ={lam:g}"):
            key = _key(rec["sha256"], checksum, stem, device, settings)
            if key not in cache:
                cache[key] = {"key": key, "lmbda": lam, "image": stem,
                              **measure_image(net, img, model, tag, lam, lof)}
                if save:
                    rows_path.parent.mkdir(parents=True, exist_ok=True)
                    with open(rows_path, "a") as f:
                        f.write(json.dumps(cache[key]) + "\n")
            rows.append(cache[key])
        for k in _KEYS:
            res[k].append(float(np.mean([r[k] for r in rows])))
    res["lmbda"] = lambdas
    d = {"name": name, "description": name, "results": res,
         "meta": provenance(dataset, len(images), device=device,
                            checkpoints_sha256=shas, format=VERSION,
                            threads=torch.get_num_threads(),
                            **({"lof": settings} if settings else {}))}
    bad = ladder_violations(res)
    if bad and save and not allow_non_monotonic:
        raise NonMonotonicLadder(
            f"{name} on {dataset} is not monotonic in quality ("
            + "; ".join(bad) + "): not written (allow it with "
            "--allow-non-monotonic)")
    if save:
        log(f"wrote {save_rd(d, out)}")
    return d


def mean_rd_cost(rows: pd.DataFrame, lmbda: float) -> float:
    """Mean over images (rows of :func:`image_rows`) of the training
    objective λ·255²·MSE + bpp, the MSE (0–1 scale) recovered from each
    image's RGB PSNR: how models trained at one λ compare when their
    distortions differ."""
    mse = 10 ** (-rows["psnr-rgb"] / 10)
    return float(np.mean(lmbda * 255 ** 2 * mse + rows["bpp"]))


def image_rows(model: str, dataset: str = "kodak", lof=None,
               device: str = "cpu", checkpoints: dict[float, str] | None
               = None, fmt: int = VERSION) -> pd.DataFrame:
    """The per-image measurements already made for ``model`` (with the
    LOF settings ``lof``) on ``dataset``: one row per (λ, image), only for
    the shipped checkpoints, settings and file format of today (rows of
    replaced checkpoints or formats stay in the file but are not
    returned), or for the checkpoints given as {λ: SHA-256} and format
    ``fmt`` (a study measured before they were replaced, see
    :func:`measured_on`)."""
    from .results import _dataset_checksum
    cache = _load_rows(_rows_path(dataset, result_name(model, lof)))
    settings = None if lof is None else dataclasses.asdict(lof)
    checksum = _dataset_checksum(dataset)
    stems = [s for s, _ in eval_images(dataset)] if dataset == "ood" else \
        [p.stem for p in dataset_files(dataset)]
    rows = []
    for lam, sha in (checkpoints or shipped_checkpoints(model)).items():
        for stem in stems:
            r = cache.get(_key(sha, checksum, stem, device, settings, fmt))
            if r is not None:
                rows.append({k: v for k, v in r.items() if k != "key"})
    return pd.DataFrame(rows)


def shipped_checkpoints(model: str) -> dict[float, str]:
    """{λ: SHA-256} of ``model``'s shipped checkpoints."""
    return {lam: json.loads(checkpoint_path(model, lam).with_suffix(
        ".json").read_text())["sha256"] for lam in shipped_lambdas(model)}


def measured_on(model: str, dataset: str, lof=None) -> dict[float, str]:
    """{λ: SHA-256} of the checkpoints behind the result file of ``model``
    (``model+lof`` with ``lof``) on ``dataset``: the shipped ones, unless
    the study was measured before they were replaced (the LOF sweeps,
    hours long, are re-run after the cheap plain evaluation)."""
    path = result_path(dataset, result_name(model, lof))
    if not path.exists():
        return shipped_checkpoints(model)
    d = json.loads(path.read_text())
    return dict(zip(d["results"]["lmbda"], d["meta"]["checkpoints_sha256"]))


def measured_format(model: str, dataset: str, lof=None) -> int:
    """The ``.lic`` format version of the files behind the result file of
    ``model`` on ``dataset`` (1 for results from before version 2)."""
    path = result_path(dataset, result_name(model, lof))
    if not path.exists():
        return VERSION
    return json.loads(path.read_text())["meta"].get("format", 1)


def study(model: str, dataset: str, lof=None) -> dict:
    """What the result file of ``model`` (with ``lof``) on ``dataset`` was
    measured with, as :func:`image_rows` arguments: ``image_rows(model,
    dataset, lof, **study(model, dataset, lof))`` gives its rows."""
    return {"checkpoints": measured_on(model, dataset, lof),
            "fmt": measured_format(model, dataset, lof)}


def _codec_key(codec, checksum: str | None, image: str, p: int) -> str:
    return _key(codec.version(), checksum, image, "cpu",
                {"codec": codec.name, "settings": codec.settings, "p": p},
                fmt=1)                  # not .lic files: no format version


def codec_rows(codec_name: str, dataset: str = "kodak",
               params: Sequence[int] | None = None) -> pd.DataFrame:
    """Per-image measurements of a classical codec already in the cache
    (one row per parameter value and image), for today's codec version
    and settings.  Works without the codec's binaries installed."""
    from .classic import get_codec
    from .results import _dataset_checksum
    codec = get_codec(codec_name)
    cache = _load_rows(_rows_path(dataset, codec.name))
    checksum = _dataset_checksum(dataset)
    stems = [s for s, _ in eval_images(dataset)] if dataset == "ood" else \
        [p.stem for p in dataset_files(dataset)]
    rows = [cache[k] for p in (params or codec.sweep) for stem in stems
            if (k := _codec_key(codec, checksum, stem, p)) in cache]
    return pd.DataFrame([{k: v for k, v in r.items() if k != "key"}
                         for r in rows])


def evaluate_codec(codec_name: str, dataset: str = "kodak",
                   params: Sequence[int] | None = None,
                   limit: int | None = None, jobs: int = 1,
                   save: bool = True, progress: bool = False,
                   log: Callable[[str], None] = print) -> dict:
    """RD points of a classical codec on ``dataset``, resumably.

    Each (parameter, image) coding is appended to
    ``data/results/<dataset>/rows/<codec>.jsonl`` as soon as it is done,
    keyed by codec version, settings, data-set checksum, image and
    parameter, so a run of hours (VTM) stopped at any point codes only
    what is missing when started again.  ``jobs`` codings run at once
    (each encoder is one single-threaded process).  The result JSON
    (``data/results/<dataset>/<codec>.json``) is written only once every
    point is complete, so it never mixes image subsets.
    """
    import threading
    from concurrent.futures import ThreadPoolExecutor, as_completed

    from tqdm.auto import tqdm

    from .classic import CodecUnavailable, get_codec
    from .results import _dataset_checksum
    codec = get_codec(codec_name)
    params = list(params or codec.sweep)
    images = eval_images(dataset, limit)
    checksum = _dataset_checksum(dataset)
    rows_path = _rows_path(dataset, codec.name)
    cache = _load_rows(rows_path) if save else {}
    todo = [(p, stem, img) for p in params for stem, img in images
            if _codec_key(codec, checksum, stem, p) not in cache]
    if todo and not codec.available():
        raise CodecUnavailable(codec.unavailable_reason())
    lock = threading.Lock()

    def one(p: int, stem: str, img: np.ndarray) -> None:
        c = codec.code(img, p)
        h, w = img.shape[:2]
        row = {"key": _codec_key(codec, checksum, stem, p), codec.param: p,
               "image": stem, "bpp": c.bpp, "psnr-rgb": psnr(img, c.recon),
               "ms-ssim-rgb": ms_ssim(img, c.recon)
               if min(h, w) >= MS_SSIM_MIN_SIDE else float("nan"),
               "encoding_time": c.encode_s, "decoding_time": c.decode_s}
        with lock:
            cache[row["key"]] = row
            if save:
                rows_path.parent.mkdir(parents=True, exist_ok=True)
                with open(rows_path, "a") as f:
                    f.write(json.dumps(row) + "\n")

    with ThreadPoolExecutor(max(1, jobs)) as pool, \
            tqdm(total=len(todo), desc=f"{codec.name} {dataset}",
                 disable=not progress) as bar:
        futures = [pool.submit(one, *t) for t in todo]
        try:
            for f in as_completed(futures):
                f.result()
                bar.update()
        except BaseException:
            for f in futures:
                f.cancel()
            raise
    res: dict[str, list] = {}
    for p in params:
        rows = [cache[_codec_key(codec, checksum, stem, p)]
                for stem, _ in images]
        for k in ("bpp", "psnr-rgb", "ms-ssim-rgb", "encoding_time",
                  "decoding_time"):
            res.setdefault(k, []).append(float(np.mean([r[k] for r in rows])))
        res.setdefault(codec.param, []).append(p)
    order = np.argsort(res["bpp"])
    res = {k: [v[i] for i in order] for k, v in res.items()}
    d = {"name": codec.name, "description": codec.label, "results": res,
         "meta": provenance(dataset, len(images), codec=codec.version(),
                            parameter=codec.param, settings=codec.settings,
                            command=codec.command_line())}
    if save:
        log(f"wrote {save_rd(d, result_path(dataset, codec.name))}")
    return d


_KEYS = ("bpp", "bpp_estimate", "psnr-rgb", "ms-ssim-rgb", "encoding_time",
         "decoding_time")


def measure_image(net, img: np.ndarray, model: str, tag: bytes, lam: float,
                  lof=None) -> dict:
    """Code one image for real (with LOF when ``lof`` is a
    :class:`~lic_lib.lof.LOFConfig`) and measure it: bpp from the bytes,
    the likelihood estimate, PSNR, MS-SSIM, encode and decode times.

    ``bpp_estimate`` is always the *plain* encoder's likelihood estimate,
    in LOF rows too (there it is where the search started; the LOF file's
    own cost is ``lof_cost``)."""
    t0 = time.perf_counter()
    extra = {}
    if lof is None:
        data = encode_image(net, img, model, tag=tag)
    else:
        from .lof import encode_lof
        data, rep = encode_lof(net, img, model, lam, lof, tag=tag)
        extra = {k: rep[k] for k in ("plain_cost", "lof_cost", "used_lof",
                                     "plain_bytes", "iterations")}
    t1 = time.perf_counter()
    rec_img = decode_image(net, data, model, tag=tag)
    t2 = time.perf_counter()
    h, w = img.shape[:2]
    return {"bpp": 8 * len(data) / (h * w),
            "bpp_estimate": estimated_bpp(net, img),
            "psnr-rgb": psnr(img, rec_img),
            "ms-ssim-rgb": ms_ssim(img, rec_img)
            if min(h, w) >= MS_SSIM_MIN_SIDE else float("nan"),
            "encoding_time": t1 - t0, "decoding_time": t2 - t1, **extra}
