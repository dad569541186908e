"""Device side, call 2: train ladders until the deadline, check that the
GPU writes files the CPU can read, and pack the results into $OUT.

Usage: [CROP=256] python ladders.py SECONDS MODEL [MODEL ...]
"""
import hashlib, json, os, sys, tarfile, time
from pathlib import Path
sys.path.insert(0, os.getcwd())

OUT = Path(os.environ["OUT"])
RUNS = Path("/tmp/runs")


def crossdev(models):
    """Encode and decode two Kodak images per model on the GPU; the .lic
    files come back so that the CPU can decode them and compare."""
    from lic_lib.lic_files import compress_file, decompress_file
    from lic_lib.checkpoints import checkpoint_path
    xd = Path("/tmp/xdev"); xd.mkdir(exist_ok=True)
    res = {}
    for m in models:
        if not checkpoint_path(m, 0.0067).exists():
            continue
        for img in ("kodim01", "kodim23"):
            lic, png = xd / f"{m}-{img}.lic", xd / f"{m}-{img}-gpu.png"
            key = f"{m}-{img}"
            try:
                e = compress_file(f"data/kodak/{img}.png", lic, m, 3, device="cuda")
                d = decompress_file(lic, png, device="cuda")
                res[key] = {"encode": e, "decode_s": d.get("seconds"),
                            "png_sha256": hashlib.sha256(png.read_bytes()).hexdigest()}
                png.unlink()
            except Exception as ex:                # record it, go on
                res[key] = {"error": repr(ex)}
            print(key, res[key], flush=True)
    (xd / "xdev.json").write_text(json.dumps(res, indent=1))


def pack(models):
    from lic_lib.ladder import ladder_plan, _finished
    ck = Path("data/checkpoints")
    files = [f for m in models if (ck / m).exists()
             for f in sorted((ck / m).glob("*"))
             if f.stat().st_mtime > START]         # new exports only
    files += [run / "log.csv" for m in models
              for _, run in ladder_plan(m, RUNS) if (run / "log.csv").exists()]
    files += sorted(Path("/tmp/xdev").glob("*"))
    files += [run / "last.pt" for m in models for cfg, run in ladder_plan(m, RUNS)
              if (run / "last.pt").exists() and not _finished(cfg, run)]
    cap, total, chosen = 62_000_000, 0, []
    for f in files:
        if total + f.stat().st_size <= cap:
            chosen.append(f); total += f.stat().st_size
        else:
            print("left behind:", f, f.stat().st_size, flush=True)
    with tarfile.open("/tmp/pack.tar", "w") as t:
        for f in chosen:
            t.add(f, arcname=str(f).lstrip("/"))
    data = Path("/tmp/pack.tar").read_bytes()
    step = 15_500_000
    for i in range(0, len(data), step):
        (OUT / f"pack.tar.{i // step:02d}").write_bytes(data[i:i + step])
    print(f"packed {len(chosen)} files, {total / 1e6:.1f} MB", flush=True)


if __name__ == "__main__":
    START = time.time()
    seconds, models = float(sys.argv[1]), sys.argv[2:]
    from lic_lib.ladder import train_ladders
    recipe = {"crop": int(os.environ["CROP"])} if "CROP" in os.environ else {}
    train_ladders(models, RUNS, jobs=8, hours=seconds / 3600,
                  log=lambda m: print(f"{time.time() - START:.0f} s: {m}", flush=True),
                  **recipe)
    crossdev(models)
    pack(models)
