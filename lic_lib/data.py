"""Datasets: checksummed loaders, random training crops, generated images.

Introduced in the chapter {ref}`chap-images-metrics-codecs`.

=============  ==========================================  ================
name           what                                        where
=============  ==========================================  ================
``kodak``      24 photos, 768×512, the standard test set   ``data/kodak``
``clic2025``   12 photos, longest side 2048 px             ``$LIC_DATA_DIR``
``train``      187 CID22 photos, 512×512, for training     ``$LIC_DATA_DIR``
``val``        41 CID22 photos, 512×512, for validation    ``$LIC_DATA_DIR``
``ood``        generated text, charts, flat graphics and   made on demand
               screen content (out of domain)
=============  ==========================================  ================

Every file is checked against the ``SHA256SUMS`` of its folder before use; a
missing folder or file raises :class:`DatasetError` naming the file and the
variable to set.  Nothing is ever downloaded.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont, UnidentifiedImageError

from .config import DATA, data_dir

__all__ = ["DatasetError", "ImageError", "DATASETS", "dataset_files",
           "colour_jitter",
           "load_rgb", "eval_images", "downscale", "RandomCrops", "out_of_domain",
           "save_png", "sha256"]


class DatasetError(FileNotFoundError):
    """A data set, or one of its files, is missing or fails its checksum."""


class ImageError(ValueError):
    """A file is not an image we can read."""


@dataclass(frozen=True)
class _Spec:
    root: Callable[[], Path]      # folder holding SHA256SUMS
    prefix: str                   # keep SHA256SUMS entries under this prefix
    hint: str                     # how to provide the data


_SHARED_HINT = ("set LIC_DATA_DIR to the folder that holds clic2025/ and "
                "train/ (CI uses ../shared/data; see README, 'Data')")

DATASETS: dict[str, _Spec] = {
    "kodak": _Spec(lambda: DATA / "kodak", "",
                   "data/kodak is part of the repository: restore it with "
                   "'git checkout data/kodak'"),
    "clic2025": _Spec(lambda: data_dir() / "clic2025", "", _SHARED_HINT),
    "train": _Spec(lambda: data_dir() / "train", "train/", _SHARED_HINT),
    "val": _Spec(lambda: data_dir() / "train", "val/", _SHARED_HINT),
}

_verified: dict[tuple[str, int, int], str] = {}


def sha256(path: Path) -> str:
    """SHA-256 of a file, hex."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _checked(path: Path, digest: str, name: str) -> Path:
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    if _verified.get(key) != digest:
        if sha256(path) != digest:
            raise DatasetError(f"{name}: {path} does not match its SHA256 in "
                               "SHA256SUMS (corrupted or replaced file)")
        _verified[key] = digest
    return path


def dataset_files(name: str) -> list[Path]:
    """The verified image files of data set ``name``, sorted by name."""
    if name not in DATASETS:
        raise DatasetError(f"unknown data set {name!r}; choose one of "
                           f"{', '.join(DATASETS)} (or 'ood')")
    spec = DATASETS[name]
    root = spec.root()
    sums = root / "SHA256SUMS"
    if not sums.is_file():
        raise DatasetError(f"{name}: missing {sums}; {spec.hint}")
    entries = []
    for line in sums.read_text().splitlines():
        digest, _, rel = line.strip().partition("  ")
        if rel.startswith(spec.prefix) and rel.lower().endswith(".png"):
            entries.append((root / rel, digest))
    if not entries:
        raise DatasetError(f"{name}: {sums} lists no images under "
                           f"'{spec.prefix}'")
    for path, digest in entries:
        if not path.is_file():
            raise DatasetError(f"{name}: missing {path}; {spec.hint}")
        _checked(path, digest, name)
    return sorted(p for p, _ in entries)


def load_rgb(path: str | Path) -> np.ndarray:
    """Read an image file as H×W×3 uint8 RGB.

    Greyscale and palette images are expanded to RGB; 16-bit images are
    reduced to 8 bits; an alpha channel is composited on white.  Anything
    Pillow cannot read raises :class:`ImageError` naming the file.
    """
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("I;16", "I;16B", "I;16L", "I"):
                a = np.asarray(im, dtype=np.uint32)
                im = Image.fromarray((a >> 8).astype(np.uint8), "L")
            if im.mode in ("RGBA", "LA", "PA") or "transparency" in im.info:
                im = im.convert("RGBA")
                white = Image.new("RGBA", im.size, (255, 255, 255, 255))
                im = Image.alpha_composite(white, im)
            return np.asarray(im.convert("RGB")).copy()
    except FileNotFoundError:
        raise
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ImageError(f"cannot read {path} as an image: {e}") from None


def downscale(img: np.ndarray, max_side: int | None) -> np.ndarray:
    """Shrink ``img`` (Lanczos) so its longest side is ≤ ``max_side``."""
    h, w = img.shape[:2]
    if max_side is None or max(h, w) <= max_side:
        return img
    s = max_side / max(h, w)
    size = (max(1, round(w * s)), max(1, round(h * s)))
    return np.asarray(Image.fromarray(img).resize(size, Image.LANCZOS))


def eval_images(name: str, limit: int | None = None,
                max_side: int | None = None) -> list[tuple[str, np.ndarray]]:
    """Whole images of an evaluation set as (file stem, H×W×3 uint8) pairs.

    ``limit`` keeps the first images (sorted by name); ``max_side``
    downscales larger images (Lanczos) for quick experiments.  ``name`` may
    be ``ood`` for the generated out-of-domain set.
    """
    if name == "ood":
        items = out_of_domain()
    else:
        items = [(p.stem, load_rgb(p)) for p in dataset_files(name)[:limit]]
    return [(n, downscale(a, max_side)) for n, a in items[:limit]]


class RandomCrops(torch.utils.data.Dataset):
    """Random square crops with random flips, as float tensors in [0, 1].

    All images are decoded once and kept in memory (the training set is
    about 180 MB as uint8).  Each item draws a new crop, so one "epoch" is
    ``len(self)`` crops; seed with ``torch.manual_seed`` (and a
    ``worker_init_fn`` for several workers) to repeat a run.
    """

    def __init__(self, name: str = "train", crop: int = 256,
                 crops_per_image: int = 1, colour: float = 0.0) -> None:
        self.images = [load_rgb(p) for p in dataset_files(name)]
        small = [a.shape[:2] for a in self.images if min(a.shape[:2]) < crop]
        if small:
            raise ValueError(f"crop {crop} exceeds image size {small[0]}")
        self.crop = crop
        self.crops_per_image = crops_per_image
        self.colour = colour

    def __len__(self) -> int:
        return len(self.images) * self.crops_per_image

    def __getitem__(self, index: int) -> torch.Tensor:
        img = self.images[index % len(self.images)]
        h, w = img.shape[:2]
        top = int(torch.randint(0, h - self.crop + 1, ()))
        left = int(torch.randint(0, w - self.crop + 1, ()))
        x = torch.from_numpy(
            img[top:top + self.crop, left:left + self.crop].copy())
        x = x.permute(2, 0, 1).float().div_(255.0)
        if torch.rand(()) < 0.5:
            x = x.flip(-1)
        if torch.rand(()) < 0.5:
            x = x.flip(-2)
        if self.colour and torch.rand(()) < self.colour:
            x = colour_jitter(x)
        return x


def colour_jitter(x: torch.Tensor) -> torch.Tensor:
    """``x`` (3×h×w in [0, 1]) with its RGB channels in a random order and
    its saturation scaled by a random factor in [0.5, 2.5] (about its
    luma, clipped to [0, 1]).

    187 training photos hold few large areas of saturated, unusual colour
    (an orange smoke-filled sky, say); a hyperprior that never met them
    extrapolates there (chapter {ref}`chap-hyperprior`), so some crops are
    re-coloured: the same content, other colours.
    """
    x = x[torch.randperm(3)]
    luma = (0.299 * x[0] + 0.587 * x[1] + 0.114 * x[2]).unsqueeze(0)
    s = 0.5 + 2.0 * torch.rand(())
    return (luma + s * (x - luma)).clamp_(0.0, 1.0)


# --------------------------------------------------------------------------
# Out-of-domain images: deterministic synthetic content unlike photographs.

_WORDS = ("image compression learned latent entropy model rate distortion "
          "quantisation decoder encoder bitstream context progressive scale "
          "the of and to in is for with on as by that this from are at be "
          "an we our which it results table figure section network").split()
_PALETTE = np.array([[31, 119, 180], [255, 127, 14], [44, 160, 44],
                     [214, 39, 40], [148, 103, 189], [140, 86, 75],
                     [227, 119, 194], [127, 127, 127], [188, 189, 34],
                     [23, 190, 207]])


def _font(size: int) -> ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _sentence(rng: np.random.Generator, n: int) -> str:
    return " ".join(rng.choice(_WORDS, size=n))


def _draw_text(d: ImageDraw.ImageDraw, rng, w: int, h: int) -> None:
    y = 24
    d.text((32, y), _sentence(rng, 4).title(), fill=(0, 0, 0), font=_font(30))
    y += 52
    while y < h - 30:
        size = int(rng.choice([12, 14, 16]))
        for _ in range(int(rng.integers(3, 7))):
            if y >= h - 30:
                break
            d.text((32, y), _sentence(rng, max(4, (w - 64) // (size * 4))),
                   fill=(20, 20, 20), font=_font(size))
            y += size + 6
        y += 14


def _draw_chart(d: ImageDraw.ImageDraw, rng, w: int, h: int) -> None:
    x0, y0, x1, y1 = 70, 40, w - 30, h - 60
    for i in range(6):                                    # grid and ticks
        y = y1 - i * (y1 - y0) // 5
        d.line([(x0, y), (x1, y)], fill=(220, 220, 220))
        d.text((20, y - 8), f"{i * 20}", fill=(0, 0, 0), font=_font(14))
    d.line([(x0, y0), (x0, y1), (x1, y1)], fill=(0, 0, 0), width=2)
    n = int(rng.integers(5, 12))
    bw = (x1 - x0) // n
    for i in range(n):                                    # bars
        top = y1 - int(rng.uniform(0.1, 0.9) * (y1 - y0))
        d.rectangle([x0 + i * bw + 6, top, x0 + (i + 1) * bw - 6, y1],
                    fill=tuple(_PALETTE[0]))
        d.text((x0 + i * bw + 8, y1 + 8), f"Q{i + 1}", fill=(0, 0, 0),
               font=_font(14))
    pts = [(x0 + i * bw + bw // 2,
            y1 - int(rng.uniform(0.2, 0.95) * (y1 - y0))) for i in range(n)]
    d.line(pts, fill=tuple(_PALETTE[3]), width=3)          # a line series
    for p in pts:
        d.ellipse([p[0] - 5, p[1] - 5, p[0] + 5, p[1] + 5],
                  fill=tuple(_PALETTE[3]))
    d.text((x0 + 10, 12), _sentence(rng, 3).title(), fill=(0, 0, 0),
           font=_font(18))


def _draw_flat(d: ImageDraw.ImageDraw, rng, w: int, h: int) -> None:
    d.rectangle([0, 0, w, h], fill=tuple(_PALETTE[int(rng.integers(10))]))
    for _ in range(int(rng.integers(8, 16))):
        c = tuple(int(v) for v in _PALETTE[int(rng.integers(10))])
        x, y = int(rng.integers(0, w)), int(rng.integers(0, h))
        s = int(rng.integers(30, 200))
        shape = rng.integers(3)
        if shape == 0:
            d.ellipse([x - s, y - s, x + s, y + s], fill=c)
        elif shape == 1:
            d.rectangle([x - s, y - s // 2, x + s, y + s // 2], fill=c)
        else:
            d.polygon([(x, y - s), (x + s, y + s), (x - s, y + s)], fill=c)
    d.text((w // 6, h // 2 - 30), _sentence(rng, 2).upper(),
           fill=(255, 255, 255), font=_font(56))


def _draw_screen(d: ImageDraw.ImageDraw, rng, w: int, h: int) -> None:
    d.rectangle([0, 0, w, h], fill=(245, 245, 245))
    d.rectangle([0, 0, w, 32], fill=(60, 63, 65))              # title bar
    for i, c in enumerate([(255, 95, 86), (255, 189, 46), (39, 201, 63)]):
        d.ellipse([10 + 22 * i, 9, 24 + 22 * i, 23], fill=c)
    d.text((90, 8), "lic_lib - editor", fill=(230, 230, 230), font=_font(14))
    d.rectangle([0, 32, 170, h], fill=(230, 232, 236))          # side bar
    for i in range(12):
        d.text((14, 44 + 24 * i), f"{_sentence(rng, 1)}.py",
               fill=(40, 40, 40), font=_font(14))
    d.rectangle([170, 32, w, h], fill=(40, 44, 52))              # code pane
    y = 44
    while y < h - 40:
        indent = 4 * int(rng.integers(0, 3))
        x = 190 + indent * 8
        d.text((178, y), f"{(y - 44) // 18 + 1:3d}", fill=(100, 110, 120),
               font=_font(13))
        for _ in range(int(rng.integers(1, 6))):
            word = str(rng.choice(_WORDS))
            c = tuple(int(v) for v in _PALETTE[int(rng.integers(10))])
            d.text((x + 24, y), word, fill=c, font=_font(13))
            x += 8 * (len(word) + 1)
        y += 18
    d.rounded_rectangle([w - 150, h - 40, w - 20, h - 10], radius=6,
                        fill=tuple(_PALETTE[0]))               # a button
    d.text((w - 120, h - 34), "Run", fill=(255, 255, 255), font=_font(16))


_KINDS = {"text": _draw_text, "chart": _draw_chart, "flat": _draw_flat,
          "screen": _draw_screen}


def out_of_domain(n: int = 12, size: tuple[int, int] = (768, 512),
                  seed: int = 0) -> list[tuple[str, np.ndarray]]:
    """A deterministic out-of-domain set: text, charts, flat graphics, screens.

    The four kinds cycle (``text-00``, ``chart-01``, ...).  The same
    ``n``, ``size`` and ``seed`` give the same pixels with the pinned
    Pillow version; images are W×H = ``size``.
    """
    out = []
    kinds = list(_KINDS)
    for i in range(n):
        kind = kinds[i % len(kinds)]
        rng = np.random.default_rng([seed, i])
        im = Image.new("RGB", size, (255, 255, 255))
        _KINDS[kind](ImageDraw.Draw(im), rng, *size)
        out.append((f"{kind}-{i:02d}", np.asarray(im).copy()))
    return out


def save_png(img: np.ndarray, path: str | Path) -> Path:
    """Write an H×W×3 uint8 image losslessly as PNG."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(img).save(path, format="PNG")
    return path
