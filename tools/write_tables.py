"""Write the integer coding tables of format version 2 (run once).

The Gaussian conditional's table (``data/checkpoints/gaussian_tables.npz``)
and, beside every shipped checkpoint that owns an entropy bottleneck, its
table (``<λ>.tables.npz``, SHA-256 in the checkpoint's record).  Tables are
built by CompressAI's ``update()`` on the machine that runs this; after
that, every machine codes with these integers (:mod:`lic_lib.tables`).
Checkpoints exported later get their table at export.

    .venv/bin/python tools/write_tables.py
"""

import json
import sys
import warnings
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
warnings.filterwarnings("ignore", category=FutureWarning)

from lic_lib.checkpoints import CHECKPOINTS, _with_weights  # noqa: E402
from lic_lib.tables import (GAUSSIAN_TABLES, save_bottleneck_tables,  # noqa: E402
                            tables_path, write_gaussian_tables)


def main() -> None:
    print(f"{GAUSSIAN_TABLES.name}: sha256 {write_gaussian_tables()}")
    for meta in sorted(CHECKPOINTS.glob("*/*.json")):
        record = json.loads(meta.read_text())
        if "base" in record:
            continue                      # uses its base's table
        path = meta.with_suffix(".pt")
        weights = torch.load(path, map_location="cpu", weights_only=True)
        net = _with_weights(record["model"], record, weights, path)
        record["tables_sha256"] = save_bottleneck_tables(net,
                                                         tables_path(path))
        meta.write_text(json.dumps(record, indent=2) + "\n")
        print(f"{tables_path(path).relative_to(CHECKPOINTS)}: "
              f"{record['tables_sha256'][:12]}")


if __name__ == "__main__":
    main()
