import numpy as np
import pytest

from lic_lib.bdrate import BDError, bd_psnr, bd_rate, rate_vs_curve

# JCTVC-E137-style test data (rates in kbit/s, PSNR in dB).
REF = [
    ([108048.8736, 61279.976, 33905.6656, 18883.6928],
     [43.6471, 40.3953, 37.247, 34.2911],
     [108061.2784, 61299.9936, 33928.7472, 18910.912],
     [43.6768, 40.4232, 37.2761, 34.3147], -0.4652154207524628),
    ([40433.8848, 7622.7456, 2394.488, 1017.6184],
     [37.5761, 35.3756, 33.8977, 32.0603],
     [40370.12, 7587.0024, 2390.0944, 1017.0984],
     [37.5982, 35.4025, 33.9194, 32.0822], -1.8779823450567612),
]


@pytest.mark.parametrize("ra, pa, rt, pt, expected", REF)
def test_reference_values_pchip(ra, pa, rt, pt, expected):
    assert abs(bd_rate(ra, pa, rt, pt) - expected) < 1e-6


def random_curve(rng, n):
    rate = np.sort(rng.uniform(0.05, 2.0, n)) * rng.uniform(0.5, 2)
    psnr = 30 + 8 * np.log2(rate) + rng.uniform(-1, 1) \
        + np.cumsum(rng.uniform(0.01, 0.3, n))
    return rate, psnr


@pytest.mark.parametrize("method", ["pchip", "cubic"])
def test_matches_bjontegaard_package(method):
    bjontegaard = pytest.importorskip("bjontegaard")
    rng = np.random.default_rng(1)
    checked = 0
    while checked < 50:
        ra, pa = random_curve(rng, 6)
        rt, pt = random_curve(rng, 6)
        try:
            ours = bd_rate(ra, pa, rt, pt, method)
        except BDError:
            continue  # no overlap: the package extrapolates, we refuse
        ref = bjontegaard.bd_rate(ra, pa, rt, pt, method=method,
                                   min_overlap=0)
        assert ours == pytest.approx(ref, rel=1e-6, abs=1e-6)
        ref_q = bjontegaard.bd_psnr(ra, pa, rt, pt, method=method,
                                      min_overlap=0)
        assert bd_psnr(ra, pa, rt, pt, method) == pytest.approx(
            ref_q, rel=1e-6, abs=1e-6)
        checked += 1


def test_identical_curves_give_zero_and_sign_is_right():
    r, p = [0.1, 0.3, 0.7, 1.5], [28.0, 31.0, 34.0, 37.0]
    assert bd_rate(r, p, r, p) == pytest.approx(0, abs=1e-12)
    # the test codec needs exactly 10 % fewer bits everywhere
    assert bd_rate(r, p, np.multiply(r, 0.9), p) == pytest.approx(-10)
    assert bd_psnr(r, p, r, np.add(p, 0.5)) == pytest.approx(0.5)


def test_different_numbers_of_points():
    ra, pa = [0.1, 0.3, 0.7, 1.5, 3.0], [28, 31, 34, 37, 40]
    rt, pt = [0.2, 0.8, 2.0], [30.5, 34.5, 38.5]
    assert np.isfinite(bd_rate(ra, pa, rt, pt))


def test_non_overlapping_curves_are_rejected():
    with pytest.raises(BDError, match="do not overlap"):
        bd_rate([0.1, 0.2, 0.3, 0.4], [20, 21, 22, 23],
                [1, 2, 3, 4], [30, 31, 32, 33])


def test_non_monotonic_curve_is_rejected():
    with pytest.raises(BDError, match="not monotonic"):
        bd_rate([0.1, 0.2, 0.3, 0.4], [20, 22, 21, 23],
                [0.1, 0.2, 0.3, 0.4], [20, 21, 22, 23])


@pytest.mark.parametrize("bad, msg", [
    (([0.1], [30]), "at least 2"),
    (([0.1, 0.2], [30]), "rates but"),
    (([0.1, np.nan], [30, 31]), "NaN"),
    (([0.0, 0.2], [30, 31]), "positive"),
])
def test_malformed_curves(bad, msg):
    with pytest.raises(BDError, match=msg):
        bd_rate(*bad, [0.1, 0.2], [30, 31])


def test_cubic_needs_four_points_and_unknown_method():
    with pytest.raises(BDError, match="at least 4"):
        bd_rate([0.1, 0.2, 0.4], [30, 31, 32], [0.1, 0.2, 0.4],
                [30, 31, 32], method="cubic")
    with pytest.raises(BDError, match="unknown method"):
        bd_rate([0.1, 0.2], [30, 31], [0.1, 0.2], [30, 31], method="akima")


def test_rate_vs_curve_of_one_point():
    # log-rate linear in PSNR: +1 dB doubles the rate, so the anchor's
    # rate at 31.5 dB is exactly √2 · 0.2 (pchip reproduces lines)
    rates, psnrs = [0.1, 0.2, 0.4, 0.8], [30.0, 31.0, 32.0, 33.0]
    at = 0.2 * np.sqrt(2)
    assert rate_vs_curve(rates, psnrs, at, 31.5) == pytest.approx(0, abs=1e-9)
    assert rate_vs_curve(rates, psnrs, 0.9 * at, 31.5) == pytest.approx(-10)
    # a point on the curve, consistent with the BD-rate of a shifted curve
    shifted = [0.9 * r for r in rates]
    assert rate_vs_curve(rates, psnrs, shifted[1], psnrs[1]) == \
        pytest.approx(bd_rate(rates, psnrs, shifted, psnrs))
    with pytest.raises(BDError, match="outside the anchor's range"):
        rate_vs_curve(rates, psnrs, 0.05, 29.0)
