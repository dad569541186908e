"""Run every classical codec over a data set and write its RD results.

Introduced in the chapter {ref}`chap-images-metrics-codecs`; run it with
``lic anchors`` (or ``make anchors``).  One JSON per codec goes to
``data/results/<dataset>/<codec>.json``; a codec whose file exists is
skipped unless ``force``, so an interrupted run resumes where it stopped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .classic import CODECS, CodecUnavailable, rd_sweep
from .data import eval_images
from .results import provenance, result_path, save_rd

__all__ = ["run_anchors"]


def run_anchors(dataset: str = "kodak", codecs: Sequence[str] | None = None,
                limit: int | None = None, force: bool = False,
                progress: bool = True, log=print) -> list[Path]:
    """Sweep each codec over ``dataset``; return the files written.

    Raises :class:`~lic_lib.classic.CodecUnavailable` before any work if a
    requested codec is not installed.
    """
    chosen = [CODECS[c] for c in (codecs or CODECS)]
    for c in chosen:
        if not c.available():
            raise CodecUnavailable(c.unavailable_reason())
    images = [a for _, a in eval_images(dataset, limit)]
    written = []
    for c in chosen:
        path = result_path(dataset, c.name)
        if path.exists() and not force:
            log(f"{path} exists, skipped (use --force to recompute)")
            continue
        res = rd_sweep(c, images, progress=progress)
        meta = provenance(dataset, len(images), codec=c.version(),
                          parameter=c.param, settings=c.settings)
        save_rd({"name": c.name, "description": c.label,
                 "results": res, "meta": meta}, path)
        log(f"wrote {path}")
        written.append(path)
    return written
