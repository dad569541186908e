"""What the authors' H/8 latent would cost `pms-base`.

The authors' codec down-samples the image three times (an H/8 latent);
the book's transforms, which every model here shares, four times (H/16).
The end-to-end ablation with an H/8 latent did not fit this machine's
budget; this measures what it would cost.  It builds `pms-base` twice —
as shipped (H/16) and with the last analysis stage and the first
synthesis stage at stride 1 (H/8, nothing else changed) — and measures
both in the same run:

* multiply–accumulates per pixel of a decode (PyTorch's FLOP counter over
  the forward pass in eval mode, which runs the networks a decoder runs),
  split into the synthesis and the rest (the probability model);
* the wall time of an end-to-end training step as `tools/joint_msp.py`
  runs it (batch 8, 128² crops, λ·255²·MSE + bpp, Adam, the transforms
  and context network under bf16 autocast where the CPU has native bf16),
  median of the timed steps after warm-up; and from it the time of the
  AR model's recipe (44,000 steps at λ = 0.0067) for each.

Writes data/results/experiments/pms_h8_cost.json.

    python tools/pms_h8_cost.py [--steps 8]
"""
import argparse
import json
import statistics
import time
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from lic_lib.complexity import device_label  # noqa: E402
from lic_lib.config import set_seed  # noqa: E402
from lic_lib.models import RateDistortionLoss, build_model  # noqa: E402
from lic_lib.precision import bf16_transforms, use_bf16  # noqa: E402
from lic_lib.results import RESULTS, provenance  # noqa: E402

OUT = RESULTS / "experiments" / "pms_h8_cost.json"
RECIPE_STEPS = 44_000          # the shipped AR model's run at λ = 0.0067


def h8_variant(net: nn.Module) -> nn.Module:
    """``net`` with its last analysis and first synthesis stage at stride
    1 (CompressAI's ``conv``/``deconv`` layers, 5×5, same widths)."""
    last, first = net.g_a[-1], net.g_s[0]
    net.g_a[-1] = nn.Conv2d(last.in_channels, last.out_channels, 5, 1, 2)
    net.g_s[0] = nn.ConvTranspose2d(first.in_channels, first.out_channels,
                                    5, 1, 2)
    return net


def decode_macs(net: nn.Module, side: int = 256) -> dict[str, float]:
    """MACs per pixel of the forward pass (eval mode) and of g_s alone."""
    x = torch.rand(1, 3, side, side)
    net.eval()
    with torch.no_grad():
        counter = FlopCounterMode(display=False)
        with counter:
            out = net(x)
        total = counter.get_total_flops() / 2
        y = net.g_a(x)
        counter = FlopCounterMode(display=False)
        with counter:
            net.g_s(y)
        synthesis = counter.get_total_flops() / 2
        counter = FlopCounterMode(display=False)
        with counter:
            net.g_a(x)
        analysis = counter.get_total_flops() / 2
    px = side * side
    assert out["x_hat"].shape == x.shape
    return {"latent_stride": side // y.shape[-1],
            "decode_macs_per_px": (total - analysis) / px,
            "synthesis_macs_per_px": synthesis / px,
            "probability_model_macs_per_px": (total - analysis - synthesis) / px}


def step_seconds(net: nn.Module, steps: int, warmup: int = 2) -> float:
    """Median wall time of one training step (batch 8, 128² crops)."""
    bf16, _ = use_bf16(None, torch.device("cpu"))
    loss_fn = RateDistortionLoss(lmbda=0.0067)
    opt = torch.optim.Adam(net.parameters(), lr=1e-4)
    net.train()
    times = []
    for i in range(warmup + steps):
        x = torch.rand(8, 3, 128, 128)
        t0 = time.perf_counter()
        with bf16_transforms(net, bf16):
            out = net(x)
        loss = loss_fn(out, x)["loss"]
        opt.zero_grad()
        loss.backward()
        opt.step()
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    return statistics.median(times)


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--steps", type=int, default=8)
    a = p.parse_args()
    rows = {}
    for name, make in (("H/16 (shipped)", lambda: build_model("pms-base")),
                       ("H/8 (authors')", lambda: h8_variant(
                           build_model("pms-base")))):
        set_seed(0)
        row = decode_macs(make())
        row["train_step_s"] = step_seconds(make(), a.steps)
        row["recipe_hours"] = row["train_step_s"] * RECIPE_STEPS / 3600
        rows[name] = row
        print(name, {k: round(v, 3) for k, v in row.items()})
    h16, h8 = rows.values()
    bf16, why = use_bf16(None, torch.device("cpu"))
    out = {"rows": rows, "device": device_label("cpu"),
           "precision": f"{'bf16' if bf16 else 'fp32'} ({why})",
           "ratios": {k: h8[k] / h16[k] for k in
                      ("decode_macs_per_px", "probability_model_macs_per_px",
                       "train_step_s")},
           "timed_steps": a.steps, "recipe_steps": RECIPE_STEPS,
           "meta": provenance("random crops", 0)}
    OUT.write_text(json.dumps(out, indent=1) + "\n")
    print(f"wrote {OUT}")
