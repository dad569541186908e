"""The entropy models of ``lic_lib.models.entropy``.

With CompressAI's rANS coder they only change how the tables reach the
coder (once, trimmed), so a file they write must be byte-identical to
CompressAI's, and each must decode the other's files to the same image;
with the ANS coder a file must decode to the very latents of the rANS file
at a size within 0.1 %.  Checked on shipped checkpoints, whose scales
spread over the whole table (an untrained model's do not).
"""

import numpy as np
import pytest
import torch
from compressai.entropy_models import EntropyBottleneck as StockBottleneck
from compressai.entropy_models import GaussianConditional as StockGaussian
from compressai.models import JointAutoregressiveHierarchicalPriors

from lic_lib.checkpoints import load_checkpoint
from lic_lib import bitstream
from lic_lib.codec import decode_image, encode_image, image_tensor, pad_to
from lic_lib.models.exact import arithmetic
from lic_lib.data import eval_images
from lic_lib.codec import decode_tensors
from lic_lib.models.entropy import EntropyBottleneck, GaussianConditional


@pytest.fixture(scope="module")
def img():
    (_, a), = eval_images("kodak", limit=1)
    return a[100:228, 200:392].copy()                 # 128×192


def as_compressai(net):
    """The same weights with CompressAI's own entropy model (and, for the
    AR model, CompressAI's own class with its sequential decoder)."""
    if net.__class__.__name__ == "JointAutoregressive":
        stock = JointAutoregressiveHierarchicalPriors(N=net.N, M=net.M)
        stock.load_state_dict(net.state_dict())
        stock.update(force=True)
        return stock.eval()
    stock = StockGaussian(None)
    stock.update_scale_table(net.gaussian_conditional.scale_table)
    net.gaussian_conditional = stock
    eb = StockBottleneck(net.entropy_bottleneck.channels)
    for table in ("_offset", "_quantized_cdf", "_cdf_length"):   # sizes
        setattr(eb, table, getattr(net.entropy_bottleneck, table).clone())
    eb.load_state_dict(net.entropy_bottleneck.state_dict())
    net.entropy_bottleneck = eb
    return net


@pytest.mark.parametrize("name", ["mbt2018-mean", "msp-balanced", "mbt2018"])
def test_same_bits_as_compressai(name, img):
    """In CompressAI's float arithmetic (format version 1) the bits are
    CompressAI's; version 2 differs only in how the entropy parameters are
    computed (tests/test_exact.py)."""
    ours, _ = load_checkpoint(name, 0.0067)
    assert isinstance(ours.gaussian_conditional, GaussianConditional)
    assert isinstance(ours.entropy_bottleneck, EntropyBottleneck)
    data = encode_image(ours, img, name, arithmetic="float")
    assert bitstream.unpack(data)[0].coder == "rans"
    rec = decode_image(ours, data, name)
    stock = as_compressai(load_checkpoint(name, 0.0067)[0])
    assert type(stock.gaussian_conditional) is StockGaussian
    assert type(stock.entropy_bottleneck) is StockBottleneck
    with torch.no_grad(), arithmetic("float"):
        out = stock.compress(pad_to(image_tensor(img), 64))
        x_hat = stock.decompress(out["strings"], out["shape"])["x_hat"]
    assert bitstream.unpack(data)[1] == [s[0] for s in out["strings"]]
    assert np.array_equal(rec, x_hat[0, :, :img.shape[0], :img.shape[1]]
                          .mul(255).round().byte().permute(1, 2, 0).numpy())


def test_tables_are_trimmed_and_follow_update():
    gc = GaussianConditional(None)
    with pytest.raises(ValueError, match="update"):
        gc.coder_tables()
    gc.update_scale_table(torch.exp(torch.linspace(np.log(0.11), np.log(8), 16)))
    cdfs, lengths, offsets = gc.coder_tables()
    assert gc.coder_tables()[0] is cdfs                   # converted once
    assert [len(c) for c in cdfs] == lengths == gc._cdf_length.tolist()
    assert offsets == gc._offset.tolist()
    padded = gc._quantized_cdf.tolist()
    assert all(p[:n] == c for p, c, n in zip(padded, cdfs, lengths))
    gc.update_scale_table(torch.exp(torch.linspace(np.log(0.11), np.log(64), 32)),
                          force=True)
    assert len(gc.coder_tables()[0]) == 32               # rebuilt
    gc._quantized_cdf[0, 1] += 1                          # in place, too
    assert gc.coder_tables()[0][0][1] == gc._quantized_cdf[0, 1]


def test_bad_arguments_raise_value_error():
    gc = GaussianConditional(None)
    gc.update_scale_table(torch.tensor([0.2, 1.0, 4.0]))
    x = torch.zeros(1, 2, 3, 3)
    with pytest.raises(ValueError):
        gc.compress(x, torch.zeros(1, 2, 3, 2, dtype=torch.int32))
    strings = gc.compress(x, gc.build_indexes(torch.ones_like(x)))
    with pytest.raises(ValueError):
        gc.decompress(strings * 2, gc.build_indexes(torch.ones_like(x)))
    assert torch.equal(gc.decompress(strings, gc.build_indexes(
        torch.ones_like(x))), x)


def test_indexes_are_compressai_s():
    gc = GaussianConditional(None)
    gc.update_scale_table(torch.exp(torch.linspace(np.log(0.11), np.log(256),
                                                   64)))
    stock = StockGaussian(None)
    stock.update_scale_table(gc.scale_table)
    table = gc.scale_table
    scales = torch.cat([table, table * (1 + 1e-7), table * (1 - 1e-7),
                        torch.rand(10_000) * 300, torch.tensor([0.0, -1.0])])
    assert torch.equal(gc.build_indexes(scales), stock.build_indexes(scales))


@pytest.mark.parametrize("name", ["bmshj2018-factorized", "mbt2018-mean",
                                  "msp-balanced", "pms-base", "mbt2018"])
def test_both_coders_decode_the_same_latents(name, img):
    """The coder changes the bytes, not the latents, nor (beyond a few
    bytes a string) the size."""
    net, _ = load_checkpoint(name, 0.0067)
    files = {c: encode_image(net, img, name, coder=c) for c in ("rans", "ans")}
    out = {c: decode_tensors(net, d, name) for c, d in files.items()}
    assert {c: o["header"].coder for c, o in out.items()} == \
        {"rans": "rans", "ans": "ans"}
    if out["rans"]["y_hat"] is not None:
        assert torch.equal(out["rans"]["y_hat"], out["ans"]["y_hat"])
    assert torch.equal(out["rans"]["x_hat"], out["ans"]["x_hat"])
    strings = len(bitstream.unpack(files["ans"])[1])
    assert abs(len(files["ans"]) - len(files["rans"])) <= 12 * strings


def test_a_model_that_has_coded_can_be_copied_and_saved(img):
    """The coder caches (constriction's models cannot be pickled) are left
    out of a copy, which codes the same bytes."""
    import copy
    import io

    net, _ = load_checkpoint("mbt2018-mean", 0.0067)
    data = encode_image(net, img, "mbt2018-mean")
    twin = copy.deepcopy(net)
    torch.save(net, io.BytesIO())
    assert encode_image(twin, img, "mbt2018-mean") == data
