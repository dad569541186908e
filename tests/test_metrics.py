import math

import numpy as np
import pytest
import torch

from lic_lib import metrics


def test_psnr_known_value():
    a = np.zeros((4, 4, 3), np.uint8)
    b = a.copy()
    b[0, 0, 0] = 10                          # MSE = 100 / 48
    assert metrics.psnr(a, b) == pytest.approx(
        10 * math.log10(255 ** 2 / (100 / 48)))
    assert metrics.psnr(a, a) == math.inf


def test_float_inputs_are_rounded_to_8_bit_first():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (8, 8, 3)).astype(np.uint8)
    t = torch.from_numpy(a).permute(2, 0, 1)[None].float() / 255
    t = t + 0.4 / 255                        # rounds back to the same bytes
    assert metrics.psnr(a, t) == math.inf


def test_shape_mismatch_and_bad_shapes():
    with pytest.raises(ValueError, match="differ"):
        metrics.psnr(np.zeros((4, 4, 3), np.uint8),
                     np.zeros((4, 5, 3), np.uint8))
    with pytest.raises(ValueError, match="H×W×3"):
        metrics.psnr(np.zeros((4, 4), np.uint8), np.zeros((4, 4), np.uint8))


def test_ms_ssim_identity_noise_and_db():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 256, (200, 200, 3)).astype(np.uint8)
    assert metrics.ms_ssim(a, a) == pytest.approx(1.0)
    noisy = np.clip(a + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8)
    v = metrics.ms_ssim(a, noisy)
    assert 0 < v < 1
    assert metrics.ms_ssim_db(v) == pytest.approx(-10 * math.log10(1 - v))
    assert metrics.ms_ssim_db(0.99) == pytest.approx(20.0)
    with pytest.raises(ValueError, match="161"):
        metrics.ms_ssim(a[:100], a[:100])


def test_bpp_counts_bytes(tmp_path):
    assert metrics.bpp(1000, 100, 80) == 1.0
    f = tmp_path / "x.bin"
    f.write_bytes(b"\0" * 1000)
    assert metrics.file_bpp(f, 100, 80) == 1.0
    with pytest.raises(ValueError):
        metrics.bpp(10, 0, 5)
