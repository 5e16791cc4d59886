"""Command line, in the spirit of pytorch/examples' vae/main.py.

    python -m vae_teach train --latent 20 --epochs 10 [--arch mlp|conv] [--out runs/vae]
    python -m vae_teach bench [--epochs 10] [--nll]

``train`` prints the test negative ELBO per epoch (continuous MNIST, nats per image: BCE summed
over pixels + KL, mean over test images), saves a checkpoint and PNGs of samples and reconstructions.
Arguments are checked before any data is read or any training starts: ``--epochs`` >= 1 (so a rerun
cannot replace a trained checkpoint with an untrained one), ``--limit`` >= 0 (0 = all images), ``--out``
a writable folder. A usage error prints ``error: ...`` and exits with status 2.
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
    from .precision import pick_device, resolve_precision
    from .train import TrainingDiverged, fit, save_checkpoint

    x, _ = load_mnist(True, args.data)
    xt, _ = load_mnist(False, args.data)
    if args.limit:  # 0 = all (validated >= 0 before we get here)
        x, xt = x[:args.limit], xt[:args.limit]
    device = pick_device(args.device)
    model = build_model(arch=args.arch, latent_dim=args.latent, hidden=tuple(args.hidden)).to(device)
    print(f"{args.arch.upper()} VAE, latent {args.latent}, {count_parameters(model):,} parameters; "
          f"continuous MNIST, BCE summed over pixels + KL, nats per image")
    print(f"device {device}, precision {resolve_precision(args.precision, device)} (asked: {args.precision})")

    def report(epoch, _model, hist):
        print(f"epoch {epoch:3d}  train {hist.train_loss[-1]:8.2f}  test {hist.test_loss[-1]:8.2f}  "
              f"(recon {hist.test_recon[-1]:.2f}, KL {hist.test_kl[-1]:.2f})  {hist.seconds[-1]:.1f} s", flush=True)

    out = Path(args.out)  # checked to be a writable folder before loading anything
    try:
        hist = fit(model, x, xt, epochs=args.epochs, batch_size=args.batch_size, lr=args.lr,
                   seed=args.seed, callback=report, precision=args.precision)
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


def _at_least(minimum: int, why: str = ""):
    """An argparse type: an integer >= minimum, with the value (and why) in the error message."""
    def parse(text: str) -> int:
        try:
            v = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
        if v < minimum:
            raise argparse.ArgumentTypeError(f"must be >= {minimum}, got {v}{why}")
        return v
    return parse


def _positive_float(text: str) -> float:
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (v > 0 and v < float("inf")):
        raise argparse.ArgumentTypeError(f"must be a positive finite number, got {text}")
    return v


def _check_out_folder(parser: argparse.ArgumentParser, out: str) -> None:
    """--out must be a folder we can write to; checked (and created) before any training."""
    path = Path(out)
    if path.exists() and not path.is_dir():
        parser.error(f"argument --out: {out} is an existing file; --out names a folder for checkpoint.pt "
                     "and the PNGs: pick a folder name (e.g. runs/vae)")
    try:
        path.mkdir(parents=True, exist_ok=True)
        import tempfile
        with tempfile.TemporaryFile(dir=path):
            pass
    except OSError as e:
        parser.error(f"argument --out: cannot write to {out} ({e.strerror or e}); pick a writable folder")


def _bench(args: argparse.Namespace) -> int:
    from .tools.bench import main as bench_main

    return bench_main(args)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m vae_teach", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    t = sub.add_parser("train", help="train a VAE on MNIST")
    t.add_argument("--latent", type=_at_least(1), default=20)
    t.add_argument("--epochs", type=_at_least(1, " (0 epochs would save an untrained model as checkpoint.pt)"), default=10)
    t.add_argument("--batch-size", type=_at_least(1), default=128)
    t.add_argument("--lr", type=_positive_float, default=1e-3)
    t.add_argument("--arch", choices=["mlp", "conv"], default="mlp")
    t.add_argument("--hidden", type=_at_least(1), nargs="+", default=[400])
    t.add_argument("--seed", type=int, default=1)
    t.add_argument("--data", default=None, help="data root (default: $VAE_TEACH_DATA, else ./data)")
    t.add_argument("--out", default="runs/vae")
    t.add_argument("--precision", choices=["auto", "fp32", "bf16"], default="auto",
                   help="auto: bf16 autocast where the hardware has native bf16, else fp32")
    t.add_argument("--device", choices=["auto", "cpu", "cuda"], default="auto", help="auto: cuda if available")
    t.add_argument("--limit", type=_at_least(0, " (0 = all images; N > 0 = the first N)"), default=0, help="use only the first N train and test images (quick tries)")
    b = sub.add_parser("bench", help="benchmark the training engine against a DataLoader loop")
    b.add_argument("--epochs", type=_at_least(1), default=10)
    b.add_argument("--target", type=float, default=105.6)
    b.add_argument("--rounds", type=_at_least(1), default=2, help="alternate reference and fit this many times")
    b.add_argument("--data", default=None)
    b.add_argument("--nll", action="store_true", help="also train on binarized MNIST and report IWAE-5000 NLL")
    b.add_argument("--nll-only", action="store_true", help="run only the likelihood benchmark")
    b.add_argument("--nll-minutes", type=_positive_float, default=20.0)
    b.add_argument("--k", type=_at_least(1), default=5000)
    b.add_argument("--nll-test-images", type=_at_least(1), default=None, help="evaluate on the first N test images (default: all)")
    b.add_argument("--out", default="BENCHMARKS.md")
    from .zoo.__main__ import add_parser as _zoo_parser

    _zoo_parser(sub)
    try:
        args = p.parse_args(argv)
        if args.cmd == "train":
            _check_out_folder(t, args.out)
    except SystemExit as e:  # argparse printed "usage ... error: ..." (or --help); return its code
        return e.code if isinstance(e.code, int) else 2
    # Errors in what the user gave (a missing data folder, a bad value the package refuses) print
    # one "error: ..." line and exit 2, not a traceback; a bug in the package still shows its traceback.
    try:
        if args.cmd == "zoo":
            from .zoo.__main__ import run as _zoo

            return _zoo(args)
        return _train(args) if args.cmd == "train" else _bench(args)
    except (OSError, ValueError, TypeError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("error: interrupted (Ctrl-C)", file=sys.stderr)
        return 130


if __name__ == "__main__":
    raise SystemExit(main())
