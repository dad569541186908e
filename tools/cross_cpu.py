"""Decode the committed conformance streams on this processor and record it.

The conformance streams in ``tests/conformance/`` were written on one
machine (an AMD EPYC, PyTorch 2.14.1: see their README).  The test suite
checks their latents wherever it runs, but leaves no record of *which*
processors passed.  Run on a machine with another CPU, this script decodes
every stream here and under each of ``lic_lib.conformance.CPU_VARIANTS``
(other thread counts and kernel libraries on this processor), compares
the latent and image digests with the writer's, and adds or replaces this
processor's row in ``data/results/complexity/cross_cpu.json`` (rows of
other processors are kept).  The hyperprior chapter shows the table.

    python tools/cross_cpu.py
"""
import json
import platform
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)

import torch  # noqa: E402

from lic_lib.complexity import device_label  # noqa: E402
from lic_lib.conformance import (CPU_VARIANTS, STREAMS,  # noqa: E402
                                 decode_digests, decode_elsewhere)
from lic_lib.precision import cpu_flags  # noqa: E402
from lic_lib.results import RESULTS, provenance  # noqa: E402

OUT = RESULTS / "complexity" / "cross_cpu.json"
#: The flags that decide which kernels this processor runs.
FLAGS = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")


def compare(got: dict, ref: dict) -> dict:
    """How many of ``got``'s decodes match the writer's digests."""
    return {"streams": len(got),
            "same_latents": sum(got[k]["latent"] == ref[k]["latent"]
                                for k in got),
            "same_images": sum(got[k]["image"] == ref[k]["image"]
                               for k in got)}


def main() -> None:
    ref = json.loads((STREAMS / "digests.json").read_text())
    files = sorted(STREAMS.glob("*.lic"))
    missing = {f.name for f in files} ^ set(ref)
    if missing:
        raise SystemExit(f"streams and digests.json disagree: {missing}")
    torch.set_grad_enabled(False)
    row = {"cpu": device_label().rsplit(",", 1)[0],
           "flags": sorted(f for f in FLAGS if f in cpu_flags()),
           "kernels": torch.backends.cpu.get_cpu_capability(),
           "torch": torch.__version__, "python": platform.python_version(),
           **provenance("conformance", len(files)),
           "default": compare(decode_digests(files), ref),
           "variants": {}}
    for variant in CPU_VARIANTS:
        row["variants"][variant] = compare(decode_elsewhere(files, variant),
                                           ref)
        print(f"{variant}: {row['variants'][variant]}", flush=True)
    for key in ("dataset", "images", "dataset_sha256sums"):
        row.pop(key)
    old = json.loads(OUT.read_text()) if OUT.exists() else {"rows": []}
    rows = [r for r in old["rows"]
            if (r["cpu"], r["torch"]) != (row["cpu"], row["torch"])]
    OUT.write_text(json.dumps({
        "meta": {"streams": "tests/conformance (written on an AMD EPYC, "
                            "PyTorch 2.14.1; see its README)",
                 "what": "per processor: streams decoded to the writer's "
                         "latent / image digests, with this machine's "
                         "default kernels and under each CPU variant"},
        "rows": rows + [row]}, indent=1) + "\n")
    print(f"{row['cpu']} ({row['kernels']}): {row['default']} → {OUT}")


if __name__ == "__main__":
    main()
