"""Which model each named codec profile uses, decided by measurement.

Introduced in the chapter {ref}`chap-msp`.  The candidates are the
parallel context models that sit on the same frozen mean-scale transforms
and have result files on every data set: the checkerboard model, our MSP
models and the authors' PMS models.  The table holds each one's
sequential decoding steps (the same at every image size) and its BD-rate
against the mean-scale model on Kodak, the out-of-domain photographs and
``clic2025`` (real files).  The rules:

* ``balanced``: the lowest BD-rate, averaged over the three data sets;
* ``fast``: the fewest steps among the candidates that save bits on every
  data set (ties: the lower average BD-rate);
* ``best``: ``balanced``'s model with latent overfitting at encode time
  (LOF leaves the decoder, hence the steps, unchanged).

:data:`lic_lib.profiles.PROFILES` names the winners; a test checks that
they are still the winners of the shipped result files, so a retrained
model that wins changes the profiles or fails the tests.
"""

from __future__ import annotations

import pandas as pd

from . import bdrate
from .complexity import sequential_steps
from .models import CONTEXT_MODELS
from .models.pms import PMS_PROFILES
from .results import load_rd, result_path

__all__ = ["DATASETS", "candidates", "profile_table", "chosen_models"]

DATASETS = ("kodak", "ood", "clic2025")
ANCHOR = "mbt2018-mean"


def candidates() -> list[str]:
    """The parallel context models with a result file on every data set."""
    return [m for m in (*CONTEXT_MODELS, *PMS_PROFILES)
            if all(result_path(ds, m).exists() for ds in DATASETS)]


def profile_table() -> pd.DataFrame:
    """One row per candidate: steps and BD-rate vs mean-scale [%] per data
    set (PSNR, real files), and their mean."""
    names = candidates()
    table = pd.DataFrame(index=pd.Index(names, name="model"))
    table["steps"] = [sequential_steps(m, 1358, 2048) for m in names]
    for ds in DATASETS:
        anchor = load_rd(result_path(ds, ANCHOR))["results"]
        curves = {m: load_rd(result_path(ds, m))["results"] for m in names}
        table[f"{ds} [%]"] = bdrate.bd_table(anchor, curves,
                                             ("psnr-rgb",)).iloc[:, 0]
    table["mean [%]"] = table[[f"{ds} [%]" for ds in DATASETS]].mean(axis=1)
    return table


def chosen_models(table: pd.DataFrame | None = None) -> dict[str, str]:
    """{profile: model} by the rules of this module."""
    t = profile_table() if table is None else table
    saving = t[(t[[f"{ds} [%]" for ds in DATASETS]] < 0).all(axis=1)]
    if saving.empty:
        raise ValueError("no candidate saves bits on every data set")
    balanced = str(t["mean [%]"].idxmin())
    fast = str(saving.sort_values(["steps", "mean [%]"]).index[0])
    return {"fast": fast, "balanced": balanced, "best": balanced}
