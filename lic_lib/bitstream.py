"""The ``.lic`` file format: a checked header, then the entropy-coded strings.

Introduced in the chapter {ref}`chap-vae-codec`.

Layout of version 2 (big-endian)::

    offset  size  field
    0       4     magic  b"LIC\x89"
    4       1     format version (2)
    5       1     model id (MODEL_IDS)
    6       1     profile id (0: the model has no profiles)
    7       1     λ index in the shipped ladder (255: not from the ladder)
    8       4     image height  } the size of the original image; the codec
    12      4     image width   } pads to its multiple and crops back
    16      2+2   latent shape that ``decompress`` needs (h, w)
    20      4     checkpoint tag: first 4 bytes of the weights' SHA-256
    24      1     arithmetic of the entropy parameters (ARITHMETIC_IDS)
    25      1     entropy coder (CODER_IDS: 0 CompressAI's rANS, one stream
                  a string; 1 ANS, :mod:`lic_lib.models.ans`, each string
                  its own count of streams)
    26      1     number of strings n (1 ≤ n ≤ 64)
    27      4·n   length of each string in bytes
    27+4n   4     CRC-32 of every byte of the file except these four
    31+4n   ...   the strings, back to back

Version 1 (the book's first files) had no arithmetic or coder byte: its
entropy parameters were float32 computations, bit-exact only on the
machine (and thread count) that encoded it; it is still read, as
arithmetic ``"float"``.  Version 2 files computed them on integers
(:mod:`lic_lib.models.exact`) and decode to the same latents everywhere.
Coder 1 (ANS) came later in version 2: a decoder that only knew coder 0
rejects such a file by its coder byte, before decoding anything.

Everything is checked before a single symbol is entropy-decoded: magic,
version, known ids, sizes, that the lengths add up to exactly the bytes
present, and the CRC.  Any failure raises :class:`BitstreamError`, the one
exception decoding can raise for a bad file.
"""

from __future__ import annotations

import struct
import zlib
from dataclasses import dataclass

__all__ = ["BitstreamError", "Header", "pack", "unpack", "MODEL_IDS",
           "ARITHMETIC_IDS", "CODER_IDS", "MAGIC", "VERSION", "MAX_SIDE",
           "LAMBDAS"]

MAGIC = b"LIC\x89"
VERSION = 2
MAX_SIDE = 1 << 16          # larger images are rejected (and would be slow)
_MAX_STRINGS = 64         # ablation models have up to 21
_V1 = struct.Struct(">4sBBBBIIHH4sB")
_V2 = struct.Struct(">4sBBBBIIHH4sBBB")
#: How the entropy parameters were computed (never renumber).
ARITHMETIC_IDS = {"float": 0, "integer": 1}
_ARITHMETICS = {v: k for k, v in ARITHMETIC_IDS.items()}
#: Which coder wrote the strings (never renumber).
CODER_IDS = {"rans": 0, "ans": 1}
_CODERS = {v: k for k, v in CODER_IDS.items()}

#: The λ ladder shared by every model: a header's λ index i (quality
#: q = i + 1 ∈ 1..6) names LAMBDAS[i]; the checkpoints follow it.
LAMBDAS = (0.0018, 0.0035, 0.0067, 0.013, 0.025, 0.0483)

#: Stable ids: never renumber, only append.
MODEL_IDS = {"bmshj2018-factorized": 1, "bmshj2018-hyperprior": 2,
             "mbt2018-mean": 3, "mbt2018": 4, "checkerboard": 5,
             "msp-fast": 6, "msp-balanced": 7, "pms-base": 8,
             "pms-extra": 9}
_NAMES = {v: k for k, v in MODEL_IDS.items()}


class BitstreamError(ValueError):
    """A file that is not a valid ``.lic`` bitstream (or not for this model)."""


@dataclass(frozen=True)
class Header:
    model: str
    height: int
    width: int
    latent_shape: tuple[int, int]
    tag: bytes = b"\0\0\0\0"
    profile: int = 0
    lambda_index: int = 255
    arithmetic: str = "integer"
    coder: str = "ans"


def pack(h: Header, strings: list[bytes]) -> bytes:
    """The bytes of a ``.lic`` file holding ``strings`` under header ``h``:
    version 2, or version 1 for arithmetic ``"float"`` (the legacy
    format, kept to show what it breaks)."""
    if h.model not in MODEL_IDS:
        raise ValueError(f"model {h.model!r} has no bitstream id")
    if not (0 < h.height < MAX_SIDE and 0 < h.width < MAX_SIDE):
        raise ValueError(f"image size {h.height}×{h.width} out of range")
    if not 1 <= len(strings) <= _MAX_STRINGS or len(h.tag) != 4:
        raise ValueError(f"need 1–{_MAX_STRINGS} strings and a 4-byte tag")
    if h.arithmetic not in ARITHMETIC_IDS or h.coder not in CODER_IDS:
        raise ValueError(f"unknown arithmetic {h.arithmetic!r} or coder "
                         f"{h.coder!r}")
    if h.arithmetic == "float" and h.coder != "rans":
        raise ValueError("version-1 files (float arithmetic) know only the "
                         "rANS coder")
    fields = (MAGIC, VERSION, MODEL_IDS[h.model], h.profile, h.lambda_index,
              h.height, h.width, *h.latent_shape, h.tag)
    if h.arithmetic == "float":
        head = _V1.pack(*fields[:1], 1, *fields[2:], len(strings))
    else:
        head = _V2.pack(*fields, ARITHMETIC_IDS[h.arithmetic],
                        CODER_IDS[h.coder], len(strings))
    head += struct.pack(f">{len(strings)}I", *map(len, strings))
    payload = b"".join(strings)
    crc = zlib.crc32(payload, zlib.crc32(head))
    return head + struct.pack(">I", crc) + payload


def unpack(data: bytes) -> tuple[Header, list[bytes]]:
    """Parse and check a ``.lic`` file; raise :class:`BitstreamError`."""
    if len(data) < 5:
        raise BitstreamError(f"file too short for a header ({len(data)} "
                             "bytes): truncated or not a .lic file")
    if data[:4] != MAGIC:
        raise BitstreamError("not a .lic file (wrong magic bytes)")
    version = data[4]
    if version not in (1, 2):
        raise BitstreamError(f"format version {version} is not supported "
                             f"(this decoder reads versions 1 and {VERSION})")
    fixed = _V1 if version == 1 else _V2
    if len(data) < fixed.size:
        raise BitstreamError(f"file too short for a version-{version} "
                             f"header ({len(data)} bytes): truncated")
    fields = fixed.unpack_from(data)
    (_, _, model_id, profile, lam, height, width, lh, lw, tag) = fields[:10]
    arithmetic, coder = ("float", 0) if version == 1 else (
        _ARITHMETICS.get(fields[10]), fields[11])
    n = fields[-1]
    if model_id not in _NAMES:
        raise BitstreamError(f"unknown model id {model_id}")
    if arithmetic is None or coder not in _CODERS:
        raise BitstreamError(f"unknown arithmetic id {fields[10]} or coder "
                             f"id {coder}")
    if not (0 < height < MAX_SIDE and 0 < width < MAX_SIDE and lh and lw):
        raise BitstreamError(f"invalid sizes {height}×{width} / {lh}×{lw}")
    if not 1 <= n <= _MAX_STRINGS:
        raise BitstreamError(f"invalid number of strings {n}")
    off = fixed.size + 4 * n + 4
    if len(data) < off:
        raise BitstreamError("truncated header")
    lengths = struct.unpack_from(f">{n}I", data, fixed.size)
    (crc,) = struct.unpack_from(">I", data, off - 4)
    if off + sum(lengths) != len(data):
        raise BitstreamError(f"file has {len(data)} bytes, header announces "
                             f"{off + sum(lengths)}: truncated or padded")
    if zlib.crc32(data[off:], zlib.crc32(data[:off - 4])) != crc:
        raise BitstreamError("CRC mismatch: the file is corrupted")
    strings, pos = [], off
    for length in lengths:
        strings.append(bytes(data[pos:pos + length]))
        pos += length
    return Header(_NAMES[model_id], height, width, (lh, lw), bytes(tag),
                  profile, lam, arithmetic, _CODERS[coder]), strings
