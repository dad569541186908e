"""bf16 autocast follows the CPU: native bf16 → bf16, otherwise fp32."""
import torch

from lic_lib import precision
from lic_lib.precision import cpu_flags, native_bf16, use_bf16

CPU = torch.device("cpu")


def test_flags_are_read_from_cpuinfo(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu sse avx2 avx512_bf16\n")
    assert cpu_flags(info) == {"fpu", "sse", "avx2", "avx512_bf16"}
    assert cpu_flags(tmp_path / "missing") == set()


def test_native_only_with_a_bf16_flag_and_avx512_kernels():
    assert native_bf16({"avx2", "avx512f", "avx512_bf16"}, "AVX512")[0]
    assert native_bf16({"amx_bf16", "amx_tile"}, "AVX512")[0]
    # AVX2 only (the AMD EPYC where bf16 was 6–7× slower): fp32
    ok, why = native_bf16({"avx2", "fma"}, "AVX2")
    assert not ok and "no native bf16" in why
    # AVX-512 without BF16 is emulated: fp32 too
    assert not native_bf16({"avx512f", "avx512bw"}, "AVX512")[0]
    # the flag, but PyTorch forced onto older kernels (ATEN_CPU_CAPABILITY)
    assert not native_bf16({"avx512_bf16"}, "AVX2")[0]


def test_auto_follows_the_cpu_and_an_explicit_setting_wins(monkeypatch):
    for native in (True, False):
        monkeypatch.setattr(precision, "native_bf16",
                            lambda n=native: (n, "test"))
        assert use_bf16(None, CPU)[0] is native
        assert use_bf16(True, CPU)[0] is True
        assert use_bf16(False, CPU)[0] is False
    assert use_bf16(True, torch.device("cuda"))[0] is False


def test_this_machine_matches_its_flags():
    flags = cpu_flags()
    expect = bool(flags & set(precision.BF16_FLAGS)) and \
        torch.backends.cpu.get_cpu_capability().startswith("AVX512")
    assert use_bf16(None, CPU)[0] is expect
