"""Command line, in the spirit of pytorch/examples' vae/main.py.

    python -m vae_teach train --latent 20 --epochs 10 [--arch mlp|conv] [--out runs/vae]
    python -m vae_teach bench [--epochs 10] [--nll]

``train`` prints the test negative ELBO per epoch (continuous MNIST, nats per image: BCE summed
over pixels + KL, mean over test images), saves a checkpoint and PNGs of samples and reconstructions.
``bench`` times the training engine against the usual torchvision DataLoader path and writes
BENCHMARKS.md (see ``vae_teach.tools.bench``).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path


def _train(args: argparse.Namespace) -> int:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import torch

    from . import plots
    from .data import load_mnist
    from .models import build_model, count_parameters
    from .train import TrainingDiverged, fit, save_checkpoint

    x, _ = load_mnist(True, args.data)
    xt, _ = load_mnist(False, args.data)
    if args.limit:
        x, xt = x[:args.limit], xt[:args.limit]
    model = build_model(arch=args.arch, latent_dim=args.latent, hidden=tuple(args.hidden))
    print(f"{args.arch.upper()} VAE, latent {args.latent}, {count_parameters(model):,} parameters; "
          f"continuous MNIST, BCE summed over pixels + KL, nats per image")

    def report(epoch, _model, hist):
        print(f"epoch {epoch:3d}  train {hist.train_loss[-1]:8.2f}  test {hist.test_loss[-1]:8.2f}  "
              f"(recon {hist.test_recon[-1]:.2f}, KL {hist.test_kl[-1]:.2f})  {hist.seconds[-1]:.1f} s", flush=True)

    out = Path(args.out)
    try:
        hist = fit(model, x, xt, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                   seed=args.seed, callback=report)
    except TrainingDiverged as err:
        save_checkpoint(out / "checkpoint_diverged.pt", model, err.history)
        print(f"error: {err}\nThe last finite model was saved to {out / 'checkpoint_diverged.pt'}", file=sys.stderr)
        return 1
    ckpt = save_checkpoint(out / "checkpoint.pt", model, hist, seed=args.seed)
    g = torch.Generator().manual_seed(args.seed)
    plots.show_grid(model.sample(64, generator=g), nrow=8, title="samples from the prior (mean of p(x|z))")
    plt.savefig(out / "samples.png", dpi=120, bbox_inches="tight"); plt.close("all")
    plots.show_reconstructions(xt[:10], model.reconstruct(xt[:10]), n=10, title="test digits (top), reconstructions")
    plt.savefig(out / "reconstructions.png", dpi=120, bbox_inches="tight"); plt.close("all")
    print(f"final test negative ELBO: {hist.test_loss[-1]:.2f} nats per image")
    print(f"saved {ckpt}, {out / 'samples.png'}, {out / 'reconstructions.png'}")
    return 0


def _bench(args: argparse.Namespace) -> int:
    from .tools.bench import main as bench_main

    return bench_main(args)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vae_teach", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a VAE on MNIST")
    t.add_argument("--latent", type=int, default=20)
    t.add_argument("--epochs", type=int, default=10)
    t.add_argument("--batch-size", type=int, default=128)
    t.add_argument("--lr", type=float, default=1e-3)
    t.add_argument("--arch", choices=["mlp", "conv"], default="mlp")
    t.add_argument("--hidden", type=int, nargs="+", default=[400])
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--data", default=None, help="data root (default: $VAE_TEACH_DATA, else ./data)")
    t.add_argument("--out", default="runs/vae")
    t.add_argument("--limit", type=int, default=0, help="use only the first N train and test images (quick tries)")
    b = sub.add_parser("bench", help="benchmark the training engine against a DataLoader loop")
    b.add_argument("--epochs", type=int, default=10)
    b.add_argument("--target", type=float, default=105.6)
    b.add_argument("--rounds", type=int, default=2, help="alternate reference and fit this many times")
    b.add_argument("--data", default=None)
    b.add_argument("--nll", action="store_true", help="also train on binarized MNIST and report IWAE-5000 NLL")
    b.add_argument("--nll-only", action="store_true", help="run only the likelihood benchmark")
    b.add_argument("--nll-minutes", type=float, default=20.0)
    b.add_argument("--k", type=int, default=5000)
    b.add_argument("--nll-test-images", type=int, default=None, help="evaluate on the first N test images (default: all)")
    b.add_argument("--out", default="BENCHMARKS.md")
    args = p.parse_args(argv)
    try:
        return _train(args) if args.cmd == "train" else _bench(args)
    except FileNotFoundError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    raise SystemExit(main())
