import pytest
import torch

from lic_lib import config


def test_profiles(monkeypatch):
    monkeypatch.delenv("LIC_PROFILE", raising=False)
    assert config.get_profile().name == "book"
    monkeypatch.setenv("LIC_PROFILE", "ci")
    p = config.get_profile()
    assert p.name == "ci" and not p.recompute and p.max_side is not None
    assert config.get_profile("full").recompute
    monkeypatch.setenv("LIC_PROFILE", "fast")
    with pytest.raises(ValueError, match="not a profile"):
        config.get_profile()


def test_device(monkeypatch):
    monkeypatch.delenv("LIC_DEVICE", raising=False)
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert config.get_device().type == expected
    monkeypatch.setenv("LIC_DEVICE", "cpu")
    assert config.get_device() == torch.device("cpu")


def test_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("LIC_DATA_DIR", str(tmp_path))
    assert config.data_dir() == tmp_path.resolve()
    monkeypatch.delenv("LIC_DATA_DIR")
    assert config.data_dir() == (config.ROOT.parent / "shared" /
                                 "data").resolve()


def test_import_is_light():
    import subprocess
    import sys
    code = ("import sys, lic_lib; "
            "print(any(m.startswith(('torch', 'compressai')) "
            "for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True,
                         text=True, check=True)
    assert out.stdout.strip() == "False" and out.stderr == ""
