import numpy as np
import pytest

from lic_lib import classic, video_intra
from lic_lib.data import eval_images
from lic_lib.metrics import psnr

HEVC = classic.CODECS["hevc"]
needs_ffmpeg = pytest.mark.skipif(
    not HEVC.available(),
    reason="ffmpeg with libx265 not installed (make system-deps)")


@pytest.fixture(scope="module")
def img():
    (_, a), = eval_images("kodak", limit=1)
    return a[200:296, 300:428].copy()          # 96×128 crop of kodim01


@pytest.mark.parametrize("name", ["jpeg", "jpeg2000", "webp", "avif"])
def test_pillow_codecs_round_trip_and_rate_grows(name, img):
    c = classic.CODECS[name]
    lo, hi = c.code(img, c.sweep[1]), c.code(img, c.sweep[-2])
    for coded in (lo, hi):
        assert coded.recon.shape == img.shape
        assert coded.recon.dtype == np.uint8
        assert coded.bpp == 8 * len(coded.data) / (96 * 128)
    assert hi.bpp > lo.bpp
    assert psnr(img, hi.recon) > psnr(img, lo.recon) + 2


def test_ycbcr_conversion_round_trips_every_sampled_colour():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (256, 256, 3)).astype(np.uint8)
    planes = classic.rgb_to_ycbcr10(rgb)
    assert planes.shape == (3, 256, 256) and planes.max() <= 1023
    assert np.array_equal(classic.ycbcr10_to_rgb(planes), rgb)


@needs_ffmpeg
def test_hevc_round_trip(img):
    hq = HEVC.code(img, 4)
    lq = HEVC.code(img, 40)
    assert psnr(img, hq.recon) > 45
    assert lq.bpp < hq.bpp / 4
    assert hq.data[:4] == b"\0\0\0\1"          # an Annex-B HEVC stream


@needs_ffmpeg
@pytest.mark.parametrize("h, w", [(1, 1), (17, 33), (5, 40)])
def test_hevc_odd_and_tiny_sizes(h, w, img):
    c = HEVC.code(img[:h, :w].copy(), 0)
    assert c.recon.shape == (h, w, 3)
    assert psnr(img[:h, :w], c.recon) > 45


def test_missing_ffmpeg_is_explained(img, monkeypatch):
    monkeypatch.setattr(video_intra.shutil, "which", lambda _: None)
    with pytest.raises(classic.CodecUnavailable, match="apt-get install"):
        HEVC.code(img, 30)


@pytest.mark.parametrize("name, target", [("jpeg", 1.5), ("webp", 0.8),
                                          ("jpeg2000", 0.5)])
def test_encode_at_bpp_is_closest_in_range(name, target, img):
    c = classic.CODECS[name]
    got = classic.encode_at_bpp(c, img, target)
    one_up = c.code(img, min(got.param + 1, c.search[1]))
    one_down = c.code(img, max(got.param - 1, c.search[0]))
    assert abs(got.bpp - target) <= abs(one_up.bpp - target) + 1e-9
    assert abs(got.bpp - target) <= abs(one_down.bpp - target) + 1e-9


def test_rd_sweep_schema(img):
    res = classic.rd_sweep(classic.CODECS["jpeg"], [img], [20, 80],
                           with_ms_ssim=False)
    assert res["quality"] == [20, 80]
    assert res["bpp"][0] < res["bpp"][1]
    assert set(res) == {"bpp", "psnr-rgb", "encoding_time",
                        "decoding_time", "quality"}


def test_unknown_codec():
    with pytest.raises(ValueError, match="unknown codec"):
        classic.get_codec("bpg")
