"""The authors' progressive multi-scale model (``pms-base``, ``pms-extra``):
lossless latents at any size, steps counted at the decoder, causality."""

import dataclasses

import numpy as np
import pytest
import torch

from lic_lib.bitstream import unpack
from lic_lib.codec import decode_tensors, encode_image, image_tensor, pad_to
from lic_lib.frozen import transforms_bypassed
from lic_lib.models import build_model, entropy
from lic_lib.models.pms import PMS, PMS_PROFILES, pms_steps


def _untrained(name, slim=False):
    """An untrained model with random (not zero) context weights and
    coding tables built here: enough for the coding path's logic.
    ``slim``: the profile's schedule with a narrow network (8 filters,
    1 residual block), so that the tests of the schedule run in seconds
    (the extra profile's full network runs 121 times per image)."""
    torch.manual_seed(0)
    profile = PMS_PROFILES[name]
    if slim:
        profile = dataclasses.replace(profile, filters=8, blocks=1)
    net = PMS(64, 96, profile).eval()
    with torch.no_grad():
        for p in net.context.parameters():
            p.mul_(1.5)                # predictions that vary a lot
    net.update(force=True)
    return name, net


@pytest.fixture(scope="module", params=list(PMS_PROFILES))
def model(request):
    """Each profile's schedule, with a slim network."""
    return _untrained(request.param, slim=True)


@pytest.mark.parametrize("name", list(PMS_PROFILES))
def test_full_profiles_round_trip(name):
    """The registry's models, full width, on one small image."""
    _, net = _untrained(name)
    registry = build_model(name)
    assert isinstance(registry, PMS) and registry.profile == net.profile
    img = np.random.default_rng(5).integers(0, 256, (40, 70, 3), np.uint8)
    data = encode_image(net, img, name)
    with torch.no_grad():
        sent = net.compress(pad_to(image_tensor(img),
                                   net.downsampling_factor))["y_hat"]
    assert torch.equal(decode_tensors(net, data, name)["y_hat"], sent)


def test_profiles_have_the_authors_step_counts():
    assert pms_steps(PMS_PROFILES["pms-base"]) == 28 == 1 + 3 * 3 * 3
    assert pms_steps(PMS_PROFILES["pms-extra"]) == 121 == 1 + 4 * 6 * 5


@pytest.mark.parametrize("size", [(1, 1), (17, 33), (1000, 3)])
def test_latents_round_trip_at_any_size(model, size):
    name, net = model
    rng = np.random.default_rng(sum(size))
    img = rng.integers(0, 256, (*size, 3), dtype=np.uint8)
    data = encode_image(net, img, name)
    with torch.no_grad():
        x = pad_to(image_tensor(img), net.downsampling_factor)
        sent = net.compress(x)["y_hat"]
    out = decode_tensors(net, data, name)
    assert torch.equal(out["y_hat"], sent)
    assert out["x_hat"].shape[-2:] == size
    assert len(unpack(data)[1]) == net.n_strings == 2


@pytest.mark.parametrize("size", [(64, 64), (300, 520)])
def test_decode_steps_are_the_decoders_calls(model, size, monkeypatch):
    name, net = model
    img = np.random.default_rng(0).integers(0, 256, (*size, 3), np.uint8)
    data = encode_image(net, img, name)
    calls, real = [], entropy.StreamDecoder.decode

    def counting(self, *args):       # the real decoder, counting its calls
        calls.append(1)
        return real(self, *args)

    monkeypatch.setattr(entropy.StreamDecoder, "decode", counting)
    decode_tensors(net, data, name)
    # the coarsest scale's bottleneck is one of the calls
    assert len(calls) == net.decode_steps(*size) \
        == pms_steps(net.profile)


def _parameters_per_step(net, pyramid):
    """Run the decoding loop with the true values of ``pyramid`` (y at
    each scale, coarsest last); (scales, means) of every step at the
    elements it codes."""
    seen = []

    def code(t, s, scales, means, where):
        seen.append(torch.cat([scales[0][where], means[0][where]]))
        return pyramid[s]

    with torch.no_grad():
        net._run(pyramid[-1], code)
    return seen


def _pyramid(y, scales):
    out = [y]
    for _ in range(scales):
        out.append(out[-1][..., 1::2, 1::2])
    return out


def test_no_step_sees_a_later_step(model):
    """Change every value a step and the steps after it code: the entropy
    parameters of every earlier step, and of the step itself, stay the
    same bits; some later step sees the change."""
    name, net = model
    S = net.profile.scales
    side = 2 ** S
    torch.manual_seed(1)
    y = torch.randn(1, net.M, side, side) * 4
    ys = _pyramid(y, S)
    ref = _parameters_per_step(net, ys)
    schedule = [(s, where) for s in reversed(range(S))
                for where in net.steps(*ys[s].shape[-2:], y.device)]
    assert len(schedule) == len(ref) == pms_steps(net.profile) - 1
    picks = range(len(schedule)) if name == "pms-base" else \
        range(0, len(schedule), 7)
    for t in picks:
        s, where = schedule[t]
        later = where.clone()
        for s2, w2 in schedule[t + 1:]:
            if s2 == s:
                later |= w2
        changed = [p.clone() for p in ys]
        changed[s] = torch.where(later, changed[s] + 7.0, changed[s])
        for k in range(s - 1, -1, -1):    # finer scales hold the change too
            changed[k][..., 1::2, 1::2] = changed[k + 1]
        got = _parameters_per_step(net, changed)
        assert all(torch.equal(a, b) for a, b in zip(ref[:t + 1],
                                                    got[:t + 1])), t
        if t + 1 < len(ref):
            assert not all(torch.equal(a, b) for a, b in
                           zip(ref[t + 1:], got[t + 1:])), t


def test_unstable_network_is_refused_not_coded():
    _, net = _untrained("pms-base", slim=True)
    with torch.no_grad():
        net.context.params.bias.fill_(float("nan"))
    img = np.zeros((8, 8, 3), np.uint8)
    with pytest.raises(ValueError, match="out of range"):
        encode_image(net, img, "pms-base")


def test_training_pass_gives_one_likelihood_per_element(model):
    name, net = model
    S = net.profile.scales
    y = torch.randn(2, net.M, 2 ** S, 2 ** (S + 1)) * 3
    net.train()
    try:
        with transforms_bypassed(net):
            lik = net(y)["likelihoods"]
    finally:
        net.eval()
    assert set(lik) == {"y"} and lik["y"].shape == y.shape
    assert bool(((lik["y"] > 0) & (lik["y"] <= 1)).all())
