"""Table 2 of Yu et al.: face verification through a codec with a face-privacy backdoor.

On the shared faces/pairs.csv (300 labelled pairs), each pair's first image is the enrolled
reference (clean, through the vanilla codec) and its second the probe, which goes through
(a) the vanilla codec, (b) the backdoored codec clean, (c) the backdoored codec poisoned.
The decision threshold is the one best on (a); accuracies at that threshold are printed
with the share of same-identity pairs still matched and their mean cosine similarity (the
identity is hidden when few are matched; accuracy alone then approaches the share of
different-identity pairs, what calling every pair "different" scores). All coding uses
real bitstreams.

    python benchmarks/backdoor_faces.py --artifact A [--trigger LABEL] [--bound 0.005] \
        [--codec bmshj2018-hyperprior-lite --quality 4]
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path

import torch

from licbench.bench.evaluate import code_image
from licbench.images import load_image
from licbench.plugin.manager import load_registry
from licbench.settings import Settings
from licbench_builtin.backdoor.training import Backdoor, apply_trigger
from licbench_builtin.downstream.mobilefacenet import accuracy_at, best_threshold


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--artifact", required=True, type=Path)
    p.add_argument("--trigger")
    p.add_argument("--bound", type=float, help="scale the trigger down to MSE <= bound² per face")
    p.add_argument("--codec", default="bmshj2018-hyperprior-lite")
    p.add_argument("--quality", type=int, default=4)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    root = Settings.from_env().data
    if root is None:
        raise SystemExit("set LICBENCH_DATA to the shared data folder")
    reg = load_registry()
    vanilla = reg.create("codec", args.codec, quality=args.quality)
    bd = Backdoor(args.artifact, reg)
    poisoned_codec = bd.apply(vanilla)
    trigger, goal = bd.trigger(args.trigger)
    net = reg.create("downstream", "mobilefacenet")
    rows = list(csv.DictReader((root / "faces" / "pairs.csv").open()))
    names = sorted({r["image_a"] for r in rows} | {r["image_b"] for r in rows})
    emb: dict[str, dict[str, torch.Tensor]] = {"a": {}, "b": {}, "c": {}}
    bpp: dict[str, list[float]] = {"a": [], "b": [], "c": []}
    with torch.no_grad():
        for name in names:
            x = load_image(root / "faces" / "pairs" / name)
            xp = apply_trigger(trigger, goal, x, bound=args.bound)
            for k, codec, inp in (
                ("a", vanilla, x),
                ("b", poisoned_codec, x),
                ("c", poisoned_codec, xp),
            ):
                x_hat, facts = code_image(codec, inp, estimate=False)
                emb[k][name] = net(x_hat)
                bpp[k].append(facts["bits"] / x.shape[-1] / x.shape[-2])
    labels = [int(r["same"]) for r in rows]

    def sims(k: str) -> torch.Tensor:
        a = torch.cat([emb["a"][r["image_a"]] for r in rows])
        b = torch.cat([emb[k][r["image_b"]] for r in rows])
        return torch.nn.functional.cosine_similarity(a, b)

    thr, clean_acc = best_threshold(sims("a"), labels)
    same = torch.tensor(labels).bool()
    reject_all = 1 - float(same.double().mean())  # the accuracy of calling every pair "different"
    print(
        f"{len(rows)} pairs ({int(same.sum())} same), threshold {thr:.3f} (best on vanilla); "
        f"calling every pair different scores {100 * reject_all:.2f} %"
    )
    for k, what in (
        ("a", "vanilla codec"),
        ("b", "backdoored, clean"),
        ("c", "backdoored, poisoned"),
    ):
        s = sims(k)
        print(
            f"{what:22s} accuracy {100 * accuracy_at(s, labels, thr):6.2f} %  "
            f"same pairs matched {100 * float((s[same] > thr).double().mean()):6.2f} %  "
            f"same-pair cosine {float(s[same].mean()):.3f}  bpp {sum(bpp[k]) / len(bpp[k]):.3f}"
        )


if __name__ == "__main__":
    main()
