"""RD results as JSON files in CompressAI's schema, and tables of them.

Introduced in the chapter {ref}`chap-images-metrics-codecs`.

A result file looks like CompressAI's ``results/image/kodak/*.json``::

    {"name": "webp", "description": "...",
     "results": {"bpp": [...], "psnr-rgb": [...], "ms-ssim-rgb": [...],
                 "encoding_time": [...], "decoding_time": [...]},
     "meta": {"dataset": "kodak", "images": 24, "commit": "...", ...}}

so CompressAI's plotting tools read ours and we read theirs.  ``meta`` (our
addition) records where the numbers come from: dataset and its checksum,
codec version and settings, machine, date and commit.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from .config import DATA, RESULTS, ROOT

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["load_rd", "save_rd", "provenance", "rd_table", "result_path",
           "load_results", "ladder_violations", "NonMonotonicLadder",
           "FewerImages",
           "ANCHORS"]

#: Published results copied from CompressAI (see data/anchors/README.md).
ANCHORS = DATA / "anchors"


def load_rd(path: str | Path) -> dict:
    """Read one RD JSON file; check that it has bpp and one quality column."""
    path = Path(path)
    d = json.loads(path.read_text())
    res = d.get("results", {})
    if "bpp" not in res or not ({"psnr-rgb", "ms-ssim-rgb"} & res.keys()):
        raise ValueError(f"{path} is not an RD result in CompressAI's schema "
                         "(needs results.bpp and psnr-rgb or ms-ssim-rgb)")
    d.setdefault("name", path.stem)
    return d


def save_rd(d: dict, path: str | Path) -> Path:
    """Write an RD result atomically (a crash leaves the old file intact)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps(d, indent=2) + "\n")
    os.replace(tmp, path)
    return path


class NonMonotonicLadder(ValueError):
    """A model's RD points do not rise with quality (see
    :func:`ladder_violations`)."""


class FewerImages(ValueError):
    """A result would replace one that averages more images (a ``--limit``
    run over a longer sweep): refused unless asked for."""


def ladder_violations(results: dict, param: str = "lmbda") -> list[str]:
    """Where a ladder is not monotonic: bpp and PSNR must both rise
    strictly with ``param`` (λ), or a user who picks a lower quality does
    not get a smaller file.  One line per offending pair of neighbours;
    empty when the ladder is fine."""
    order = sorted(range(len(results[param])),
                   key=lambda i: results[param][i])
    bad = []
    for key in ("bpp", "psnr-rgb"):
        vals = [results[key][i] for i in order]
        for (i, a), (j, b) in zip(zip(order, vals), zip(order[1:], vals[1:])):
            if not b > a:
                bad.append(f"{key} {a:.4f} at {param} {results[param][i]:g}"
                           f" but {b:.4f} at {results[param][j]:g}")
    return bad


def result_path(dataset: str, name: str) -> Path:
    """Where the result ``name`` on ``dataset`` lives in ``data/results``."""
    return RESULTS / dataset / f"{name}.json"


def load_results(dataset: str, names: list[str]) -> dict[str, dict]:
    """``results`` of ``data/results/<dataset>/<name>.json``, keyed by the
    file's description (its legend label), in the order of ``names``."""
    out = {}
    for name in names:
        path = result_path(dataset, name)
        if not path.exists():
            raise FileNotFoundError(f"{path} is missing; regenerate it with "
                                    f"`lic anchors --dataset {dataset}`")
        d = load_rd(path)
        out[d.get("description") or d["name"]] = d["results"]
    return out


def _commit() -> str:
    """HEAD's short hash, with ``-dirty`` (as ``git describe --dirty``)
    when the library or the tools differ from it: a result measured with
    uncommitted code says so."""
    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(["git", "-C", str(ROOT), *args],
                              capture_output=True, text=True, timeout=10,
                              stdin=subprocess.DEVNULL)
    try:
        head = git("rev-parse", "--short", "HEAD").stdout.strip()
        if not head:
            return "unknown"
        dirty = git("diff", "--quiet", "HEAD", "--", "lic_lib", "tools")
        return head + ("-dirty" if dirty.returncode == 1 else "")
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _dataset_checksum(dataset: str) -> str | None:
    from .data import DATASETS
    spec = DATASETS.get(dataset)
    sums = spec.root() / "SHA256SUMS" if spec else None
    if sums is None or not sums.is_file():
        return None
    return hashlib.sha256(sums.read_bytes()).hexdigest()[:16]


def provenance(dataset: str, images: int, **extra) -> dict:
    """The ``meta`` block of a result file produced on this machine now."""
    return {"dataset": dataset, "images": images,
            "dataset_sha256sums": _dataset_checksum(dataset),
            "commit": _commit(),
            "date": _dt.datetime.now(_dt.timezone.utc).isoformat(
                timespec="seconds"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPU threads",
            "python": sys.version.split()[0], **extra}


def rd_table(paths: list[str | Path] | dict[str, str | Path]) -> pd.DataFrame:
    """Several result files as one long table, one row per RD point.

    ``paths`` is a list (labels from each file's ``name``) or a mapping
    label → path.  Columns: codec, bpp, psnr-rgb, ms-ssim-rgb (NaN when a
    file lacks it), encoding_time, decoding_time.
    """
    import pandas as pd
    items = paths.items() if isinstance(paths, dict) else \
        [(None, p) for p in paths]
    frames = []
    for label, p in items:
        d = load_rd(p)
        df = pd.DataFrame({k: v for k, v in d["results"].items()
                           if isinstance(v, list)})
        df.insert(0, "codec", label or d["name"])
        frames.append(df)
    return pd.concat(frames, ignore_index=True)
