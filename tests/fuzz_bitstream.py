"""Decode N mutated .lic files: each must raise BitstreamError, fast.

    .venv/bin/python tests/fuzz_bitstream.py -n 10000

Uses the mutation generator of test_codec.py (truncations, bit flips,
insertions, foreign and random files) on a real mean-scale bitstream.
Exits non-zero on the first mutation that decodes, raises anything else,
or takes longer than --max-seconds.
"""

import argparse
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_codec import mutations  # noqa: E402

from lic_lib.bitstream import BitstreamError  # noqa: E402
from lic_lib.codec import decode_image, encode_image  # noqa: E402
from lic_lib.data import eval_images  # noqa: E402
from lic_lib.models import build_model  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("-n", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--max-seconds", type=float, default=5.0)
    a = p.parse_args()
    torch.manual_seed(0)
    model = build_model("mbt2018-mean", N=16, M=24).eval()
    model.update(force=True)
    (_, img), = eval_images("kodak", limit=1)
    data = encode_image(model, img[:128, :192].copy(), "mbt2018-mean")
    start, worst = time.perf_counter(), 0.0
    for i, bad in enumerate(mutations(data, a.n, a.seed)):
        t = time.perf_counter()
        try:
            decode_image(model, bad, "mbt2018-mean")
        except BitstreamError:
            pass
        else:
            print(f"mutation {i} decoded without error ({len(bad)} bytes)")
            return 1
        worst = max(worst, time.perf_counter() - t)
        if worst > a.max_seconds:
            print(f"mutation {i} took {worst:.1f} s")
            return 1
    print(f"{a.n} mutations rejected with BitstreamError in "
          f"{time.perf_counter() - start:.1f} s (slowest {worst * 1e3:.1f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
