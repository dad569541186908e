"""The entropy coder's integer tables, shipped beside the checkpoints.

Introduced in the chapter {ref}`chap-hyperprior` (section "Across
machines").  rANS codes with quantized CDFs: integer tables.  CompressAI
builds them on the machine that loads a model (``update()``): the
Gaussian conditional's from ``erfc`` of its scale table, the entropy
bottleneck's from its density network and sigmoids — float functions whose
last bits differ between libraries and devices, and one count of
difference in one table entry is enough to decode garbage.  So the tables
are built once and shipped as integers:

* ``gaussian_tables.npz``: the Gaussian conditional's table, the same for
  every model of the book (64 scales from 0.11 to 256), with its scale
  boundaries as float32 — part of the file format (version 2), so its
  SHA-256 is fixed here;
* ``<model>/<λ>.tables.npz`` beside each trained checkpoint: its entropy
  bottleneck's table, with the file's SHA-256 in the checkpoint's record
  (a context model uses the table of the checkpoint it extends).
"""

from __future__ import annotations

import io
import zipfile
from pathlib import Path

import numpy as np
import torch

from .config import DATA
from .data import sha256

__all__ = ["GAUSSIAN_TABLES", "GAUSSIAN_SHA256", "save_bottleneck_tables",
           "load_tables", "write_gaussian_tables", "tables_path",
           "TablesError"]

GAUSSIAN_TABLES = DATA / "checkpoints" / "gaussian_tables.npz"
#: The Gaussian table of format version 2; never change it (see above).
GAUSSIAN_SHA256 = ("2bf5454ef85e326a747b32ca5214c7c8"
                   "6287fb26c4651afd0c289fa9750cac0b")
_KEYS = ("_quantized_cdf", "_cdf_length", "_offset")


class TablesError(FileNotFoundError):
    """A shipped coding table is missing or does not match its SHA-256."""


def tables_path(checkpoint: Path) -> Path:
    """``<λ>.tables.npz`` beside the checkpoint ``<λ>.pt``."""
    return checkpoint.with_suffix(".tables.npz")


def _arrays(module: torch.nn.Module) -> dict[str, np.ndarray]:
    return {k.strip("_"): getattr(module, k).cpu().numpy().astype(np.int32)
            for k in _KEYS}


def _save(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """An ``.npz`` (``np.load`` reads it) whose bytes depend on the arrays
    only: compressed members with a fixed date, unlike ``np.savez``."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as z:
        for name, a in sorted(arrays.items()):
            buf = io.BytesIO()
            np.lib.format.write_array(buf, np.ascontiguousarray(a),
                                      allow_pickle=False)
            info = zipfile.ZipInfo(f"{name}.npy", date_time=(1980, 1, 1,
                                                             0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            z.writestr(info, buf.getvalue())


def save_bottleneck_tables(net: torch.nn.Module, path: Path) -> str:
    """Write ``net``'s entropy-bottleneck table (built by ``update()`` on
    this machine) to ``path``; its SHA-256."""
    net.entropy_bottleneck.update(force=True)
    _save(path, _arrays(net.entropy_bottleneck))
    return sha256(path)


def write_gaussian_tables(path: Path = GAUSSIAN_TABLES) -> str:
    """Build the Gaussian table with CompressAI on this machine and write
    it (done once, when format version 2 was defined); its SHA-256."""
    from compressai.entropy_models import GaussianConditional
    from compressai.models.base import get_scale_table
    gc = GaussianConditional(None)
    gc.update_scale_table(get_scale_table())
    _save(path, {**_arrays(gc),
                 "scale_table": gc.scale_table.numpy().astype(np.float32)})
    return sha256(path)


def _load(path: Path, expected: str | None) -> dict[str, np.ndarray]:
    if not path.exists():
        raise TablesError(f"coding table {path} is missing")
    if expected is not None and sha256(path) != expected:
        raise TablesError(f"{path} does not match its SHA-256")
    with np.load(path) as f:
        return dict(f)


def load_tables(net: torch.nn.Module, bottleneck: Path,
                bottleneck_sha256: str | None) -> torch.nn.Module:
    """Give ``net`` the shipped integer tables: its entropy bottleneck's
    from ``bottleneck``, its Gaussian conditional's (if any) from
    :data:`GAUSSIAN_TABLES`.  Nothing is computed in float."""
    device = next(net.parameters()).device
    for module, arrays in [(net.entropy_bottleneck,
                            _load(bottleneck, bottleneck_sha256))] + (
            [(net.gaussian_conditional,
              _load(GAUSSIAN_TABLES, GAUSSIAN_SHA256))]
            if hasattr(net, "gaussian_conditional") else []):
        for k in _KEYS:
            setattr(module, k, torch.from_numpy(arrays[k.strip("_")]).to(
                device))
        if "scale_table" in arrays:
            module.scale_table = torch.from_numpy(arrays["scale_table"]).to(
                device)
    return net
