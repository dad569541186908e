"""LOF: the file it writes decodes with the standard decoder to exactly
the latents it found, never costs more than the plain encoder's file
(measured on the real bytes and the decoded image), and is repeatable."""

import dataclasses
import json

import numpy as np
import pytest
import torch

from lic_lib.checkpoints import load_checkpoint
from lic_lib.codec import decode_image, encode_image, image_tensor, pad_to
from lic_lib.data import eval_images
from lic_lib.lof import LOFConfig, encode_lof, latents_fixed, overfit
from lic_lib.models import build_model
from lic_lib.models.exact import coding

CFG = LOFConfig(iterations=20, check_every=5, lr=3e-3)


@pytest.fixture(scope="module")
def crops():
    imgs = [a for _, a in eval_images("kodak", limit=2)]
    return [imgs[0][200:264, 300:396].copy(), imgs[1][:64, :64].copy()]


def cost(data, rec, img, lmbda):
    mse = (((rec.astype(np.float64) - img) / 255) ** 2).mean()
    return 8 * len(data) / img[..., 0].size + lmbda * 255 ** 2 * mse


@pytest.mark.parametrize("lmbda", [0.0035, 0.0067])
def test_lof_file_decodes_to_its_latents_and_costs_no_more(crops, lmbda):
    net, _ = load_checkpoint("mbt2018-mean", lmbda)
    gains = []
    for img in crops:
        data, rep = encode_lof(net, img, "mbt2018-mean", lmbda, CFG)
        rec = decode_image(net, data, "mbt2018-mean")
        plain = encode_image(net, img, "mbt2018-mean")
        c_lof = cost(data, rec, img, lmbda)
        c_plain = cost(plain, decode_image(net, plain, "mbt2018-mean"),
                       img, lmbda)
        assert c_lof <= c_plain + 1e-12
        assert rep["lof_cost"] == pytest.approx(c_lof)
        gains.append(c_plain - c_lof)
        if rep["used_lof"]:      # the decoder rebuilt exactly the found ŷ
            res = overfit(net, img, lmbda, CFG)
            x = pad_to(image_tensor(img), 64)
            with torch.no_grad(), coding(), latents_fixed(net, res.y, res.z):
                x_hat = net.eval()(x)["x_hat"][..., :img.shape[0],
                                                :img.shape[1]]
            ref = x_hat.clamp(0, 1)[0].permute(1, 2, 0).mul(255).round()
            assert np.array_equal(ref.byte().numpy(), rec)
    assert max(gains) > 0, "LOF found a cheaper file for some image"


def test_same_seed_same_bytes_and_weights_untouched(crops):
    net, _ = load_checkpoint("mbt2018-mean", 0.0067)
    before = {n: p.clone() for n, p in net.state_dict().items()}
    a, _ = encode_lof(net, crops[0], "mbt2018-mean", 0.0067, CFG)
    b, _ = encode_lof(net, crops[0], "mbt2018-mean", 0.0067, CFG)
    assert a == b
    searched = overfit(net, crops[0], 0.0067, CFG)     # a search run first
    c, rep = encode_lof(net, crops[0], "mbt2018-mean", 0.0067, CFG,
                        result=searched)
    assert c == a and rep["seconds"] == searched.seconds
    for n, p in net.state_dict().items():
        assert torch.equal(p, before[n]), n


def test_greedy_acceptance_never_keeps_a_worse_candidate(crops):
    torch.manual_seed(0)
    net = build_model("msp-fast", 16, 24).eval()
    net.update(force=True)
    # straight-through rounding with a huge step: the surrogate drifts
    hot = LOFConfig(iterations=30, check_every=3, lr=0.5, surrogate="ste")
    greedy = overfit(net, crops[0], 0.0067, hot)
    costs = [t["cost"] for t in greedy.trace if t["accepted"]]
    assert costs == sorted(costs, reverse=True)
    assert greedy.cost == min(t["cost"] for t in greedy.trace)
    assert greedy.cost <= greedy.start_cost
    last = overfit(net, crops[0], 0.0067, dataclasses.replace(
        hot, greedy=False))
    assert last.cost == last.trace[-1]["cost"]
    assert last.cost > last.start_cost, "without the check it got worse"
    assert greedy.cost < last.cost


def test_evaluate_with_lof_names_and_records_it(tmp_path, monkeypatch):
    from lic_lib import evaluate, results
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    d = evaluate.evaluate_model("mbt2018-mean", "kodak", lambdas=[0.0067],
                                limit=1, log=lambda _: None,
                                lof=LOFConfig(iterations=2, check_every=1))
    assert d["name"] == "mbt2018-mean+lof"
    assert d["meta"]["lof"]["iterations"] == 2
    row = json.loads(
        (tmp_path / "kodak" / "rows" / "mbt2018-mean+lof.jsonl").read_text())
    assert row["lof_cost"] <= row["plain_cost"]


def test_sga_rounding_is_between_neighbours_and_anneals_to_rounding():
    from lic_lib.lof import sga_round
    torch.manual_seed(0)
    r = (torch.randn(4000) * 3).requires_grad_(True)
    soft = sga_round(r, tau=0.5)
    assert ((soft >= torch.floor(r) - 1e-6) & (soft <= torch.ceil(r) + 1e-6)).all()
    assert not torch.equal(soft, torch.round(r))     # relaxed, not rounded
    soft.sum().backward()
    assert r.grad.abs().sum() > 0                     # a usable gradient
    cold = sga_round(r.detach(), tau=1e-3)
    near = (r.detach() - torch.round(r.detach())).abs() < 0.45
    assert torch.allclose(cold[near], torch.round(r.detach())[near], atol=1e-3)


def test_unknown_surrogate_is_rejected(crops):
    net, _ = load_checkpoint("mbt2018-mean", 0.0067)
    with pytest.raises(ValueError, match="surrogate"):
        overfit(net, crops[1], 0.0067, LOFConfig(surrogate="noise",
                                                 iterations=1))


def test_image_rows_returns_only_current_rows(tmp_path, monkeypatch):
    from lic_lib import evaluate, results
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    cfg = LOFConfig(iterations=2, check_every=1)
    evaluate.evaluate_model("mbt2018-mean", "kodak", lambdas=[0.0067],
                            limit=1, log=lambda _: None, lof=cfg)
    rows_file = tmp_path / "kodak" / "rows" / "mbt2018-mean+lof.jsonl"
    stale = json.loads(rows_file.read_text())
    stale.update(key="0" * 20, bpp=99.0)            # a replaced checkpoint
    with open(rows_file, "a") as f:
        f.write(json.dumps(stale) + "\n")
    rows = evaluate.image_rows("mbt2018-mean", "kodak", cfg)
    assert len(rows) == 1 and rows.bpp.iloc[0] < 99
    assert rows.lof_cost.iloc[0] <= rows.plain_cost.iloc[0]
    assert evaluate.image_rows("mbt2018-mean", "kodak",
                               LOFConfig(iterations=3)).empty


def test_a_study_is_read_on_the_checkpoints_it_was_measured_on(
        tmp_path, monkeypatch):
    """A LOF sweep measured before its checkpoint was replaced keeps being
    read, with the plain rows of that same checkpoint, until it is re-run."""
    from lic_lib import evaluate, results
    monkeypatch.setattr(results, "RESULTS", tmp_path)
    cfg = LOFConfig(iterations=2, check_every=1)
    kw = dict(lambdas=[0.0067], limit=1, log=lambda _: None)
    evaluate.evaluate_model("mbt2018-mean", "kodak", **kw)
    evaluate.evaluate_model("mbt2018-mean", "kodak", lof=cfg, **kw)
    shipped = evaluate.shipped_checkpoints("mbt2018-mean")[0.0067]
    assert evaluate.measured_on("mbt2018-mean", "kodak", cfg) == {
        0.0067: shipped}
    # the checkpoint is replaced: its rows and the LOF result stay
    monkeypatch.setattr(evaluate, "shipped_checkpoints",
                        lambda model: {0.0067: "f" * 64})
    assert evaluate.image_rows("mbt2018-mean", "kodak", cfg).empty
    on = evaluate.measured_on("mbt2018-mean", "kodak", cfg)
    assert on == {0.0067: shipped}
    lof = evaluate.image_rows("mbt2018-mean", "kodak", cfg, checkpoints=on)
    plain = evaluate.image_rows("mbt2018-mean", "kodak", checkpoints=on)
    assert len(lof) == len(plain) == 1
    assert lof.image.iloc[0] == plain.image.iloc[0]
