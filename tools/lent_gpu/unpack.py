"""Device side: decode the lossless WebP copies of CID22 back to PNG.

The pixels are checked against SHA-256s of the original PNGs' pixels;
SHA256SUMS is then rewritten for the new PNG bytes (same pixels)."""
import hashlib, json, sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
import numpy as np
from PIL import Image

src, root = Path(sys.argv[1]), Path(sys.argv[2])
man = json.loads((src / "manifest.json").read_text())

def one(m):
    rel, part, name, pix, shape = m
    a = np.asarray(Image.open(src / name).convert("RGB"))
    assert hashlib.sha256(a.tobytes()).hexdigest() == pix, rel
    dst = root / "train" / rel
    dst.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(a).save(dst, compress_level=1)
    return rel

with ThreadPoolExecutor(16) as ex:
    n = len(list(ex.map(one, man)))
sums = []
for p in sorted((root / "train").rglob("*.png")):
    sums.append(f"{hashlib.sha256(p.read_bytes()).hexdigest()}  "
                f"{p.relative_to(root / 'train')}")
(root / "train" / "SHA256SUMS").write_text("\n".join(sums) + "\n")
print(f"unpacked {n} images from {src}; {len(sums)} in {root}/train")
