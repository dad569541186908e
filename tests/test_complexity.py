import numpy as np
import pytest
import torch

from lic_lib.codec import decode_image, encode_image
from lic_lib.complexity import sequential_steps, time_decode
from lic_lib.models import build_model


def test_step_counts():
    assert sequential_steps("mbt2018-mean", 64, 64) == 2
    assert sequential_steps("mbt2018-mean", 2048, 2048) == 2
    assert sequential_steps("mbt2018", 64, 64) == 1 + 16
    assert sequential_steps("mbt2018", 2048, 1024) == 1 + 128 * 64
    assert sequential_steps("mbt2018", 100, 70) == 1 + 8 * 8   # padded
    with pytest.raises(ValueError):
        sequential_steps("jpeg", 64, 64)


def test_ar_step_count_matches_the_decoder_calls():
    """Count the entropy-decoder calls the AR decoder really makes."""
    torch.manual_seed(0)
    m = build_model("mbt2018", N=16, M=24).eval()
    m.update(force=True)
    img = np.random.default_rng(0).integers(0, 256, (100, 70, 3),
                                            dtype=np.uint8)
    calls = []
    # every entropy-decoder call is one StreamDecoder.decode: one for ẑ
    # (inside the bottleneck's decompress, counted apart too) and one per
    # position of ŷ
    from lic_lib.models import entropy
    decode = entropy.StreamDecoder.decode

    def counting(self, *a):
        calls.append("y")
        return decode(self, *a)

    z_decompress = m.entropy_bottleneck.decompress

    def counting_z(*a, **kw):
        calls.append("z")
        return z_decompress(*a, **kw)

    m.entropy_bottleneck.decompress = counting_z
    entropy.StreamDecoder.decode = counting
    try:
        data = encode_image(m, img, "mbt2018")      # the encoder decodes ẑ
        calls.clear()
        decode_image(m, data, "mbt2018")
    finally:
        entropy.StreamDecoder.decode = decode
        del m.entropy_bottleneck.decompress
    assert calls.count("y") == sequential_steps("mbt2018", 100, 70)
    assert calls.count("z") == 1
    t = time_decode(m, img, "mbt2018", repeats=1, warmup=0)
    assert 0 < t.synthesis < t.total
