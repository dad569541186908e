"""The end-to-end runs of ``tools/joint_msp.py`` against the AR ladder.

Introduced in the chapter {ref}`chap-msp` (reproduction notes).  A context
model trained end to end at one λ lands at a distortion of its own, so a
point is compared with the shipped AR model's whole ladder at equal PSNR
(:func:`lic_lib.bdrate.rate_vs_curve`), and a model with runs at three or
more λ by BD-rate against that ladder, over the PSNR range its points span.
"""

from __future__ import annotations

import json

from . import bdrate
from .results import RESULTS, load_rd, result_path

__all__ = ["FILES", "MIN_BD_POINTS", "joint_runs", "joint_point", "joint_ladder",
           "kodak_ar", "rate_vs_ar"]

#: Where ``tools/joint_msp.py`` writes each model's runs.
FILES = {"msp-balanced": "msp_joint.json", "pms-base": "pms_joint.json"}
#: BD-rate needs a curve, not a segment: at least this many λ.
MIN_BD_POINTS = 3


def joint_runs(model: str = "msp-balanced") -> dict:
    """The finished runs of ``model`` by λ (as written: ``"0.0067"`` …)."""
    return json.loads((RESULTS / "experiments" / FILES[model])
                      .read_text())["runs"]


def rate_vs_ar(ar: dict, bpp: float, psnr: float) -> float:
    """Rate of one point vs the AR ladder ``ar`` at equal PSNR (%); NaN
    where ``psnr`` lies beyond the ladder's ends (no extrapolation)."""
    try:
        return bdrate.rate_vs_curve(ar["bpp"], ar["psnr-rgb"], bpp, psnr)
    except bdrate.BDError:
        return float("nan")


def _point(run: dict, ar: dict) -> dict:
    k, cfg = run["kodak"], run["recipe"]["train_config"]
    return {"lmbda": run["lmbda"],
            "rate vs AR [%]": rate_vs_ar(ar, k["bpp"], k["psnr-rgb"]),
            "J vs AR [%]": 100 * (k["rd_cost"] /
                                  run["shipped"]["mbt2018"]["rd_cost"] - 1),
            "steps": cfg["iterations"] + cfg["finetune_iterations"],
            "hours": run["recipe"]["wall_time_s"] / 3600}


def joint_point(model: str = "msp-balanced", lmbda: float = 0.0067) -> dict:
    """The run of ``model`` at ``lmbda`` against the shipped AR model on
    Kodak (real files): its rate vs the AR ladder at equal PSNR (%; NaN if
    its PSNR lies beyond the ladder's ends), its RD cost vs the AR model's
    at the same λ (%), steps and wall time."""
    return _point(joint_runs(model)[f"{lmbda:g}"], kodak_ar())


def kodak_ar() -> dict:
    """The shipped AR model's Kodak ladder (real files)."""
    return load_rd(result_path("kodak", "mbt2018"))["results"]


def joint_ladder(model: str = "msp-balanced") -> dict:
    """Every λ of ``model``'s runs: the λ (ascending), each point's
    :func:`joint_point`, the BD-rate of their curve vs the AR ladder (%;
    ``None`` below :data:`MIN_BD_POINTS` λ or where the curves share no
    PSNR range), and the steps and hours of all the runs together."""
    runs, ar = joint_runs(model), kodak_ar()
    lams = sorted(float(k) for k in runs)
    kodak = [runs[f"{lam:g}"]["kodak"] for lam in lams]
    bd = None
    if len(lams) >= MIN_BD_POINTS:
        try:
            bd = bdrate.bd_rate(ar["bpp"], ar["psnr-rgb"],
                                [k["bpp"] for k in kodak],
                                [k["psnr-rgb"] for k in kodak])
        except bdrate.BDError:
            pass
    points = [_point(runs[f"{lam:g}"], ar) for lam in lams]
    return {"lambdas": lams, "points": points, "BD-rate vs AR [%]": bd,
            "steps": sum(p["steps"] for p in points),
            "hours": sum(p["hours"] for p in points)}
