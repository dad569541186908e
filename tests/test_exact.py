"""Integer convolutions (lic_lib.models.exact): exact, and the same bits
however they are computed.

The format defines each layer's output as fl32(fl32(T·S) + bias), T the
exact integer convolution of the rounded input and weights.  These tests
compute T independently (float64, where every sum below 2^53 is exact) and
require the production paths — float32 pieces on the CPU, float64 for
small inputs, the AR model's NumPy matrices — to give those very bits.
"""

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from lic_lib.models import build_model
from lic_lib.models.exact import (_pow2, _weights, arithmetic,
                                  coding, gelu, integer_active, integer_conv,
                                  make_exact)

LAYERS = {
    "3x3": (lambda: nn.Conv2d(144, 192, 3, padding=1), (1, 144, 40, 56)),
    "5x5 stride-2 transposed": (
        lambda: nn.ConvTranspose2d(96, 144, 5, stride=2, padding=2,
                                   output_padding=1), (1, 96, 20, 28)),
    "3x3 dilated": (lambda: nn.Conv2d(120, 32, 3, dilation=2, padding=2),
                    (1, 120, 30, 30)),
    "1x1 small (float64 path)": (lambda: nn.Conv2d(384, 320, 1),
                                 (1, 384, 1, 1)),
}


def reference(x, m, **kw):
    """T in float64 (exact), then the format's two roundings."""
    W = _weights(m)
    B = W.input_bits
    _, e = torch.frexp(x.double().abs().flatten(1).amax(1))
    xi = torch.round(x.double() * _pow2(B - e).view(-1, 1, 1, 1))
    assert xi.abs().max() <= 2 ** B
    if isinstance(m, nn.ConvTranspose2d):
        T = F.conv_transpose2d(xi, W.w64, None, m.stride, m.padding,
                               m.output_padding)
    else:
        T = F.conv2d(xi, W.w64, None, m.stride, m.padding, m.dilation)
    S = W.scale.view(1, -1, 1, 1) * _pow2(e - B).view(-1, 1, 1, 1)
    return (T * S).float() + m.bias.detach().view(1, -1, 1, 1)


@pytest.fixture(params=list(LAYERS), ids=list(LAYERS))
def layer(request):
    torch.manual_seed(0)
    make, shape = LAYERS[request.param]
    m = make()
    with torch.no_grad():                 # trained-like: a few large taps
        m.weight.mul_(torch.rand_like(m.weight) ** 4 * 3)
    return m, torch.randn(shape) * 4


@torch.no_grad()
def test_integer_conv_is_the_exact_integer_convolution(layer):
    m, x = layer
    assert torch.equal(integer_conv(x, m), reference(x, m))


@torch.no_grad()
def test_same_bits_with_any_threads_layout_or_precision_setting(layer):
    m, x = layer
    want = integer_conv(x, m)
    old = torch.get_num_threads(), torch.get_float32_matmul_precision()
    try:
        torch.set_num_threads(1)
        torch.set_float32_matmul_precision("medium")   # bf16 where native
        assert torch.equal(integer_conv(x, m), want)
        cl = x.contiguous(memory_format=torch.channels_last)
        assert torch.equal(integer_conv(
            cl, m.to(memory_format=torch.channels_last)), want)
    finally:
        torch.set_num_threads(old[0])
        torch.set_float32_matmul_precision(old[1])


@torch.no_grad()
def test_each_image_of_a_batch_as_if_alone(layer):
    """A batch takes its scales as tensors, one image takes them in
    Python (the decoder's fast path): each image of a batch, whatever the
    other's magnitude, gives the bits it gives alone — and the reference's.
    """
    m, x = layer
    batch = torch.cat([x, x * 1e-3])
    out = integer_conv(batch, m)
    for i in range(2):
        assert torch.equal(out[i:i + 1], integer_conv(batch[i:i + 1], m))
        assert torch.equal(out[i:i + 1], reference(batch[i:i + 1], m))


def test_inputs_with_gradients_empty_batches_and_inference_mode(layer):
    """Coding never back-propagates, but a model run inside ``coding()``
    without ``no_grad`` must still compute; so must an empty batch, and a
    call under ``inference_mode`` followed by one outside it (the pieces'
    reused buffer must not be an inference tensor then)."""
    m, x = layer
    want = reference(x, m)
    with coding():
        got = integer_conv(x.clone().requires_grad_(), m)
        assert torch.equal(got.detach(), want)
        with torch.inference_mode():
            assert torch.equal(integer_conv(x, m), want)
        with torch.no_grad():
            assert torch.equal(integer_conv(x, m), want)
            assert integer_conv(x[:0], m).shape[0] == 0


@torch.no_grad()
def test_close_to_the_float_convolution(layer):
    """12-bit inputs, 8-bit weights: the largest error is below 1 % of the
    largest output (the scale table's steps are 13 % apart; what it costs
    in rate is measured in the hyperprior chapter)."""
    m, x = layer
    ref = m(x)
    err = (integer_conv(x, m) - ref).abs().max() / ref.abs().max()
    assert err < 1e-2


def test_scale_of_an_all_zero_input_is_harmless():
    m = nn.Conv2d(4, 3, 3, padding=1)
    out = integer_conv(torch.zeros(1, 4, 5, 5), m)
    assert torch.equal(out, m.bias.detach().view(1, -1, 1, 1).expand_as(out))


def test_weights_are_recomputed_when_they_change():
    m = nn.Conv2d(4, 3, 1)
    x = torch.randn(1, 4, 2, 2)
    a = integer_conv(x, m)
    with torch.no_grad():
        m.weight.mul_(2)
    assert not torch.equal(integer_conv(x, m), a)


def test_gelu_is_close_and_elementwise():
    x = torch.linspace(-12, 12, 100_001)
    assert (gelu(x) - F.gelu(x)).abs().max() < 3e-6
    assert torch.equal(gelu(x.flip(0)), gelu(x).flip(0))
    assert torch.equal(gelu(x.view(-1, 1)[:, 0]), gelu(x))


def test_coding_switch_and_state_dicts():
    net = build_model("msp-balanced")
    keys = set(net.state_dict())
    assert keys == set(make_exact(net).state_dict())
    assert not integer_active()
    with coding():
        assert integer_active()
        with arithmetic("float"):
            assert not integer_active()
    assert not integer_active()
    with pytest.raises(ValueError, match="arithmetic"):
        with arithmetic("fixed"):
            pass


@torch.no_grad()
def test_ar_position_network_matches_integer_conv():
    """The AR model's NumPy layers give integer_conv's bits."""
    from lic_lib.models.autoregressive import _IntegerLayer
    torch.manual_seed(1)
    net = build_model("mbt2018", 16, 24)
    layer = net.entropy_parameters[0]
    x = torch.randn(1, layer.in_channels, 1, 1) * 3
    want = integer_conv(x, layer).flatten().numpy()
    assert np.array_equal(_IntegerLayer(layer)(x.flatten().numpy()), want)
