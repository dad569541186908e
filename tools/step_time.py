"""Wall time of one training step, as the book's trainings take it.

Batch 8 of 128² crops, λ·255²·MSE + bpp, Adam; the transforms under bf16
autocast where the CPU computes bf16 natively (``lic_lib.precision``),
fp32 otherwise.  Median of the timed steps after two warm-up steps, on the
kernels this process runs (``ATEN_CPU_CAPABILITY=avx2
DNNL_MAX_CPU_ISA=AVX2`` emulates a CPU without AVX-512).  The README's
step times come from here.

    python tools/step_time.py [--steps 10] [--precision fp32]
"""
import argparse
import statistics
import time
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)

import torch  # noqa: E402
from torch import nn  # noqa: E402

from lic_lib.models import RateDistortionLoss, build_model  # noqa: E402
from lic_lib.precision import bf16_transforms, use_bf16  # noqa: E402

#: (model, N, M) of the README's table: the VAE chapter's live model and
#: the mean-scale model every context model sits on.
MODELS = (("bmshj2018-factorized", 32, 48), ("mbt2018-mean", 64, 96))


def step_seconds(net: nn.Module, steps: int, warmup: int = 2,
                 bf16: bool | None = None) -> float:
    """Median wall time of one training step of ``net`` (batch 8, 128²);
    ``bf16`` None decides as the book's trainings do."""
    bf16, _ = use_bf16(bf16, torch.device("cpu"))
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
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--precision", choices=("auto", "fp32", "bf16"),
                   default="auto", help="auto: as the book's trainings")
    a = p.parse_args()
    bf16, why = use_bf16({"auto": None, "fp32": False, "bf16": True}
                         [a.precision], torch.device("cpu"))
    print(f"{torch.backends.cpu.get_cpu_capability()} kernels, "
          f"{torch.get_num_threads()} threads, {'bf16' if bf16 else 'fp32'} "
          f"({why})")
    for name, n, m in MODELS:
        torch.manual_seed(0)
        print(f"{name} N={n}/M={m}: "
              f"{step_seconds(build_model(name, n, m), a.steps, bf16=bf16):.3f}"
              " s/step")
