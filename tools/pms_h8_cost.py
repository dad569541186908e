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
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)

import torch  # noqa: E402
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from lic_lib.complexity import device_label  # noqa: E402
from lic_lib.config import set_seed  # noqa: E402
from lic_lib.models import build_model  # noqa: E402
from lic_lib.precision import use_bf16  # noqa: E402
from lic_lib.results import RESULTS, provenance  # noqa: E402
from step_time import step_seconds  # noqa: E402  (tools/step_time.py)

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


def _counted(fn, *args):
    """(fn(*args), its multiply–accumulates by PyTorch's FLOP counter)."""
    counter = FlopCounterMode(display=False)
    with counter:
        out = fn(*args)
    return out, counter.get_total_flops() / 2


def decode_macs(net: nn.Module, side: int = 256) -> dict[str, float]:
    """MACs per pixel of the forward pass (eval mode) without g_a, of g_s,
    and of the rest (the probability model)."""
    x = torch.rand(1, 3, side, side)
    net.eval()
    with torch.no_grad():
        out, total = _counted(net, x)
        y, analysis = _counted(net.g_a, x)
        _, synthesis = _counted(net.g_s, y)
    assert out["x_hat"].shape == x.shape
    px = side * side
    return {"latent_stride": side // y.shape[-1],
            "decode_macs_per_px": (total - analysis) / px,
            "synthesis_macs_per_px": synthesis / px,
            "probability_model_macs_per_px": (total - analysis - synthesis) / px}


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
