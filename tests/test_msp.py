"""The MSP and checkerboard context models: lossless latents, constant
sequential steps that are the decoder's real calls, thread-independent
decoding."""

import pytest
import torch

from lic_lib.codec import pad_to
from lic_lib.models.msp import MSP, Checkerboard
from lic_lib.models.msp_schedule import schedule
from lic_lib.models.exact import coding

CONFIGS = {"S1K1-polyphase": dict(scales=1, groups=1, order="polyphase"),
           "S2K2-checkerboard": dict(scales=2, groups=2),
           "S3K1": dict(scales=3, groups=1),
           "he2021": None}


def build(name):
    torch.manual_seed(0)
    kw = CONFIGS[name]
    net = Checkerboard(16, 24) if kw is None else MSP(16, 24, **kw)
    for p in net.parameters():       # random weights, but varied scales
        p.data.normal_(0, 0.2)
    net.eval().update(force=True)
    return net


def code(net, h, w, seed=0):
    g = torch.Generator().manual_seed(seed)
    x = pad_to(torch.rand(1, 3, h, w, generator=g), net.downsampling_factor)
    with torch.no_grad():
        enc = net.compress(x)
    calls = []
    for m in (net.entropy_bottleneck, net.gaussian_conditional):
        orig = m.decompress
        m.decompress = lambda *a, _o=orig, **k: calls.append(1) or _o(*a, **k)
    decoded = {}
    hook = net.g_s.register_forward_pre_hook(
        lambda _, inp: decoded.setdefault("y_hat", inp[0].clone()))
    try:
        with torch.no_grad():
            out = net.decompress(enc["strings"], enc["shape"])
    finally:
        hook.remove()
        for m in (net.entropy_bottleneck, net.gaussian_conditional):
            del m.decompress
    return enc, decoded["y_hat"], out["x_hat"], len(calls)


@pytest.mark.parametrize("name", list(CONFIGS))
@pytest.mark.parametrize("size", [(1, 1), (17, 33), (1000, 3)])
def test_latents_round_trip_and_steps_are_real(name, size):
    net = build(name)
    enc, y_hat, x_hat, calls = code(net, *size)
    torch.testing.assert_close(y_hat, enc["y_hat"], rtol=0, atol=0)
    assert calls == net.decode_steps(*size) == 1 + len(net.units)
    assert x_hat.shape[-2:] == pad_to(torch.zeros(1, 1, *size),
                                      net.downsampling_factor).shape[-2:]


def test_step_counts_do_not_grow_with_the_image():
    for name in CONFIGS:
        net = build(name)
        counts = {net.decode_steps(s, s) for s in (64, 256, 1024, 2048)}
        assert len(counts) == 1
    assert len(schedule(2, 2, "checkerboard")) == 2 * (1 + 2 * 2)
    assert len(schedule(2, 1, "polyphase")) == 1 + 3 * 2
    assert build("he2021").decode_steps(512, 512) == 3       # ẑ + 2


def test_schedule_covers_every_position_once():
    for scales in (1, 2, 3):
        for order in ("polyphase", "checkerboard"):
            offs = [o for u in schedule(scales, 1, order) for o in u.offsets]
            p = 2 ** scales
            assert sorted(offs) == [(a, b) for a in range(p)
                                    for b in range(p)]


def test_context_sees_only_decoded_latents():
    """Changing a latent of a later unit must not change the means and
    scales predicted for an earlier one."""
    net = build("S2K2-checkerboard")
    y = torch.randn(1, 24, 8, 8).round()
    hyper = torch.randn(1, 48, 8, 8)
    for i, unit in enumerate(net.units):
        known, current = net._masks(unit, 8, 8, "cpu")
        a = net._predict(i, y, hyper, known, current)
        later = ~known & ~current
        y2 = y + 5.0 * later
        b = net._predict(i, y2, hyper, known, current)
        for u, v in zip(a, b):
            torch.testing.assert_close(u, v, rtol=0, atol=0)


def test_decoding_is_the_same_with_one_and_two_threads():
    net = build("S2K2-checkerboard")
    x = torch.rand(1, 3, 128, 192)
    with torch.no_grad():
        enc = net.compress(x)
    n = torch.get_num_threads()
    outs = []
    try:
        for t in (1, 2):
            torch.set_num_threads(t)
            with torch.no_grad():
                outs.append(net.decompress(enc["strings"],
                                           enc["shape"])["x_hat"])
    finally:
        torch.set_num_threads(n)
    assert torch.equal(*outs)


def test_unpadded_input_is_refused():
    net = build("S3K1")
    with pytest.raises(ValueError, match="pad images"):
        net.compress(torch.rand(1, 3, 64, 64))


def test_training_pass_sees_what_the_decoder_sees():
    """In eval mode, forward predicts for every unit exactly the means the
    encoder codes with: its contexts hold the decoder's values.  (In the
    coder's integer arithmetic: in float, a last-bit difference can flip a
    rounding of y − μ and change the contexts after it.)"""
    net = build("S2K2-checkerboard")
    x = torch.rand(1, 3, 128, 192, generator=torch.Generator().manual_seed(1))
    gc = net.gaussian_conditional
    coded, seen = [], {}
    gc.compress = lambda ys, idx, means, _o=gc.compress: coded.append(
        means) or _o(ys, idx, means=means)
    gc.forward = lambda y, s, means, _o=gc.forward: seen.setdefault(
        "means", means) is None or _o(y, s, means=means)
    try:
        with torch.no_grad(), coding():
            net.compress(x)
            net(x)
    finally:
        del gc.compress, gc.forward
    for unit, m in zip(net.units, coded):
        torch.testing.assert_close(net._gather(
            seen["means"][:, net._group(unit)], unit), m, rtol=0, atol=0)


def test_step_map_and_bits_per_unit_cover_every_element():
    from lic_lib.models.msp import bits_per_unit, step_map
    net = build("S2K2-checkerboard")
    for g in range(net.groups):
        m = step_map(net, 8, 12, g)
        assert m.min() >= 1 and set(m.unique().tolist()) == {
            i + 1 for i, u in enumerate(net.units) if u.group == g}
    x = torch.rand(1, 3, 128, 128)
    bits = bits_per_unit(net, x)
    with torch.no_grad():
        total = float(-net(x)["likelihoods"]["y"].log2().sum())
    assert len(bits) == len(net.units)
    assert sum(bits) == pytest.approx(total, rel=1e-5)


def test_registry_names_and_step_counts():
    from lic_lib.complexity import sequential_steps
    from lic_lib.models import CONTEXT_MODELS, build_model
    assert build_model("msp-s3k2", 8, 8).units == schedule(3, 2)
    assert build_model("msp-s1k2-3x3", 8, 8).heads[-1].context.kernel_size \
        == (3, 3)
    with pytest.raises(ValueError, match=r"msp-s<S>k<K>\[-<k>x<k>\]\[-w<C>\]"):
        build_model("msp-huge")
    for name in CONTEXT_MODELS:
        assert len({sequential_steps(name, s, s)
                    for s in (64, 512, 2048)}) == 1
    assert sequential_steps("mbt2018", 2048, 2048) == 1 + 128 * 128


def test_strided_heads_equal_the_full_convolution_sampled():
    """A head evaluates its dilated convolution only on its lattice; that
    must equal the full-size convolution read at those positions."""
    net = build("S2K2-checkerboard")
    y = torch.randn(1, 24, 16, 12)
    for i, unit in enumerate(net.units):
        head = net.heads[i]
        if head.context is None:
            continue
        known, current = net._masks(unit, 16, 12, "cpu")
        parts = [y * known] if unit.offsets != net.units[0].offsets else []
        if unit.group:
            parts.append(y[:, :unit.group * 12] * current)
        ctx = torch.cat(parts, 1)
        full = head.context(ctx)                    # 'same' padding
        r = head.context.padding[0]
        padded = torch.nn.functional.pad(ctx, (r, r, r, r))
        p = net.period
        for a, b in unit.offsets:
            torch.testing.assert_close(head.context_at(padded, (a, b), p),
                                       full[..., a::p, b::p])


def test_a_patched_surrogate_reaches_contexts_synthesis_and_rate():
    """Under straight-through rounding (the patch fine-tuning and LOF use),
    the training pass codes exactly the decoder's values: same rate and
    reconstruction as the eval pass.  Under the soft rounding of LOF the
    gradient of the rate reaches y through the contexts too."""
    from lic_lib.lof import latents_fixed, sga_round
    from lic_lib.quantizers import ste_quantization
    net = build("S2K2-checkerboard")
    x = torch.rand(1, 3, 128, 192, generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        ref = net.eval()(x)
        with ste_quantization(net.train()):
            ste = net(x)
    for k in ("y", "z"):
        torch.testing.assert_close(ste["likelihoods"][k],
                                   ref["likelihoods"][k], rtol=0, atol=1e-6)
    torch.testing.assert_close(ste["x_hat"], ref["x_hat"], rtol=0, atol=1e-6)
    y = net.g_a(x).detach().requires_grad_(True)
    with latents_fixed(net, y), ste_quantization(
            net, rounding=lambda r: sga_round(r, 0.3)):
        out = net(x)
    out["likelihoods"]["y"].log2().sum().backward()
    assert y.grad is not None and y.grad.abs().sum() > 0
    assert not torch.equal(out["x_hat"], ref["x_hat"])     # soft values
