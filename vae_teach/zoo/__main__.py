"""``python -m vae_teach zoo ...`` (also reachable as ``python -m vae_teach.zoo``)."""
from __future__ import annotations

import argparse
import sys


def add_parser(sub) -> argparse.ArgumentParser:
    z = sub.add_parser("zoo", help="the model zoo: list, train, verify the shipped models")
    zs = z.add_subparsers(dest="zoo_cmd", required=True)
    zs.add_parser("list", help="the registry, one row per model, with its manifest figures")
    t = zs.add_parser("train", help="train models from scratch and overwrite their shipped weights")
    t.add_argument("names", nargs="*")
    t.add_argument("--all", action="store_true")
    t.add_argument("--jobs", type=int, default=1, metavar="N",
                   help="train N models at once, one process each, the cores split between them (default 1)")
    v = zs.add_parser("verify", help="recompute every model's test metrics from its weights; compare with the manifest")
    v.add_argument("--retrain", nargs="+", default=[], metavar="NAME",
                   help="also retrain NAME from scratch (weights are replaced) and compare its metrics")
    n = zs.add_parser("nll", help="measure IWAE-k NLL on all 10,000 binarized test images; record it in the manifest")
    n.add_argument("names", nargs="+")
    n.add_argument("--k", type=int, default=5000)
    return z


def run(args) -> int:
    from . import specs, store
    from .build import train, verify

    if args.zoo_cmd == "list":
        manifest = store.read_manifest()
        print(f"{'name':<20} {'ch.':<9} {'kind':<11} {'data':<8} {'precision':<9} {'minutes':>7}  metrics")
        for name, s in specs.SPECS.items():
            e = manifest.get(name, {})
            mins = f"{e['train seconds'] / 60:.1f}" if e else "-"
            print(f"{name:<20} {s.chapter:<9} {s.kind:<11} {s.dataset:<8} {e.get('precision', '-'):<9} {mins:>7}  "
                  f"{e.get('metrics', 'not trained')}")
        files = [store.weights_path(n) for n in specs.SPECS if store.weights_path(n).exists()]
        minutes = sum(manifest[n]["train seconds"] for n in specs.SPECS if n in manifest) / 60
        print(f"{len(files)} weights files, {sum(f.stat().st_size for f in files) / 1e6:.2f} MB (budget 40 MB); "
              f"recorded training time {minutes:.0f} min, each model as it ran (threads and CPU: `zoo.entry(name)`)")
        return 0
    if args.zoo_cmd == "train":
        names = list(specs.SPECS) if args.all else args.names
        if not names:
            print("error: name models to train, or --all", file=sys.stderr)
            return 2
        for n in names:
            specs.get(n)  # every name checked before any training
        if args.jobs != 1:
            from .jobs import train_parallel

            return train_parallel(names, args.jobs)
        from .jobs import order

        for n in order(names):  # a model that starts from another comes after it
            e = train(n)
            print(f"{n}: {e['metrics']} ({e['train seconds'] / 60:.1f} min, {e['precision']})", flush=True)
        return 0
    if args.zoo_cmd == "nll":  # chapters 12-14: half an hour of CPU per model at k = 5000
        from .build import nll

        for n in args.names:
            specs.get(n)
        for n in args.names:
            r = nll(n, k=args.k)
            print(f"{n}: IWAE-{r['k']} NLL {r['nats/image']:.2f} +- {r['standard error']:.2f} nats per image on "
                  f"{r['test images']} test images ({r['eval minutes']:.1f} min, {r['threads']} threads)", flush=True)
        return 0
    before = {n: store.read_manifest().get(n, {}).get("metrics") for n in args.retrain}
    for n in args.retrain:
        specs.get(n)
    for n in args.retrain:
        e = train(n)
        # A retrain on another machine follows another rounding path; the recipe must land close.
        tol = 0.002 if specs.get(n).kind == "classifier" else 1.0
        for k, v in e["metrics"].items():
            old = (before[n] or {}).get(k)
            ok = old is not None and abs(v - old) <= tol
            print(f"{n}: retrained {k} = {v} (shipped: {old}; tolerance {tol}): {'ok' if ok else 'MISMATCH'}")
            if not ok:
                return 1
    problems = verify()
    for p in problems:
        print(f"MISMATCH {p}")
    print("zoo verify: " + ("all models match the manifest" if not problems else f"{len(problems)} problem(s)"))
    return 1 if problems else 0


if __name__ == "__main__":
    p = argparse.ArgumentParser(prog="python -m vae_teach.zoo")
    add_parser(p.add_subparsers(dest="cmd", required=True))
    raise SystemExit(run(p.parse_args(["zoo", *sys.argv[1:]])))
