"""LOF against plain coding, from the result files: per-image pairs, BD
gains and the RD cost saved.

Introduced in the chapter {ref}`chap-lof`; the reproduction report
(:mod:`lic_lib.report`) reads its gains from here.
"""

from __future__ import annotations

from typing import Iterable

import pandas as pd

from . import bdrate
from .evaluate import image_rows, measured_on, shipped_checkpoints, study
from .results import RESULTS

WITHOUT_Z = RESULTS / "lof" / "without_z.jsonl"    # tools/lof_without_z.py

__all__ = ["lof_pairs", "lof_on_shipped", "lof_bd", "lof_cost_gain",
           "at_every_lambda", "lof_without_z"]


def lof_pairs(model: str, dataset: str = "kodak") -> pd.DataFrame:
    """Images coded both plainly and with LOF, at every λ of the LOF sweep:
    the plain columns, and LOF's with the suffix ``_lof``; one row per
    (λ, image).  Images missing at some λ are dropped, so that every λ
    averages the same images."""
    from .lof import LOFConfig
    on = study(model, dataset, LOFConfig())      # plain rows of the same
    lof = image_rows(model, dataset, LOFConfig(), **on)   # checkpoints
    if lof.empty:
        return lof
    return at_every_lambda(image_rows(model, dataset, **on).merge(
        lof, on=["lmbda", "image"], suffixes=("", "_lof")))


def lof_on_shipped(model: str, dataset: str) -> bool:
    """Whether the LOF sweep of ``model`` on ``dataset`` was measured on
    the shipped checkpoints (else on checkpoints since replaced, and
    compared with plain coding by those same checkpoints)."""
    from .lof import LOFConfig
    on = measured_on(model, dataset, LOFConfig())
    return all(shipped_checkpoints(model).get(lam) == sha
               for lam, sha in on.items())


def at_every_lambda(rows: pd.DataFrame) -> pd.DataFrame:
    """The rows of the images coded at every λ present in ``rows``: the
    images a result file averages over."""
    every_lambda = rows.groupby("image").lmbda.transform("nunique")
    return rows[every_lambda == rows.lmbda.nunique()]


def lof_bd(model: str, dataset: str = "kodak",
           images: Iterable[str] | None = None) -> dict | None:
    """BD-rate and BD-PSNR of ``model`` + LOF vs ``model`` (same images),
    and vs plain mean-scale; ``None`` when fewer than two λ are coded, NaN
    where the two curves do not overlap (LOF can move a curve entirely
    below the plain one's rates).  ``images``: only those (to compare two
    sweeps on the images they share)."""
    both = lof_pairs(model, dataset)
    if images is not None and not both.empty:
        both = both[both.image.isin(list(images))]
    if both.empty or both.lmbda.nunique() < 2:
        return None
    p = both.groupby("lmbda").mean(numeric_only=True)
    from .lof import LOFConfig
    ms = image_rows("mbt2018-mean", dataset, **study(
        "mbt2018-mean", dataset, LOFConfig())).merge(both[["lmbda", "image"]])
    ms = ms.groupby("lmbda").mean(numeric_only=True)

    def delta(fn, anchor):      # NaN where the curves do not overlap
        try:
            return fn(anchor.bpp, anchor["psnr-rgb"], p.bpp_lof,
                      p["psnr-rgb_lof"])
        except bdrate.BDError:
            return float("nan")

    return {"λ": len(p), "images per λ": int(both.groupby("lmbda").size().min()),
            "BD-rate LOF vs plain [%]": delta(bdrate.bd_rate, p),
            "BD-PSNR [dB]": delta(bdrate.bd_psnr, p),
            "LOF vs plain mean-scale [%]": delta(bdrate.bd_rate, ms),
            "encode time ×": float(both.encoding_time_lof.mean()
                                   / both.encoding_time.mean()),
            "curves": p}


def lof_cost_gain(model: str, dataset: str, lmbda: float = 0.0067) -> pd.Series:
    """RD cost saved by LOF per image [%], measured on the real files."""
    from .lof import LOFConfig
    b = image_rows(model, dataset, LOFConfig(), **study(model, dataset, LOFConfig()))
    if b.empty:
        return pd.Series(dtype=float)
    b = b[b.lmbda == lmbda]
    return 100 * (1 - b.lof_cost / b.plain_cost)


def lof_without_z(model: str = "msp-balanced") -> pd.DataFrame:
    """The sweep's Kodak pairs of ``model`` (plain, and LOF moving ŷ and
    ẑ: suffix ``_lof``) beside LOF moving ŷ only (suffix ``_y``, rows of
    ``tools/lof_without_z.py``), on the images and λ both measured with
    the shipped checkpoints; empty if there are none."""
    if not WITHOUT_Z.exists() or not lof_on_shipped(model, "kodak"):
        return pd.DataFrame()
    y = pd.read_json(WITHOUT_Z, lines=True, precise_float=True)   # λ keys
    shipped = shipped_checkpoints(model)
    y = y[(y.model == model) & (y.sha256 == y.lmbda.map(shipped))]
    y = y.drop(columns=["model", "sha256"]).rename(
        columns=lambda c: c if c in ("lmbda", "image") else f"{c}_y")
    return at_every_lambda(lof_pairs(model, "kodak").merge(
        y, on=["lmbda", "image"]))
