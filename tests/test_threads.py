"""A file decodes to the encoder's latents with any thread setting.

PyTorch's CPU convolutions may round differently with 1 and 2 threads;
:mod:`lic_lib.models.threads` computes the entropy parameters with a fixed
thread count when coding.  Without it, a full Kodak image coded with 2 threads
and decoded with 1 gave other latents for every mean-scale model and a
corrupted unit for ``msp-balanced`` (kodim01), so the check runs on the
shipped checkpoints at full size, where it failed.
"""

import pytest
import torch

from lic_lib.checkpoints import load_checkpoint
from lic_lib.codec import image_tensor
from lic_lib.data import eval_images
from lic_lib.models import build_model
from lic_lib.models.threads import (CODING_THREADS, FixedThreadsWhenCoding,
                                    coding_threads)


def test_coding_threads_restores_the_setting_even_on_errors():
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        with pytest.raises(RuntimeError):
            with coding_threads():
                assert torch.get_num_threads() == CODING_THREADS
                raise RuntimeError
        assert torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(n)


def test_pinning_keeps_compressai_state_dict_names():
    from compressai.models import MeanScaleHyperprior
    net = build_model("mbt2018-mean", 8, 8)
    assert isinstance(net.h_s, FixedThreadsWhenCoding)
    assert net.state_dict().keys() == MeanScaleHyperprior(8, 8) \
        .state_dict().keys()


def test_h_s_runs_on_the_coding_threads_only_when_coding():
    net = build_model("mbt2018-mean", 8, 8)
    seen = []
    net.h_s[0].register_forward_hook(
        lambda *_: seen.append(torch.get_num_threads()))
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(3)
        z = torch.zeros(1, 8, 2, 2)
        net.h_s.train()(z)
        net.h_s.eval()(z)
        assert seen == [3, CODING_THREADS] and torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(n)


@pytest.mark.parametrize("model", ["mbt2018-mean", "msp-balanced", "mbt2018"])
def test_shipped_models_decode_the_same_latents_with_any_thread_setting(
        model):
    net, _ = load_checkpoint(model, 0.0067)
    (_, img), = eval_images("kodak", limit=1)            # 768×512, full size
    latents = []
    net.g_s.register_forward_pre_hook(lambda _, a: latents.append(a[0]))
    n = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        with torch.no_grad():
            enc = net.compress(image_tensor(img))
            for t in (1, 3):
                torch.set_num_threads(t)
                net.decompress(enc["strings"], enc["shape"])
    finally:
        torch.set_num_threads(n)
    one, three = latents
    assert torch.equal(one, three)
    if "y_hat" in enc:                         # MSP says what it coded
        assert torch.equal(one, enc["y_hat"])
