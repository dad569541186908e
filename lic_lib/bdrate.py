"""Bjøntegaard delta metrics: BD-rate and BD-PSNR between two RD curves.

Introduced in the chapter {ref}`chap-bd-rate`.

Bjøntegaard (VCEG-M33, 2001) compares two rate–distortion curves by the
average horizontal (rate) or vertical (quality) distance between them over
the quality (or rate) range that both cover.  Rates are compared in the log
domain, so the result is a relative rate change: BD-rate = −5 % means the
test codec needs 5 % fewer bits than the anchor for the same quality, on
average over the shared range.

Two interpolations are in common use:

* ``"pchip"`` (default): piecewise cubic Hermite interpolation (Fritsch–
  Carlson), integrated exactly.  It never overshoots between points, which
  is why JVET's common test conditions (JVET-K0491 spreadsheet) and
  CompressAI's tools moved to piecewise interpolation.
* ``"cubic"``: the original VCEG-M33 method, a single third-order polynomial
  least-squares fit through all points (needs at least four points).

Both curves may have different numbers of points.  Curves that do not
overlap, or whose quality does not strictly increase with rate, raise
:class:`BDError` with a message saying which.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import numpy as np
from scipy.interpolate import PchipInterpolator

__all__ = ["BDError", "bd_rate", "bd_psnr", "bd_table", "rate_vs_curve",
           "METHODS"]

METHODS = ("pchip", "cubic")


class BDError(ValueError):
    """An RD curve pair on which a Bjøntegaard delta is undefined."""


def _curve(rate: Sequence[float], quality: Sequence[float],
           which: str) -> tuple[np.ndarray, np.ndarray]:
    """Validate one curve; return (log10 rate, quality) sorted by rate."""
    r = np.asarray(rate, dtype=np.float64).ravel()
    q = np.asarray(quality, dtype=np.float64).ravel()
    if r.shape != q.shape:
        raise BDError(f"{which} curve: {r.size} rates but {q.size} "
                      "quality values")
    if r.size < 2:
        raise BDError(f"{which} curve: needs at least 2 points, has {r.size}")
    if not (np.all(np.isfinite(r)) and np.all(np.isfinite(q))):
        raise BDError(f"{which} curve: contains NaN or infinite values")
    if np.any(r <= 0):
        raise BDError(f"{which} curve: rates must be positive")
    order = np.argsort(r)
    r, q = r[order], q[order]
    if np.any(np.diff(r) <= 0) or np.any(np.diff(q) <= 0):
        raise BDError(
            f"{which} curve is not monotonic: quality must strictly "
            f"increase with rate (rates {np.round(r, 4).tolist()}, "
            f"quality {np.round(q, 4).tolist()})")
    return np.log10(r), q


def _mean_over(x: np.ndarray, y: np.ndarray, lo: float, hi: float,
               method: str) -> float:
    """Mean of the interpolant y(x) over [lo, hi]."""
    if method == "pchip":
        return float(PchipInterpolator(x, y).integrate(lo, hi)) / (hi - lo)
    if method == "cubic":
        if x.size < 4:
            raise BDError("cubic interpolation needs at least 4 points "
                          f"per curve, got {x.size}; use method='pchip'")
        p = np.polyint(np.polyfit(x, y, 3))
        return float(np.polyval(p, hi) - np.polyval(p, lo)) / (hi - lo)
    raise BDError(f"unknown method {method!r}; choose one of {METHODS}")


def _overlap(a: np.ndarray, b: np.ndarray, axis: str) -> tuple[float, float]:
    lo, hi = max(a.min(), b.min()), min(a.max(), b.max())
    if hi <= lo:
        raise BDError(
            f"the curves do not overlap in {axis}: anchor covers "
            f"[{a.min():.4g}, {a.max():.4g}], test covers "
            f"[{b.min():.4g}, {b.max():.4g}]")
    return lo, hi


def bd_rate(rate_anchor: Sequence[float], psnr_anchor: Sequence[float],
            rate_test: Sequence[float], psnr_test: Sequence[float],
            method: str = "pchip") -> float:
    """Average rate difference of *test* vs *anchor* at equal quality, in %.

    Negative means the test codec saves bits.  ``psnr_*`` can be any quality
    measure that increases with rate (PSNR, MS-SSIM in dB).
    """
    lr1, q1 = _curve(rate_anchor, psnr_anchor, "anchor")
    lr2, q2 = _curve(rate_test, psnr_test, "test")
    lo, hi = _overlap(q1, q2, "quality")
    diff = (_mean_over(q2, lr2, lo, hi, method)
            - _mean_over(q1, lr1, lo, hi, method))
    return float((10.0 ** diff - 1.0) * 100.0)


def rate_vs_curve(rate_anchor: Sequence[float], psnr_anchor: Sequence[float],
                  rate: float, psnr: float) -> float:
    """Rate difference of one RD *point* vs an anchor curve, in %.

    The anchor's rate at the point's quality is interpolated as BD-rate
    does (piecewise cubic Hermite, log-rate as a function of quality), so
    a model trained at a single λ can be compared with a whole ladder at
    equal quality.  The point must lie within the anchor's quality range.
    """
    lr, q = _curve(rate_anchor, psnr_anchor, "anchor")
    if not q[0] <= psnr <= q[-1]:
        raise BDError(f"quality {psnr:.4g} is outside the anchor's range "
                      f"[{q[0]:.4g}, {q[-1]:.4g}]")
    return float((rate / 10.0 ** PchipInterpolator(q, lr)(psnr) - 1) * 100)


def bd_psnr(rate_anchor: Sequence[float], psnr_anchor: Sequence[float],
            rate_test: Sequence[float], psnr_test: Sequence[float],
            method: str = "pchip") -> float:
    """Average quality difference of *test* vs *anchor* at equal rate (dB)."""
    lr1, q1 = _curve(rate_anchor, psnr_anchor, "anchor")
    lr2, q2 = _curve(rate_test, psnr_test, "test")
    lo, hi = _overlap(lr1, lr2, "log-rate")
    return (_mean_over(lr2, q2, lo, hi, method)
            - _mean_over(lr1, q1, lo, hi, method))


def bd_table(anchor: Mapping, curves: Mapping[str, Mapping],
             metrics: Sequence[str] = ("psnr-rgb", "ms-ssim-db"),
             method: str = "pchip"):
    """BD-rate (%) of each curve vs ``anchor``, one column per metric.

    ``anchor`` and the values of ``curves`` are CompressAI ``results``
    dicts.  A pair on which BD-rate is undefined (no overlap, a missing
    metric) gets NaN rather than stopping the table.
    """
    import pandas as pd

    from .metrics import rd_quality

    rows = {}
    for name, res in curves.items():
        row = {}
        for m in metrics:
            try:
                row[f"BD-rate {m} [%]"] = bd_rate(
                    anchor["bpp"], rd_quality(anchor, m),
                    res["bpp"], rd_quality(res, m), method)
            except (BDError, KeyError):
                row[f"BD-rate {m} [%]"] = float("nan")
        rows[name] = row
    return pd.DataFrame.from_dict(rows, orient="index")
