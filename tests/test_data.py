import shutil

import numpy as np
import pytest
import torch

from lic_lib import config, data


def test_kodak_is_complete_and_verified():
    files = data.dataset_files("kodak")
    assert len(files) == 24 and files[0].name == "kodim01.png"
    imgs = data.eval_images("kodak", limit=2)
    assert [n for n, _ in imgs] == ["kodim01", "kodim02"]
    assert imgs[0][1].shape == (512, 768, 3) and imgs[0][1].dtype == np.uint8


def test_eval_images_downscale():
    (_, a), = data.eval_images("kodak", limit=1, max_side=256)
    assert a.shape == (171, 256, 3)


def _fake_set(tmp_path, monkeypatch):
    """A copy of two Kodak files laid out as $LIC_DATA_DIR/clic2025."""
    root = tmp_path / "clic2025"
    root.mkdir()
    lines = []
    for p in data.dataset_files("kodak")[:2]:
        shutil.copy(p, root / p.name)
        lines.append(f"{data.sha256(p)}  {p.name}")
    (root / "SHA256SUMS").write_text("\n".join(lines) + "\n")
    monkeypatch.setenv("LIC_DATA_DIR", str(tmp_path))
    return root


def test_missing_set_names_file_and_variable(tmp_path, monkeypatch):
    monkeypatch.setenv("LIC_DATA_DIR", str(tmp_path / "nowhere"))
    with pytest.raises(data.DatasetError) as e:
        data.dataset_files("clic2025")
    assert "SHA256SUMS" in str(e.value) and "LIC_DATA_DIR" in str(e.value)


def test_missing_file_and_corrupted_file(tmp_path, monkeypatch):
    root = _fake_set(tmp_path, monkeypatch)
    assert len(data.dataset_files("clic2025")) == 2
    (root / "kodim02.png").write_bytes(b"not a png")
    with pytest.raises(data.DatasetError, match="does not match its SHA256"):
        data.dataset_files("clic2025")
    (root / "kodim02.png").unlink()
    with pytest.raises(data.DatasetError, match="missing .*kodim02.png"):
        data.dataset_files("clic2025")


def test_unknown_set():
    with pytest.raises(data.DatasetError, match="unknown data set"):
        data.dataset_files("imagenet")


def test_load_rgb_conversions_and_errors(tmp_path):
    from PIL import Image
    grey = tmp_path / "g.png"
    Image.fromarray(np.full((5, 7), 200, np.uint8)).save(grey)
    assert data.load_rgb(grey).shape == (5, 7, 3)
    rgba = tmp_path / "a.png"
    Image.fromarray(np.zeros((3, 3, 4), np.uint8)).save(rgba)  # transparent
    assert (data.load_rgb(rgba) == 255).all()                  # on white
    deep = tmp_path / "d.png"
    Image.fromarray(np.full((4, 4), 0xABCD, np.uint16)).save(deep)
    assert (data.load_rgb(deep) == 0xAB).all()
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"garbage")
    with pytest.raises(data.ImageError, match="bad.png"):
        data.load_rgb(bad)


@pytest.mark.skipif(not (config.data_dir() / "train").is_dir(),
                    reason="training photos not found under LIC_DATA_DIR")
def test_random_crops_are_seeded_and_in_range():
    ds = data.RandomCrops("val", crop=64)
    torch.manual_seed(3)
    a = ds[5]
    torch.manual_seed(3)
    b = ds[5]
    assert a.shape == (3, 64, 64) and torch.equal(a, b)
    assert 0 <= a.min() and a.max() <= 1
    with pytest.raises(ValueError, match="exceeds"):
        data.RandomCrops("val", crop=1024)


def test_colour_jitter_recolours_but_keeps_greys_and_range():
    torch.manual_seed(0)
    grey = torch.rand(1, 16, 16).repeat(3, 1, 1)
    assert torch.allclose(data.colour_jitter(grey), grey, atol=1e-6)
    x = torch.rand(3, 16, 16)
    outs = [data.colour_jitter(x) for _ in range(20)]
    assert all(0 <= o.min() and o.max() <= 1 for o in outs)
    orders = {tuple(o.mean((1, 2)).argsort().tolist()) for o in outs}
    assert len(orders) > 2                      # channels do move
    spread = [float((o - o.mean(0)).abs().mean()) for o in outs]
    base = float((x - x.mean(0)).abs().mean())
    assert min(spread) < base < max(spread)     # saturation both ways


def test_recoloured_crops_are_seeded():
    ds = data.RandomCrops("val", crop=64, colour=1.0)
    torch.manual_seed(3)
    a = ds[5]
    torch.manual_seed(3)
    assert torch.equal(a, ds[5])
    torch.manual_seed(3)
    assert not torch.equal(a, data.RandomCrops("val", crop=64)[5])


def test_out_of_domain_is_deterministic_and_varied():
    a = data.out_of_domain(n=8, size=(320, 240))
    b = data.out_of_domain(n=8, size=(320, 240))
    assert [n for n, _ in a][:4] == ["text-00", "chart-01", "flat-02",
                                     "screen-03"]
    for (_, x), (_, y) in zip(a, b):
        assert x.shape == (240, 320, 3) and np.array_equal(x, y)
    assert not np.array_equal(a[0][1], a[4][1])     # same kind, new content
    c = data.out_of_domain(n=1, size=(320, 240), seed=1)
    assert not np.array_equal(a[0][1], c[0][1])
