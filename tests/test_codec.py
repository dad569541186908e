"""Real bitstreams: round trips, thread determinism, hostile files.

The models are tiny and untrained (N=16, M=24): coding correctness does not
depend on training, and small models keep the suite fast.
"""

import random

import numpy as np
import pytest
import torch

from lic_lib import bitstream
from lic_lib.bitstream import BitstreamError, Header
from lic_lib.codec import decode_image, encode_image, pad_to
from lic_lib.data import eval_images
from lic_lib.models import CONTEXT_MODELS, MODELS, build_model
from lic_lib.models.exact import coding


@pytest.fixture(scope="module")
def img():
    (_, a), = eval_images("kodak", limit=1)
    return a[100:164, 200:296].copy()                 # 64×96


@pytest.fixture(scope="module")
def models():
    out = {}
    for name in MODELS:
        torch.manual_seed(0)
        m = build_model(name, N=16, M=24).eval()
        m.update(force=True)
        out[name] = m
    return out


def decoded_latents(model, data, name):
    """Decode, capturing what the synthesis transform receives (ŷ)."""
    seen = []
    h = model.g_s.register_forward_pre_hook(lambda _, a: seen.append(a[0]))
    try:
        x = decode_image(model, data, name)
    finally:
        h.remove()
    return x, seen[0]


@pytest.mark.parametrize("name", list(MODELS))
def test_round_trip_recovers_quantised_latents(name, models, img):
    model = models[name]
    data = encode_image(model, img, name)
    x_dec, y_dec = decoded_latents(model, data, name)
    assert x_dec.shape == img.shape and x_dec.dtype == np.uint8
    x = torch.from_numpy(img).permute(2, 0, 1)[None].float() / 255
    x = pad_to(x, model.downsampling_factor)
    with torch.no_grad():
        y = model.g_a(x)
    # every decoded element is the encoder's y rounded (about a mean)
    assert (y_dec - y).abs().max() <= 0.5 + 1e-4
    if name != "mbt2018":          # the AR model's forward rounds differently
        seen = []
        hook = model.g_s.register_forward_pre_hook(
            lambda _, a: seen.append(a[0]))
        with torch.no_grad(), coding():   # the coder's arithmetic
            x_fwd = model(x)["x_hat"]
        hook.remove()
        assert torch.equal(seen[0], y_dec), "latents must match bit-exactly"
        ref = (x_fwd[..., :64, :96].clamp(0, 1)[0].permute(1, 2, 0) * 255)
        assert np.array_equal(ref.round().byte().numpy(), x_dec)


@pytest.mark.parametrize("name", ["mbt2018-mean", "mbt2018", "msp-balanced"])
def test_same_bytes_decode_identically_with_1_and_2_threads(name, models,
                                                           img):
    data = encode_image(models[name], img, name)
    old = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        a, ya = decoded_latents(models[name], data, name)
        torch.set_num_threads(2)
        b, yb = decoded_latents(models[name], data, name)
    finally:
        torch.set_num_threads(old)
    assert np.array_equal(a, b) and torch.equal(ya, yb)


@pytest.mark.parametrize("name", ["bmshj2018-factorized", "mbt2018-mean",
                                  "mbt2018", *CONTEXT_MODELS])
@pytest.mark.parametrize("h, w", [(1, 1), (17, 33), (1000, 3)])
def test_odd_sizes_round_trip(name, h, w, models):
    rng = np.random.default_rng(h * w)
    x = rng.integers(0, 256, (h, w, 3)).astype(np.uint8)
    data = encode_image(models[name], x, name)
    y = decode_image(models[name], data, name)
    assert y.shape == (h, w, 3)
    assert bitstream.unpack(data)[0].height == h
    if name in CONTEXT_MODELS:        # and the latents are lossless
        xp = pad_to(torch.from_numpy(x).permute(2, 0, 1)[None].float() / 255,
                    models[name].downsampling_factor)
        with torch.no_grad():
            enc = models[name].compress(xp)
        _, y_dec = decoded_latents(models[name], data, name)
        assert torch.equal(enc["y_hat"], y_dec)


def test_header_round_trip_and_limits():
    h = Header("mbt2018", 17, 33, (1, 1), b"abcd", 2, 3)
    data = bitstream.pack(h, [b"xyz", b"", b"12"])
    assert bitstream.unpack(data) == (h, [b"xyz", b"", b"12"])
    with pytest.raises(ValueError):
        bitstream.pack(Header("jpeg", 1, 1, (1, 1)), [b""])
    with pytest.raises(ValueError):
        bitstream.pack(Header("mbt2018", 0, 1, (1, 1)), [b""])


@pytest.fixture(scope="module")
def lic_file(models, img):
    return encode_image(models["mbt2018-mean"], img, "mbt2018-mean",
                        tag=b"\1\2\3\4")


def mutations(data: bytes, n: int, seed: int = 0):
    """Truncations, byte flips, insertions and foreign files."""
    rnd = random.Random(seed)
    foreign = [b"", b"\x89PNG\r\n\x1a\n" + bytes(100), b"\xff\xd8\xff" +
               bytes(50), bytes(1000), bitstream.MAGIC, data[:-1] + b"",
               bitstream.MAGIC + bytes([3]) + data[5:]]
    for i in range(n):
        kind = i % 4
        if kind == 0:
            yield data[:rnd.randrange(len(data))]
        elif kind == 1:
            b = bytearray(data)                  # 1–4 distinct bits flipped
            for bit in rnd.sample(range(8 * len(b)), rnd.randint(1, 4)):
                b[bit // 8] ^= 1 << (bit % 8)
            yield bytes(b)
        elif kind == 2:
            p = rnd.randrange(len(data))
            yield data[:p] + bytes([rnd.randrange(256)]) + data[p:]
        else:
            yield foreign[i // 4 % len(foreign)] if i // 4 < len(foreign) \
                else rnd.randbytes(rnd.randrange(200))


def test_hostile_files_raise_the_one_exception(models, lic_file):
    model = models["mbt2018-mean"]
    count = 0
    for bad in mutations(lic_file, 240):
        with pytest.raises(BitstreamError):
            decode_image(model, bad, "mbt2018-mean")
        count += 1
    assert count == 240


def test_valid_crc_but_wrong_shape_or_model(models, lic_file):
    h, strings = bitstream.unpack(lic_file)
    wrong = bitstream.pack(Header(h.model, h.height * 4, h.width, h.latent_shape,
                                  h.tag), strings)
    with pytest.raises(BitstreamError, match="latent shape"):
        decode_image(models["mbt2018-mean"], wrong, "mbt2018-mean")
    with pytest.raises(BitstreamError, match="written by mbt2018-mean"):
        decode_image(models["mbt2018"], lic_file, "mbt2018")
    with pytest.raises(BitstreamError, match="other weights"):
        decode_image(models["mbt2018-mean"], lic_file, "mbt2018-mean",
                     tag=b"\0\0\0\0")
    one = bitstream.pack(h, strings[:1])
    with pytest.raises(BitstreamError, match="number of strings"):
        decode_image(models["mbt2018-mean"], one, "mbt2018-mean")


@pytest.mark.parametrize("name", ["mbt2018-mean", "mbt2018", "msp-balanced"])
def test_crafted_payload_with_valid_crc_decodes_without_crash(name, models,
                                                              img):
    """Garbage strings under a valid header and CRC cannot be detected
    before decoding; they must decode (to noise) or, where the ANS coder
    sees that a string is not one of its own, raise BitstreamError — never
    crash or hang."""
    rnd = random.Random(0)
    rejected = {"rans": 0, "ans": 0}
    for coder in rejected:
        h, strings = bitstream.unpack(encode_image(models[name], img, name,
                                                   coder=coder))
        for _ in range(20):
            junk = [rnd.randbytes(rnd.choice([0, 1, 3, 7, 64]))
                    for _ in strings]
            try:
                out = decode_image(models[name], bitstream.pack(h, junk), name)
                assert out.shape == img.shape
            except BitstreamError:
                rejected[coder] += 1
    assert rejected["rans"] == 0 and rejected["ans"] > 0
