"""Why the mean-scale ladder was not monotonic on 2K photographs, measured
before and after the re-fit of its hyper-synthesis (hyperprior chapter).

For every λ of the ladder: the mean-scale model as trained (its
checkpoints at commit ``--before``, read with ``git show`` and checked
against the ``previous_sha256`` of each re-fit record) and as shipped
(h_s re-fit on 128²–512² windows, half of the crops re-coloured).  On
every ``clic2025`` image, as it is and with its red and blue channels
swapped, the estimated rate split into ẑ, ŷ and the ŷ elements that miss
their predicted mean by more than 6 σ (:mod:`lic_lib.misfit`); and the
rate on 128²/256²/512² tiles of the first 4 Kodak images.

Writes data/results/experiments/hyperprior_misfit.json (the chapter reads
it).  About 10 minutes on 2 cores.

    python tools/hyperprior_misfit.py [--before 8a6f149]
"""
import argparse
import hashlib
import io
import json
import subprocess
import warnings

warnings.filterwarnings("ignore", category=FutureWarning)

import torch  # noqa: E402
from tqdm.auto import tqdm  # noqa: E402

from lic_lib.checkpoints import LAMBDAS, checkpoint_path, load_checkpoint  # noqa: E402,E501
from lic_lib.codec import image_tensor  # noqa: E402
from lic_lib.config import ROOT  # noqa: E402
from lic_lib.data import eval_images, sha256  # noqa: E402
from lic_lib.misfit import SURPRISE, rate_split  # noqa: E402
from lic_lib.results import RESULTS, provenance  # noqa: E402
from lic_lib.rate_estimate import rate_on_tiles  # noqa: E402

OUT = RESULTS / "experiments" / "hyperprior_misfit.json"
MODEL = "mbt2018-mean"


def as_trained(lam: float, commit: str):
    """The checkpoint at λ before its re-fit, from git history."""
    rel = checkpoint_path(MODEL, lam).relative_to(ROOT)
    blob = subprocess.run(["git", "show", f"{commit}:{rel}"], cwd=ROOT,
                          capture_output=True, check=True).stdout
    record = json.loads(checkpoint_path(MODEL, lam).with_suffix(
        ".json").read_text())
    want = record["refits"][0]["previous_sha256"]
    if hashlib.sha256(blob).hexdigest() != want:
        raise SystemExit(f"{commit}:{rel} is not the checkpoint re-fit "
                         f"({want[:12]}…)")
    net, _ = load_checkpoint(MODEL, lam)
    weights = torch.load(io.BytesIO(blob), map_location="cpu",
                         weights_only=True)
    shipped = net.state_dict()
    for k, v in weights.items():       # the re-fit changed h_s only
        if not k.startswith("h_s.") and k in shipped:
            assert torch.equal(v.float(), shipped[k].float()), k
    torch.nn.Module.load_state_dict(
        net, {k: v.float() for k, v in weights.items()
              if k.startswith("h_s.")}, strict=False)
    return net.eval(), want


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--before", default="8a6f149",
                   help="a commit whose mean-scale checkpoints predate the "
                   "re-fit")
    a = p.parse_args()
    images = [(stem, image_tensor(img)) for stem, img in
              eval_images("clic2025")]
    kodak = [image_tensor(img)[0] for _, img in eval_images("kodak",
                                                             limit=4)]
    rows, tiles, shas = [], [], {}
    for lam in tqdm(LAMBDAS[:5], desc="λ"):
        before, sha_before = as_trained(lam, a.before)
        after, _ = load_checkpoint(MODEL, lam)
        shas[str(lam)] = {"as trained": sha_before,
                          "re-fit": sha256(checkpoint_path(MODEL, lam))}
        for label, net in (("as trained", before), ("re-fit", after)):
            for stem, x in images:
                for variant, xx in (("rgb", x), ("bgr", x[:, [2, 1, 0]])):
                    rows.append({"lmbda": lam, "h_s": label, "image": stem,
                                 "colours": variant, **rate_split(net, xx)})
            tiles.append({"lmbda": lam, "h_s": label,
                          **{f"{k}": v for k, v in
                             rate_on_tiles(net, kodak).items()}})
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(json.dumps({
        "what": "estimated bpp (likelihoods, rounding) of the mean-scale "
                f"ladder as trained and after the h_s re-fit; surprises: "
                f"|y - mu| > {SURPRISE:g} sigma; tiles: first 4 Kodak images",
        "checkpoints_sha256": shas, "rows": rows, "tiles_bpp": tiles,
        "meta": provenance("clic2025", len(images), before=a.before)},
        indent=1) + "\n")
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
