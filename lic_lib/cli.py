"""The ``lic`` command line.

Subcommands::

    lic anchors  [--dataset kodak] [--codecs jpeg,webp,vtm,...] [--jobs J]
    lic bdrate   ANCHOR.json TEST.json [--metric psnr-rgb] [--method pchip]
    lic data     verify [NAME ...]  |  ood OUTDIR [-n 12]
    lic train    --model mbt2018-mean --lmbda 0.0067 RUN_DIR [options]
    lic export   RUN_DIR            (a finished run → data/checkpoints)
    lic ladder   --model mbt2018-mean [more…] [--jobs J] [--hours H]
    lic eval     --model mbt2018-mean --dataset kodak   (real bitstreams)
    lic compress IN.png OUT.lic --model mbt2018-mean --quality 3
    lic decompress IN.lic OUT.png
    lic info     FILE.lic ...       (what a file is; checks it, decodes nothing)

Errors the user can fix (missing data, unknown codec, curves that do not
overlap) are printed as one line and exit with status 2, no traceback.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Sequence

#: Errors the user can fix, by module: looked up only in modules already
#: imported, so that a subcommand loads nothing it does not use (``lic
#: decompress`` never imports the classical codecs, pandas or matplotlib).
_USER_ERRORS = {"lic_lib.data": ("DatasetError", "ImageError"),
                "lic_lib.bdrate": ("BDError",),
                "lic_lib.bitstream": ("BitstreamError",),
                "lic_lib.classic": ("CodecUnavailable",)}


def _is_user_error(e: BaseException) -> bool:
    if isinstance(e, (FileNotFoundError, ValueError)):
        return True
    return any(isinstance(e, getattr(sys.modules[m], n))
               for m, names in _USER_ERRORS.items() if m in sys.modules
               for n in names)


def _anchors(a: argparse.Namespace) -> None:
    from .anchors import run_anchors
    from .classic import CODECS
    codecs = a.codecs.split(",") if a.codecs else None
    for c in codecs or []:
        if c not in CODECS:
            raise ValueError(f"unknown codec {c!r}; choose from "
                             f"{', '.join(CODECS)}")
    run_anchors(a.dataset, codecs, limit=a.limit, force=a.force,
                jobs=a.jobs)


def _bdrate(a: argparse.Namespace) -> None:
    from .bdrate import bd_psnr, bd_rate
    from .metrics import rd_quality
    from .results import load_rd
    anc, tst = (load_rd(p)["results"] for p in (a.anchor, a.test))
    qa, qt = rd_quality(anc, a.metric), rd_quality(tst, a.metric)
    r = bd_rate(anc["bpp"], qa, tst["bpp"], qt, a.method)
    q = bd_psnr(anc["bpp"], qa, tst["bpp"], qt, a.method)
    print(f"BD-rate {r:+.2f} %   BD-{a.metric} {q:+.3f}   "
          f"({a.method}; negative rate = test saves bits)")


def _data_cmd(a: argparse.Namespace) -> None:
    from . import data as _data
    if a.action == "verify":
        for name in a.names or list(_data.DATASETS):
            files = _data.dataset_files(name)
            print(f"{name}: {len(files)} images, checksums OK")
    else:
        from pathlib import Path
        out = Path(a.outdir)
        lines = []
        for name, img in _data.out_of_domain(n=a.n):
            p = _data.save_png(img, out / f"{name}.png")
            lines.append(f"{_data.sha256(p)}  {p.name}")
        (out / "SHA256SUMS").write_text("\n".join(lines) + "\n")
        print(f"wrote {len(lines)} images and SHA256SUMS to {out}")


def _train(a: argparse.Namespace) -> None:
    import dataclasses

    from .train import TrainConfig, train
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    cfg = TrainConfig(**{k: v for k, v in vars(a).items()
                         if k in fields and v is not None})
    train(cfg, a.run_dir, stop_at=a.stop_at)


def _add_train(sub) -> None:
    import dataclasses

    from .models import MODELS
    from .train_config import TrainConfig
    s = sub.add_parser("train", help="train (or resume) a model in RUN_DIR",
                       description="Defaults are TrainConfig's; a run "
                       "resumes from RUN_DIR/last.pt when it exists.")
    s.add_argument("run_dir")
    s.add_argument("--model", choices=list(MODELS))
    for f in dataclasses.fields(TrainConfig):
        if f.name == "model":
            continue
        kind = {"int": int, "float": float, "bool": _bool,
                "bool | None": _bool}.get(
            str(f.type), str)
        s.add_argument("--" + f.name.replace("_", "-"), dest=f.name,
                       type=kind, help=f"default {f.default}")
    s.add_argument("--stop-at", type=int,
                   help="stop this call after that step (resume later)")
    s.set_defaults(func=_train)


def _bool(v: str) -> bool:
    if v.lower() in ("1", "true", "yes", "on"):
        return True
    if v.lower() in ("0", "false", "no", "off"):
        return False
    raise argparse.ArgumentTypeError(f"expected true/false, got {v!r}")


def _model_and_lof(a: argparse.Namespace):
    """(model, LOF setting) from ``--model``/``--lof`` or ``--profile``."""
    from .lof import LOFConfig
    if a.profile:
        if a.model_given:
            raise SystemExit("lic: give --model or --profile, not both")
        from .profiles import PROFILES
        p = PROFILES[a.profile]
        return p.model, p.lof
    lof = LOFConfig(iterations=a.lof_iterations) if getattr(
        a, "lof", False) else None
    return a.model, lof


def _compress(a: argparse.Namespace) -> None:
    from .lic_files import compress_file
    model, lof = _model_and_lof(a)
    r = compress_file(a.input, a.output, model, a.quality, a.device,
                      log=lambda m: print(m, file=sys.stderr), lof=lof)
    print(f"{a.output}: {r['bytes']} bytes, {r['bpp']:.4f} bpp, "
          f"encoded in {r['seconds']:.2f} s")


def _decompress(a: argparse.Namespace) -> None:
    from .lic_files import decompress_file
    r = decompress_file(a.input, a.output, a.device)
    print(f"{a.output}: {r['width']}×{r['height']}, decoded in "
          f"{r['seconds']:.2f} s")


_CODER_NAMES = {"ans": "ANS coder", "rans": "CompressAI's rANS coder"}


def _info(a: argparse.Namespace) -> None:
    """Header facts of each file, checked (sizes, CRC) without importing
    PyTorch, and whether this repository ships the weights it names."""
    import json

    from .bitstream import LAMBDAS, unpack
    from .config import DATA
    for path in map(Path, a.files):
        data = path.read_bytes()
        h, strings = unpack(data)
        pixels = h.height * h.width
        lam = (LAMBDAS[h.lambda_index] if h.lambda_index < len(LAMBDAS)
               else None)                  # 255: not from the ladder
        print(f"{path}: {len(data):,} bytes, .lic format version {data[4]}")
        print(f"  model       {h.model}, " + (
            f"quality {h.lambda_index + 1} (λ = {lam:g})" if lam
            else "no quality recorded"))
        print(f"  image       {h.width}×{h.height}, "
              f"{8 * len(data) / pixels:.3f} bpp")
        sizes = " + ".join(f"{len(s):,}" for s in strings)
        print(f"  coding      {h.arithmetic} entropy parameters, "
              f"{_CODER_NAMES[h.coder]}, {len(strings)} string"
              f"{'s' * (len(strings) > 1)} ({sizes} bytes)")
        if h.arithmetic == "float":
            print("              (version 1: decodes reliably only on the "
                  "kind of machine that wrote it)")
        # the record beside the weights of checkpoints.checkpoint_path
        record = lam and DATA / "checkpoints" / h.model / f"{lam:g}.json"
        tag = h.tag.hex()
        if not record or not record.exists():
            print(f"  weights     tag {tag}: not shipped here")
        elif json.loads(record.read_text())["sha256"][:8] == tag:
            print(f"  weights     tag {tag}: the shipped checkpoint "
                  f"(lic decompress can decode it here)")
        else:
            print(f"  weights     tag {tag}: other weights than the shipped "
                  f"checkpoint (lic decompress will refuse it)")


def _export(a: argparse.Namespace) -> None:
    import torch
    from .checkpoints import export_run
    from .context_export import export_context
    state = torch.load(Path(a.run_dir) / "last.pt", map_location="cpu",
                       weights_only=True)
    if "base" in state["config"]:        # a context model (lic context)
        print(f"wrote {export_context(a.run_dir, as_model=a.as_model)}")
    else:
        print(f"wrote {export_run(a.run_dir, device=a.device_name)}")


def _ladder(a: argparse.Namespace) -> None:
    from .ladder import train_ladders
    recipe = {k: v for k, v in (("crop", a.crop), ("batch_size", a.batch_size))
              if v is not None}
    train_ladders(a.model, a.root, jobs=a.jobs, hours=a.hours,
                  last_start=a.last_start, **recipe)


def _context(a: argparse.Namespace) -> None:
    import time
    from .frozen import FrozenConfig, train_context
    deadline = time.time() + a.hours * 3600 if a.hours else None
    for lam in a.lmbda:
        for name in a.model:
            cfg = FrozenConfig(model=name, lmbda=lam,
                               iterations=a.iterations,
                               refit=tuple(a.refit), sizes=tuple(a.sizes),
                               colour=a.colour,
                               bf16={"auto": None, "on": True,
                                     "off": False}[a.bf16],
                               **{k: v for k, v in (("crop", a.crop),
                                                    ("crops", a.crops))
                                  if v is not None})
            train_context(cfg, Path(a.root) / cfg.name / f"{lam:g}",
                          deadline=deadline)
            if deadline and time.time() >= deadline:
                return


def _eval(a: argparse.Namespace) -> None:
    from .evaluate import evaluate_model
    model, lof = _model_and_lof(a)
    evaluate_model(model, a.dataset, limit=a.limit, device=a.device, lof=lof,
                   progress=True, allow_non_monotonic=a.allow_non_monotonic,
                   replace_larger=a.replace)


class _Given(argparse.Action):
    """Stores the value and notes that it was given on the command line."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        namespace.model_given = True


def _add_model_args(s) -> None:
    from .models import MODELS
    from .profiles import PROFILES
    s.add_argument("--model", default="mbt2018-mean", choices=list(MODELS),
                   action=_Given)
    s.add_argument("--profile", choices=list(PROFILES),
                   help="a codec profile (model chosen by measurement): "
                   + "; ".join(f"{k}: {p.model}, {p.summary}"
                               for k, p in PROFILES.items()))
    s.set_defaults(model_given=False)


def _add_codec(sub) -> None:
    from .models import MODELS
    s = sub.add_parser("compress", help="image → .lic with a shipped model")
    s.add_argument("input")
    s.add_argument("output")
    _add_model_args(s)
    s.add_argument("--quality", type=int, default=3,
                   help="1 (smallest) … 5: the trained λ ladder (6 is defined, not shipped)")
    s.add_argument("--lof", action="store_true",
                   help="overfit the latents to this image (slower "
                   "encoding, same decoder)")
    s.add_argument("--lof-iterations", type=int, default=200)
    s.add_argument("--device", default="cpu")
    s.set_defaults(func=_compress)
    s = sub.add_parser("decompress", help=".lic → PNG")
    s.add_argument("input")
    s.add_argument("output")
    s.add_argument("--device", default="cpu")
    s.set_defaults(func=_decompress)
    s = sub.add_parser("export", help="finished run → data/checkpoints")
    s.add_argument("run_dir")
    s.add_argument("--device-name", help="where it was trained, if the "
                   "run did not record it")
    s.add_argument("--as", dest="as_model", help="ship a context run under "
                   "this name of the same architecture (e.g. msp-balanced)")
    s.set_defaults(func=_export)
    s = sub.add_parser("eval", help="RD of a shipped model from real files")
    _add_model_args(s)
    s.add_argument("--lof", action="store_true",
                   help="code every image with latent overfitting")
    s.add_argument("--lof-iterations", type=int, default=200)
    s.add_argument("--dataset", default="kodak")
    s.add_argument("--limit", type=int, help="first N images only")
    s.add_argument("--device", default="cpu")
    s.add_argument("--allow-non-monotonic", action="store_true",
                   help="write the result even if a lower quality gives a "
                   "larger file or a higher PSNR (a defect, kept on record)")
    s.add_argument("--replace", action="store_true",
                   help="write the result even over one that averages more "
                   "images (a --limit run over a longer sweep)")
    s.set_defaults(func=_eval)
    s = sub.add_parser("ladder", help="train and export every λ of models")
    s.add_argument("--model", nargs="+", default=["mbt2018-mean"],
                   choices=list(MODELS))
    s.add_argument("--root", default="runs", help="folder of the runs")
    s.add_argument("--jobs", type=int, default=1,
                   help="runs trained at once, each in its own process")
    s.add_argument("--hours", type=float,
                   help="stop every run (resumably) after this long")
    s.add_argument("--last-start", type=float, metavar="HOURS",
                   help="start no new run after this long")
    s.add_argument("--crop", type=int, help="training crop side (default "
                   "128); another recipe retrains every λ, shipped ones "
                   "too: give it its own --root")
    s.add_argument("--batch-size", type=int, help="crops per step (default 8)")
    s.set_defaults(func=_ladder)
    s = sub.add_parser("context", help="train context models on the frozen "
                       "mean-scale model (MSP chapter)")
    s.add_argument("--model", nargs="+", required=True,
                   help="checkerboard, msp-<profile>, msp-s<S>k<K>, mbt2018, "
                        "pms-base, pms-extra")
    s.add_argument("--lmbda", nargs="+", type=float, default=[0.0067])
    s.add_argument("--iterations", type=int, default=3000)
    s.add_argument("--refit", nargs="+", default=[], metavar="PREFIX",
                   help="train these base parameters too (e.g. h_s.: the "
                        "hyper-synthesis, re-fit on the same latents)")
    s.add_argument("--crop", type=int, help="side of the cached training "
                   "crops (default 256)")
    s.add_argument("--crops", type=int, help="number of cached training "
                   "crops (default 2048)")
    s.add_argument("--sizes", nargs="+", type=int, default=[],
                   metavar="SIDE", help="train on windows of these sides "
                   "(multiples of 64) of the cached crops, in turn")
    s.add_argument("--colour", type=float, default=0.0, metavar="FRACTION",
                   help="re-colour this fraction of the cached crops "
                   "(channel order, saturation)")
    s.add_argument("--bf16", choices=["auto", "on", "off"], default="off",
                   help="the context network under bf16 autocast (auto: "
                        "where the CPU computes bf16 natively)")
    s.add_argument("--root", default="runs/context")
    s.add_argument("--hours", type=float,
                   help="stop (resumably) after this long")
    s.set_defaults(func=_context)


def _add_info(sub) -> None:
    s = sub.add_parser("info", help="what a .lic file holds (checked, "
                       "not decoded)")
    s.add_argument("files", nargs="+")
    s.set_defaults(func=_info)


def build_parser(only_info: bool = False) -> argparse.ArgumentParser:
    """The whole command line, or (``only_info``) just ``lic info``: the
    other commands' choices come from the model registry, which imports
    PyTorch and CompressAI, seconds that ``lic info`` does not need."""
    p = argparse.ArgumentParser(prog="lic", description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    _add_info(sub)
    if only_info:
        return p

    s = sub.add_parser("anchors", help="RD sweeps of the classical codecs")
    s.add_argument("--dataset", default="kodak")
    s.add_argument("--codecs", help="comma list of codecs (jpeg, jpeg2000, "
                   "webp, avif, hevc, vtm, vvenc, …; a wrong name lists all)")
    s.add_argument("--limit", type=int, help="first N images only")
    s.add_argument("--jobs", type=int, default=1,
                   help="codings run in parallel (VTM: one core each)")
    s.add_argument("--force", action="store_true",
                   help="rewrite result files that already exist")
    s.set_defaults(func=_anchors)

    s = sub.add_parser("bdrate", help="BD-rate of TEST vs ANCHOR result")
    s.add_argument("anchor")
    s.add_argument("test")
    s.add_argument("--metric", default="psnr-rgb",
                   choices=["psnr-rgb", "ms-ssim-db"])
    s.add_argument("--method", default="pchip", help="pchip (default) or cubic")
    s.set_defaults(func=_bdrate)

    s = sub.add_parser("data", help="verify data sets, generate OOD images")
    dsub = s.add_subparsers(dest="action", required=True)
    v = dsub.add_parser("verify", help="check SHA256 of data sets")
    v.add_argument("names", nargs="*")
    o = dsub.add_parser("ood", help="write the out-of-domain set as PNG")
    o.add_argument("outdir")
    o.add_argument("-n", type=int, default=12)
    s.set_defaults(func=_data_cmd)
    _add_train(sub)
    _add_codec(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(only_info=argv[:1] == ["info"]).parse_args(argv)
    try:
        args.func(args)
    except Exception as e:
        if not _is_user_error(e):
            raise
        print(f"lic: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
