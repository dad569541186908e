"""Device side: seconds per training step with c runs at once."""
import json, os, sys, time, csv
from pathlib import Path
import multiprocessing as mp
sys.path.insert(0, os.getcwd())
from lic_lib.train import TrainConfig
from lic_lib.ladder import _train_job
ITERS = int(os.environ.get("BENCH_ITERS", 500))

def rate(run):
    rows = list(csv.DictReader(open(run / "log.csv")))
    e = {int(r["step"]): float(r["elapsed_s"]) for r in rows if r.get("elapsed_s")}
    return (e[ITERS] - e[100]) / (ITERS - 100)

if __name__ == "__main__":
    ctx = mp.get_context("spawn")
    out = {}
    sets = {"1": ["mbt2018"], "2": ["mbt2018", "mbt2018-mean"],
            "4": ["mbt2018", "mbt2018-mean", "bmshj2018-hyperprior", "bmshj2018-factorized"]}
    for c, models in sets.items():
        t0 = time.time()
        procs, runs = [], []
        for i, m in enumerate(models):
            run = Path(f"/tmp/bench/{c}/{i}-{m}")
            cfg = TrainConfig(model=m, iterations=ITERS, val_every=10**9,
                              checkpoint_seconds=1e9)
            p = ctx.Process(target=_train_job, args=(cfg, run, None, 4))
            p.start(); procs.append(p); runs.append((m, run))
        for p in procs:
            p.join()
        out[c] = {m: rate(r) for m, r in runs}
        print(c, {m: f"{v*1000:.1f} ms" for m, v in out[c].items()},
              f"phase {time.time()-t0:.0f} s", flush=True)
    Path("/tmp/bench.json").write_text(json.dumps(out))
