"""What a training run's folder and process hold besides the model: atomic
checkpoint writes, every rank's RNG state, the optimisers' device-specific
kernels, the run's device name, and rolling a run back to its main phase.

:mod:`lic_lib.train` and :mod:`lic_lib.frozen` share these.
"""

from __future__ import annotations

import csv
import os
import platform
from pathlib import Path

import torch

__all__ = ["save_atomic", "distributed", "rng_states", "device_name", "adam",
           "load_optimizer", "redo_final_phase"]


def save_atomic(path: Path, state: dict) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def distributed(device: torch.device) -> tuple[int, int, torch.device]:
    """(rank, world size, device) — initialises torch.distributed under
    ``torchrun`` (one process per GPU, or gloo processes on a CPU)."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world == 1:
        return 0, 1, device
    import torch.distributed as dist
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    if device.type == "cuda":
        device = torch.device("cuda", int(os.environ["LOCAL_RANK"]))
        torch.cuda.set_device(device)
    return dist.get_rank(), world, device


def rng_states(world: int) -> list[torch.Tensor]:
    """Every rank's torch RNG state (so a resumed run draws the same)."""
    state = torch.get_rng_state()
    if world == 1:
        return [state]
    import torch.distributed as dist
    states = [None] * world
    dist.all_gather_object(states, state)
    return states


def device_name(device: torch.device, precision: str | None = None
                 ) -> str:
    """E.g. ``cpu (x86_64, 2 threads, fp32)`` or the GPU's name."""
    if device.type == "cuda":
        return torch.cuda.get_device_name(device)
    extra = f", {precision}" if precision else ""
    return f"cpu ({platform.processor() or platform.machine()}, " \
        f"{torch.get_num_threads()} threads{extra})"


def adam(params, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam; on a GPU its fused kernel (one launch for all parameters)."""
    return torch.optim.Adam(params, lr=lr, fused=device.type == "cuda")


def load_optimizer(opt: torch.optim.Optimizer, state: dict,
                    device: torch.device) -> None:
    """Load ``state``, keeping the fused kernel choice of this device (a
    run started on a GPU may be resumed on a CPU and the reverse)."""
    opt.load_state_dict(state)
    for g in opt.param_groups:
        g["fused"] = device.type == "cuda"


def redo_final_phase(run_dir: str | Path) -> None:
    """Roll a run back to the end of its main phase, so that the next
    :func:`train` call redoes the final phase (after a change to it).

    ``main_phase.pt`` becomes ``last.pt`` again and the log loses the
    rows of the final phase; a shipped export of the run is not touched.
    """
    run_dir = Path(run_dir)
    state = torch.load(run_dir / "main_phase.pt", map_location="cpu",
                       weights_only=True)
    if "opt" not in state:
        raise ValueError(f"{run_dir}/main_phase.pt holds only weights "
                         "(written before the whole state was kept)")
    save_atomic(run_dir / "last.pt", state)
    log = run_dir / "log.csv"
    with open(log, newline="") as f:
        rows = list(csv.reader(f))
    keep = [rows[0]] + [r for r in rows[1:] if int(r[0]) <= state["step"]]
    tmp = log.with_suffix(".tmp")
    with open(tmp, "w", newline="") as f:
        csv.writer(f).writerows(keep)
    os.replace(tmp, log)
