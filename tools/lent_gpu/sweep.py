"""Device side: the complexity sweep on the GPU, one model at a time, so
that one failing model does not stop the others (``run_sweep`` resumes
from the file).  Usage: python sweep.py OUT.json"""
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
from lic_lib.complexity import SWEEP_MODELS, run_sweep  # noqa: E402

FIRST = ("mbt2018-mean", "msp-balanced", "mbt2018")      # the ratios' models
for m in [*FIRST, *(m for m in SWEEP_MODELS if m not in FIRST)]:
    try:
        run_sweep(sys.argv[1], models=[m], codecs=(), device="cuda",
                  log=lambda s: print(s, flush=True))
    except subprocess.CalledProcessError as e:
        print(f"{m} failed:\n{e.stderr[-1500:]}", flush=True)
