"""`lic info`: what a .lic file holds, checked, without PyTorch."""

import dataclasses
import subprocess
import sys

from lic_lib import cli
from lic_lib.bitstream import LAMBDAS, pack, unpack
from lic_lib.conformance import STREAMS

STREAM = STREAMS / "mbt2018-q3-768x512-ans.lic"     # a whole Kodak image


def test_info_reports_the_header_and_the_shipped_weights(capsys):
    assert cli.main(["info", str(STREAM)]) == 0
    out = capsys.readouterr().out
    h, strings = unpack(STREAM.read_bytes())
    size = STREAM.stat().st_size
    assert f"{size:,} bytes, .lic format version 2" in out
    assert f"{h.model}, quality {h.lambda_index + 1} " \
           f"(λ = {LAMBDAS[h.lambda_index]:g})" in out
    assert f"{h.width}×{h.height}, {8 * size / (h.width * h.height):.3f} " \
           "bpp" in out
    assert f"{len(strings)} strings" in out and "ANS coder" in out
    assert f"tag {h.tag.hex()}: the shipped checkpoint" in out


def test_info_names_other_weights_and_refuses_broken_files(tmp_path, capsys):
    h, strings = unpack(STREAM.read_bytes())
    other = tmp_path / "other.lic"
    other.write_bytes(pack(dataclasses.replace(h, tag=b"\0\1\2\3"), strings))
    assert cli.main(["info", str(other)]) == 0
    assert "other weights than the shipped checkpoint" in \
        capsys.readouterr().out
    free = tmp_path / "free.lic"          # a model trained outside the ladder
    free.write_bytes(pack(dataclasses.replace(h, lambda_index=255), strings))
    assert cli.main(["info", str(free)]) == 0
    out = capsys.readouterr().out
    assert "no quality recorded" in out and "not shipped here" in out
    data = bytearray(STREAM.read_bytes())
    data[-1] ^= 1
    (tmp_path / "flipped.lic").write_bytes(bytes(data))
    (tmp_path / "short.lic").write_bytes(bytes(data[:-10]))
    for name, why in (("flipped", "CRC mismatch"), ("short", "truncated")):
        assert cli.main(["info", str(tmp_path / f"{name}.lic")]) == 2
        assert why in capsys.readouterr().err


def test_info_imports_neither_torch_nor_compressai():
    probe = ("import sys; from lic_lib.cli import main; "
             f"main(['info', {str(STREAM)!r}]); "
             "print(any(m.split('.')[0] in ('torch', 'compressai') "
             "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True,
                         text=True, check=True).stdout.splitlines()
    assert out[-1] == "False"
