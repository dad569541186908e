"""Files decode to the encoder's latents wherever they are decoded.

Two proofs, the way video codecs give them:

* conformance streams (``tests/conformance/``, written once when format
  version 2 was defined, and once for each coder): every shipped model at
  two qualities, on crops of 1×1, 17×33 and 64×96 pixels; each must
  decode to the latent whose SHA-256 is committed beside it;
* "another machine" on this CPU: Kodak images coded here, decoded in fresh
  processes whose kernels differ from the encoder's (1 and 4 threads,
  PyTorch's generic CPU kernels, oneDNN limited to SSE4.1 or off,
  channels-last layout), must give identical latents for every model.
"""

import json

import pytest

from lic_lib.bitstream import BitstreamError, unpack
from lic_lib.checkpoints import LAMBDAS, load_checkpoint
from lic_lib.codec import decode_image, encode_image
from lic_lib.conformance import (CPU_VARIANTS, STREAMS, decode_digests,
                                 decode_elsewhere)
from lic_lib.data import eval_images
from lic_lib.models import BASELINES, CONTEXT_MODELS

MODELS = (*BASELINES, *CONTEXT_MODELS, "pms-base")    # pms-extra: not shipped


def test_conformance_streams_cover_every_model_and_decode_here():
    digests = json.loads((STREAMS / "digests.json").read_text())
    headers = [unpack((STREAMS / n).read_bytes())[0] for n in digests]
    for coder in ("rans", "ans"):      # every model, in both coders' files
        assert {h.model for h in headers if h.coder == coder} == set(MODELS)
    # 2 qualities × 3 crops × 2 coders, and the whole image at quality 3
    # in both coders (written later, on another processor)
    assert len(digests) == len(MODELS) * (2 * 3 * 2 + 2)
    for name in (n for n in digests if n.endswith("-ans.lic")):
        twin = name.replace("-ans.lic", ".lic")     # the same crop, by rANS
        assert digests[name]["latent"] == digests[twin]["latent"]
    got = decode_digests([STREAMS / n for n in digests])
    wrong = [n for n in digests if got[n]["latent"] != digests[n]["latent"]]
    assert not wrong, f"latents differ from the conformance digests: {wrong}"


def test_every_recorded_processor_decoded_every_stream():
    """``tools/conformance_here.py`` records machines other than the
    writer's; a row with a wrong latent is a portability bug, never a
    result."""
    from lic_lib.results import RESULTS
    rows = json.loads((RESULTS / "complexity" / "conformance_machines.json")
                      .read_text())["rows"]
    assert rows
    for row in rows:
        for name, got in {"default": row["default"],
                          **row["variants"]}.items():
            assert got["same_latents"] == got["streams"], \
                (row["processor"], name)


@pytest.fixture(scope="module")
def kodak_files(tmp_path_factory):
    """Two Kodak images (768×512) coded by every model at quality 3."""
    root = tmp_path_factory.mktemp("port")
    files = []
    for model in MODELS:
        net, rec = load_checkpoint(model, LAMBDAS[2])
        for name, img in eval_images("kodak", limit=2):
            path = root / f"{model}-{name}.lic"
            path.write_bytes(encode_image(
                net, img, model, tag=bytes.fromhex(rec["sha256"][:8]),
                lambda_index=2))
            files.append(path)
    return files, decode_digests(files)


@pytest.mark.parametrize("variant", list(CPU_VARIANTS))
def test_same_latents_under_other_kernels(kodak_files, variant):
    files, here = kodak_files
    there = decode_elsewhere(files, variant)
    wrong = [n for n in here if there[n]["latent"] != here[n]["latent"]]
    assert not wrong, f"{variant}: latents differ for {wrong}"


def test_version_1_files_still_decode_on_their_machine():
    (_, img), = eval_images("kodak", limit=1)
    crop = img[:64, :96].copy()
    net, _ = load_checkpoint("mbt2018-mean", LAMBDAS[2])
    v1 = encode_image(net, crop, "mbt2018-mean", arithmetic="float")
    v2 = encode_image(net, crop, "mbt2018-mean")
    assert v1[4] == 1 and v2[4] == 2
    assert unpack(v1)[0].arithmetic == "float"
    assert decode_image(net, v1, "mbt2018-mean").shape == crop.shape
    bad = bytearray(v2)
    bad[4] = 3
    with pytest.raises(BitstreamError, match="version 3"):
        unpack(bytes(bad))
    bad[4], bad[24] = 2, 7                          # unknown arithmetic
    with pytest.raises(BitstreamError, match="arithmetic"):
        unpack(bytes(bad))
