"""Recompute every result file of the book from scratch, resumably.

    python tools/reproduce.py [--out runs/reproduce/results] [--yes]
                              [--only kodak/jpeg ...]

Every RD result committed under data/results/<set>/<name>.json is
recomputed with the same codec or model, images and λ into a fresh
results folder (``$LIC_RESULTS_DIR``), then compared with the committed
file.  Training is not redone (the shipped checkpoints are used); the
context-model training logs are training.  Before starting it prints an
estimate of the time, from the encode and decode times recorded in the
committed files.  The training experiments of data/results/experiments
are training too (``python tools/warm_start.py`` redoes them).  Stopped
at any point, it resumes: every coded image is
cached in the new folder's rows/ as soon as it is done.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COMMITTED = ROOT / "data" / "results"


_METRIC_S: dict[str, float] = {}


def metric_seconds(dataset: str) -> float:
    """Seconds to score one coded image of ``dataset`` (PSNR + MS-SSIM),
    measured now on its first image: not part of the recorded codec times."""
    if dataset not in _METRIC_S:
        from lic_lib.data import eval_images
        from lic_lib.metrics import ms_ssim, psnr
        (_, img), = eval_images(dataset, limit=1)
        t0 = time.perf_counter()
        psnr(img, img[::-1].copy())
        ms_ssim(img, img[::-1].copy())
        _METRIC_S[dataset] = time.perf_counter() - t0
    return _METRIC_S[dataset]


#: result folders that are not RD files: complexity/ is the resolution
#: sweep (its own job, below); experiments/ is training (tools/warm_start.py)
NOT_RD = ("complexity", "experiments")


def jobs() -> list[tuple[str, float, list[str]]]:
    """(result, estimated seconds, command) for every committed result."""
    from lic_lib.classic import CODECS
    out = []
    for path in sorted(COMMITTED.glob("*/*.json")):
        ds, name = path.parent.name, path.stem
        if ds in NOT_RD:
            continue
        d = json.loads(path.read_text())
        r, meta = d["results"], d.get("meta", {})
        n = meta.get("images", 1)
        cost = n * (sum(r.get("encoding_time", [0]))
                    + sum(r.get("decoding_time", [0]))
                    + len(r["bpp"]) * metric_seconds(ds))
        if name in CODECS:
            cmd = ["lic", "anchors", "--dataset", ds, "--codecs", name,
                   "--jobs", "2"]
            if CODECS[name].slow:
                cost /= 2                     # two encoders at once
        else:
            model = name.removesuffix("+lof")
            lams = ",".join(str(x) for x in r["lmbda"])
            cmd = [sys.executable, "-c",
                   "import sys; from lic_lib.evaluate import evaluate_model;"
                   "from lic_lib.lof import LOFConfig;"
                   f"evaluate_model({model!r}, {ds!r}, [{lams}], {n},"
                   f" lof={'LOFConfig()' if name.endswith('+lof') else None},"
                   " progress=True)"]
        out.append((f"{ds}/{name}", cost, cmd))
    sweep = COMMITTED / "complexity" / "cpu.json"
    if sweep.exists():
        cost = sum(json.loads(sweep.read_text())["wall_s"].values())
        out.append(("complexity/cpu", cost,
                    [sys.executable, "-m", "lic_lib.complexity"]))
    return out


def compare(out_dir: Path, names: list[str]) -> None:
    """Largest difference in bpp and PSNR, reproduced vs committed."""
    print(f"\n{'result':28s} {'max |Δbpp|':>11s} {'max |ΔPSNR|':>12s}")
    for name in names:
        new, old = out_dir / f"{name}.json", COMMITTED / f"{name}.json"
        if not new.exists() or name.startswith("complexity"):
            continue
        a, b = (json.loads(p.read_text())["results"] for p in (new, old))
        db = max(abs(x - y) for x, y in zip(a["bpp"], b["bpp"]))
        dp = max(abs(x - y) for x, y in zip(a["psnr-rgb"], b["psnr-rgb"]))
        print(f"{name:28s} {db:11.5f} {dp:12.4f}")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path,
                    default=ROOT / "runs" / "reproduce" / "results")
    ap.add_argument("--only", nargs="+", help="results to redo, e.g. kodak/jpeg")
    ap.add_argument("--yes", action="store_true", help="do not ask")
    a = ap.parse_args()
    todo = [j for j in jobs() if not a.only or j[0] in a.only]
    total = sum(c for _, c, _ in todo)
    print(f"{len(todo)} result files to recompute into {a.out}")
    for name, cost, _ in todo:
        print(f"  {name:28s} ~{cost / 60:7.1f} min")
    print(f"estimate: ~{total / 3600:.1f} h on the machine that made them "
          "(2 CPU cores, nothing else running); done files are skipped, so "
          "re-running resumes")
    try:
        if not a.yes and input("start? [y/N] ").strip().lower() != "y":
            return 1
    except EOFError:                       # not interactive: ask for --yes
        print("\nnot started: pass --yes (make reproduce YES=1)")
        return 1
    env = {**os.environ, "LIC_RESULTS_DIR": str(a.out)}
    a.out.mkdir(parents=True, exist_ok=True)
    lic = str(Path(sys.executable).with_name("lic"))
    for name, _, cmd in todo:
        if (a.out / f"{name}.json").exists():
            print(f"{name}: done")
            continue
        t0 = time.time()
        cmd = [lic, *cmd[1:]] if cmd[0] == "lic" else cmd
        subprocess.run(cmd, env=env, check=True, cwd=ROOT)
        print(f"{name}: {time.time() - t0:.0f} s")
    compare(a.out, [n for n, _, _ in todo])
    return 0


if __name__ == "__main__":
    sys.exit(main())
