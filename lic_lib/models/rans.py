"""CompressAI's Gaussian entropy coding, with its rANS tables converted once.

CompressAI hands the rANS coder the whole CDF table at every call: a
padded 64 × 3,133 integer tensor for the models of this book, turned into
Python lists (``tolist``) and then into C++ vectors (pybind11), ≈ 3 ms a
call on this machine.  A mean-scale model makes one such call per image,
so it does not matter there.  It does for the models whose decoders make
many calls: the 12 units of ``msp-balanced`` and, above all, the AR model,
whose sequential loop makes one call per latent position — at 2K more than
10,000 calls, and most of its decoding time.  That would be an artefact of
the implementation, not of the AR design, and it would flatter MSP in the
speed comparison.

:class:`GaussianConditional` converts the table once (after each
``update``) and trims every CDF to its own length, which is all the coder
reads, and finds the CDF of each scale with one ``bucketize``: the bits
are identical, only the overhead is gone.  ``build_model`` gives every
model of the registry this entropy model (the AR model's sequential loop,
:mod:`lic_lib.models.autoregressive`, uses its tables too).
"""

from __future__ import annotations

import numpy as np
import torch
from compressai.entropy_models import GaussianConditional as _Gaussian

__all__ = ["GaussianConditional"]


class GaussianConditional(_Gaussian):
    """CompressAI's ``GaussianConditional``; the same bits, coded with
    tables converted once (see the module docstring)."""

    _tables_of: tuple = ()          # the tensors (and versions) they come from

    def coder_tables(self, rows: int | None = None
                     ) -> tuple[list[list[int]], list[int], list[int]]:
        """(CDFs, each trimmed to its length; CDF lengths; offsets) as the
        rANS coder takes them, rebuilt only when ``update`` or a state dict
        changed the CDF tensor.

        ``rows`` keeps the first ``rows`` scales only: enough for a call
        whose largest index is ``rows − 1``.  The coder converts whatever it
        is given at every call, and the CDFs grow with the scale (5 to
        1,300 entries here), so the few wide scales an image never uses
        would cost most of that conversion."""
        self._check_cdf_size()
        self._check_cdf_length()
        self._check_offsets_size()
        cdf, length, offset = self._quantized_cdf, self._cdf_length, self._offset
        source = (cdf, length, offset)
        versions = tuple(t._version for t in source)
        if len(self._tables_of) != 2 or versions != self._tables_of[1] or \
                any(a is not b for a, b in zip(source, self._tables_of[0])):
            lengths = length.reshape(-1).int().tolist()
            self._tables = ([row[:n] for row, n in zip(cdf.tolist(), lengths)],
                            lengths, offset.reshape(-1).int().tolist())
            self._tables_of = (source, versions)   # kept alive: no id reuse
        if rows is None:
            return self._tables
        return tuple(t[:rows] for t in self._tables)

    def build_indexes(self, scales: torch.Tensor) -> torch.Tensor:
        """CompressAI's indexes (the number of table scales below each
        bounded scale) in one ``bucketize`` instead of a loop of 64
        comparisons over the tensor: ≈ 0.25 ms less per call."""
        return torch.bucketize(self.lower_bound_scale(scales),
                               self.scale_table[:-1]).int()

    def compress(self, inputs: torch.Tensor, indexes: torch.Tensor,
                 means: torch.Tensor | None = None) -> list[bytes]:
        """One string per batch element, bit-identical to CompressAI's."""
        if inputs.dim() < 2 or inputs.size() != indexes.size():
            raise ValueError("`inputs` and `indexes` must have the same "
                             "size, with at least 2 dimensions")
        symbols = self.quantize(inputs, "symbols", means)
        return [self.entropy_coder.encode_with_indexes(
                    s.reshape(-1).int().tolist(), i.reshape(-1).int().tolist(),
                    *self.coder_tables(_rows(i))) for s, i in zip(symbols, indexes)]

    def decompress(self, strings: list[bytes], indexes: torch.Tensor,
                   dtype: torch.dtype = torch.float,
                   means: torch.Tensor | None = None) -> torch.Tensor:
        """The dequantised values of ``strings`` (CompressAI's contract)."""
        if not isinstance(strings, (tuple, list)) or \
                len(strings) != indexes.size(0) or indexes.dim() < 2:
            raise ValueError("one string per batch element of `indexes` "
                             "(at least 2 dimensions) is expected")
        # numpy reads the decoder's list of ints 2.5× faster than torch.tensor
        symbols = torch.stack([torch.from_numpy(np.asarray(
            self.entropy_coder.decode_with_indexes(
                s, i.reshape(-1).int().tolist(), *self.coder_tables(_rows(i))),
            dtype=np.int32)).reshape(i.shape) for s, i in zip(strings, indexes)])
        return self.dequantize(symbols.to(indexes.device), means, dtype)


def _rows(indexes: torch.Tensor) -> int:
    """How many scales of the table a call with these ``indexes`` needs."""
    return int(indexes.max()) + 1 if indexes.numel() else 0
