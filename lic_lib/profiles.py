"""The named profiles of the codec: a model and an encoder setting.

Introduced in the chapter {ref}`chap-msp`.  A profile trades rate for
speed: the number of sequential decoding steps (the model) and the
encoding time (latent overfitting, :mod:`lic_lib.lof`, which leaves the
decoder and its speed unchanged).  The models are the winners of the
measured table (:mod:`lic_lib.profile_choice` says by which rules; a test
checks them against the shipped results).
"""

from __future__ import annotations

from dataclasses import dataclass

from .lof import LOFConfig

__all__ = ["CodecProfile", "PROFILES"]


@dataclass(frozen=True)
class CodecProfile:
    model: str                      # registry name of the model
    lof: LOFConfig | None = None    # latent overfitting at encode time
    summary: str = ""


PROFILES: dict[str, CodecProfile] = {
    "fast": CodecProfile("checkerboard", None,
                         "two halves (He et al. 2021): 3 decoding steps"),
    "balanced": CodecProfile("msp-balanced", None,
                             "S=1, K=4, 3×3 contexts: 13 decoding steps"),
    "best": CodecProfile("msp-balanced", LOFConfig(iterations=200),
                         "balanced + 200 iterations of LOF per image"),
}
