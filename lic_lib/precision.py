"""bfloat16 autocast for training, only where the CPU computes bf16 natively.

Introduced in the chapter {ref}`chap-vae-codec`.

bfloat16 halves the memory traffic of the transforms, which pays on CPUs
with bf16 arithmetic (AVX-512 BF16 or AMX: measured 1.6–1.8× faster per
training step on an AMD EPYC with AVX-512 BF16).  Without it, oneDNN
emulates bf16 with conversions around fp32 arithmetic, and the same step
was 6–7× *slower* (an AMD EPYC with AVX2 only, batch 8 × 128²:
factorized N=32/M=48 0.15 s in fp32 vs 0.94 s in bf16; mean-scale
N=64/M=96 0.44 vs 3.23 s).  :func:`use_bf16` therefore decides from the
CPU itself; an explicit ``TrainConfig(bf16=True/False)`` still wins.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Iterator

import torch
from torch import nn

__all__ = ["cpu_flags", "native_bf16", "use_bf16", "bf16_transforms"]

#: CPU flags (as Linux names them in /proc/cpuinfo) of bf16 arithmetic.
BF16_FLAGS = ("avx512_bf16", "amx_bf16")


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU's feature flags (empty where /proc/cpuinfo does not exist)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        if line.startswith("flags"):
            return set(line.split(":", 1)[1].split())
    return set()


def native_bf16(flags: set[str] | None = None,
                capability: str | None = None) -> tuple[bool, str]:
    """(whether this CPU computes bf16 natively, the reason in words).

    Native means a bf16 flag of :data:`BF16_FLAGS` *and* PyTorch running
    its AVX-512 kernels (``torch.backends.cpu.get_cpu_capability()``;
    ``ATEN_CPU_CAPABILITY`` can lower it).  Unknown CPUs (no
    /proc/cpuinfo) count as not native: fp32 is never the slow choice.
    """
    flags = cpu_flags() if flags is None else flags
    capability = capability or torch.backends.cpu.get_cpu_capability()
    have = [f for f in BF16_FLAGS if f in flags]
    if have and capability.startswith("AVX512"):
        return True, f"CPU has {', '.join(have)} ({capability} kernels)"
    if have:
        return False, (f"CPU has {', '.join(have)} but PyTorch runs "
                       f"{capability} kernels")
    return False, f"CPU has no native bf16 ({capability} kernels)"


def use_bf16(requested: bool | None, device: torch.device
             ) -> tuple[bool, str]:
    """(autocast the transforms in bf16?, why) for a training run.

    ``requested`` is ``TrainConfig.bf16``: True or False wins; None
    decides from the CPU (:func:`native_bf16`).  Never on a GPU (CUDA
    runs fp32 here: these models are launch-bound there).
    """
    if device.type != "cpu":
        return False, f"fp32 on {device.type}"
    if requested is not None:
        return requested, f"bf16={requested} set explicitly"
    native, why = native_bf16()
    return native, why


_TRANSFORMS = ("g_a", "g_s", "h_a", "h_s", "context")   # PMS: its network


@contextlib.contextmanager
def bf16_transforms(model: nn.Module, enabled: bool = True
                    ) -> Iterator[None]:
    """Run the model's transforms under CPU bfloat16 autocast.

    Only ``g_a``, ``g_s``, ``h_a``, ``h_s`` and a PMS model's ``context``
    network are wrapped (their outputs cast back to fp32), so the entropy models and likelihoods stay in fp32;
    the wrapping is undone on exit and never touches the state dict.
    """
    wrapped = []
    if enabled:
        for name in _TRANSFORMS:
            mod = getattr(model, name, None)
            if mod is None:
                continue

            def forward(*args, _f=mod.forward, **kw):
                with torch.autocast("cpu", dtype=torch.bfloat16):
                    out = _f(*args, **kw)
                return tuple(o.float() for o in out) \
                    if isinstance(out, tuple) else out.float()

            mod.forward = forward
            wrapped.append(mod)
    try:
        yield
    finally:
        for mod in wrapped:
            del mod.forward                  # back to the class's forward
