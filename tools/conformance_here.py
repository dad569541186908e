"""Decode the committed conformance streams on this machine and record it.

The conformance streams in ``tests/conformance/`` were written on an AMD
EPYC (and 16 whole-image ones on an Intel Xeon: see their README).  The test suite
checks their latents wherever it runs, but leaves no record of *which*
processors passed.  Run on a machine with another CPU, this script decodes
every stream here and under each of ``lic_lib.conformance.CPU_VARIANTS``
(other thread counts and kernel libraries on this processor); with
``--device cuda``, on the GPU with PyTorch's defaults, TF32 off and cuDNN
off (``GPU_VARIANTS``).  It compares the latent and image digests with the
writer's and adds or replaces this processor's row in
``data/results/complexity/conformance_machines.json`` (rows of other
processors are kept).  The hyperprior chapter shows the table.

    python tools/conformance_here.py [--device cuda] [--out F.json]
    python tools/conformance_here.py --merge F.json   # rows made elsewhere
"""
import argparse
import json
import platform
from pathlib import Path
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)

import torch  # noqa: E402

from lic_lib.complexity import device_label  # noqa: E402
from lic_lib.conformance import (CPU_VARIANTS, GPU_VARIANTS,  # noqa: E402
                                 STREAMS, decode_digests, decode_elsewhere)
from lic_lib.precision import cpu_flags  # noqa: E402
from lic_lib.results import RESULTS, provenance  # noqa: E402

OUT = RESULTS / "complexity" / "conformance_machines.json"
#: The CPU flags that decide which kernels this processor runs.
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def compare(got: dict, ref: dict) -> dict:
    """How many of ``got``'s decodes match the writer's digests."""
    return {"streams": len(got),
            "same_latents": sum(got[k]["latent"] == ref[k]["latent"]
                                for k in got),
            "same_images": sum(got[k]["image"] == ref[k]["image"]
                               for k in got)}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--out", type=Path, default=OUT,
                   help="the JSON to add a row to")
    p.add_argument("--merge", type=Path,
                   help="add the rows of this file (written on another "
                        "machine with --out) to --out, and stop")
    a = p.parse_args()
    if a.merge:
        for row in json.loads(a.merge.read_text())["rows"]:
            save(row, a.out)
        return
    ref = json.loads((STREAMS / "digests.json").read_text())
    files = sorted(STREAMS.glob("*.lic"))
    if {f.name for f in files} != set(ref):
        raise SystemExit("tests/conformance: streams and digests.json "
                         "disagree")
    torch.set_grad_enabled(False)
    gpu = a.device == "cuda"
    variants = GPU_VARIANTS if gpu else CPU_VARIANTS
    meta = provenance("conformance", len(files))     # one git call
    row = {"processor": device_label(a.device).rsplit(",", 1)[0],
           "device": a.device,
           "flags": sorted(f for f in FLAGS if f in cpu_flags()),
           "kernels": ("CUDA " + torch.version.cuda) if gpu
           else torch.backends.cpu.get_cpu_capability(),
           "torch": torch.__version__, "python": platform.python_version(),
           "commit": meta["commit"], "date": meta["date"],
           "default": compare(decode_digests(files, device=a.device), ref),
           "variants": {}}
    for variant in variants:
        row["variants"][variant] = compare(decode_elsewhere(files, variant),
                                           ref)
        print(f"{variant}: {row['variants'][variant]}", flush=True)
    save(row, a.out)
    print(f"{row['processor']} ({row['kernels']}): {row['default']} → "
          f"{a.out}")


def save(row: dict, out: Path) -> None:
    """Add ``row`` to ``out``, replacing a row of the same processor and
    PyTorch."""
    old = json.loads(out.read_text()) if out.exists() else {"rows": []}
    rows = [r for r in old["rows"] if (r["processor"], r["torch"])
            != (row["processor"], row["torch"])]
    out.write_text(json.dumps({
        "meta": {"streams": "tests/conformance (which machine wrote "
                            "which: its README)",
                 "what": "per processor: streams decoded to the writer's "
                         "latent / image digests, with its default kernels "
                         "and under each variant (CPU_VARIANTS or "
                         "GPU_VARIANTS of lic_lib.conformance)"},
        "rows": rows + [row]}, indent=1) + "\n")


if __name__ == "__main__":
    main()
