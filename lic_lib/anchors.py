"""Run every classical codec over a data set and write its RD results.

Introduced in the chapter {ref}`chap-images-metrics-codecs`; run it with
``lic anchors`` (or ``make anchors``).  One JSON per codec goes to
``data/results/<dataset>/<codec>.json``; a codec whose file exists is
skipped unless ``force``.  Every (parameter, image) coding is cached as it
is made (:func:`lic_lib.evaluate.evaluate_codec`), so an interrupted run
resumes where it stopped.  VVC is not in the default list: VTM takes hours
(``lic anchors --codecs vtm --jobs 2``) and both VVC encoders need
``make vvc`` first.
"""

from __future__ import annotations

from pathlib import Path
from typing import Sequence

from .classic import CODECS, VVC, CodecUnavailable
from .results import result_path

__all__ = ["run_anchors", "DEFAULT_CODECS"]

#: What ``lic anchors`` runs when no codec is named.
DEFAULT_CODECS = [n for n, c in CODECS.items() if not isinstance(c, VVC)]


def run_anchors(dataset: str = "kodak", codecs: Sequence[str] | None = None,
                limit: int | None = None, force: bool = False,
                progress: bool = True, log=print, jobs: int = 1
                ) -> list[Path]:
    """Sweep each codec over ``dataset``; return the files written.

    Raises :class:`~lic_lib.classic.CodecUnavailable` before any work if a
    requested codec is not installed.  ``force`` rewrites the result file
    from the cached codings (delete ``rows/<codec>.jsonl`` to recode).
    """
    from .evaluate import evaluate_codec      # imports torch: only when needed
    chosen = [CODECS[c] for c in (codecs or DEFAULT_CODECS)]
    for c in chosen:
        if not c.available():
            raise CodecUnavailable(c.unavailable_reason())
    written = []
    for c in chosen:
        path = result_path(dataset, c.name)
        if path.exists() and not force:
            log(f"{path} exists, skipped (use --force to recompute)")
            continue
        evaluate_codec(c.name, dataset, limit=limit, jobs=jobs,
                       progress=progress, log=log)
        written.append(path)
    return written
