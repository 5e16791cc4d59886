"""``python -m vae_teach bench``: the training engine against the usual DataLoader loop.

Both runs train pytorch/examples' reference VAE (MLP 784-400-20, Bernoulli decoder, BCE summed
over pixels + KL, Adam lr 1e-3, batch 128, continuous MNIST) on the same data, in one process:

1. the usual path: ``torchvision.datasets.MNIST`` + ``ToTensor`` + ``DataLoader(batch_size=128, shuffle=True)``,
   with the loop of pytorch/examples' ``vae/main.py`` (test loss evaluated each epoch through a DataLoader too);
2. ``vae_teach.train.fit`` on the in-memory tensor.

Prints seconds per epoch for each, ``speedup: <ratio>x``, and the wall time for ``fit`` to reach
the target test loss (105.6 nats per image). Writes the figures to BENCHMARKS.md.
"""
from __future__ import annotations

import platform
import time
from datetime import date
from pathlib import Path

import torch
import torch.nn.functional as F

from .data import data_root, load_mnist
from .models import build_model
from .train import fit


def _reference_loop(root: Path, epochs: int, seed: int) -> tuple[list[float], list[float]]:
    """The DataLoader path, as in pytorch/examples vae/main.py (same model architecture)."""
    from torch.utils.data import DataLoader
    from torchvision import datasets, transforms

    torch.manual_seed(seed)
    train = DataLoader(datasets.MNIST(str(root), train=True, download=False, transform=transforms.ToTensor()),
                       batch_size=128, shuffle=True)
    test = DataLoader(datasets.MNIST(str(root), train=False, download=False, transform=transforms.ToTensor()),
                      batch_size=128, shuffle=False)
    model = build_model(latent_dim=20)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)

    def loss_fn(x):
        out = model(x)
        bce = F.binary_cross_entropy(torch.sigmoid(out.x_params), x, reduction="sum")
        kld = -0.5 * torch.sum(1 + out.logvar - out.mu.pow(2) - out.logvar.exp())
        return bce + kld

    seconds, test_losses = [], []
    for _ in range(epochs):
        t0 = time.perf_counter()
        model.train()
        for x, _ in train:
            opt.zero_grad()
            loss = loss_fn(x)
            loss.backward()
            opt.step()
        model.eval()
        total = 0.0
        with torch.no_grad():
            for x, _ in test:
                total += loss_fn(x).item()
        seconds.append(time.perf_counter() - t0)
        test_losses.append(total / len(test.dataset))
        print(f"  DataLoader path: epoch {len(seconds):2d}  test {test_losses[-1]:.2f}  {seconds[-1]:.1f} s", flush=True)
    return seconds, test_losses


def run_speed_benchmark(epochs: int = 10, target: float = 105.6, root=None, seed: int = 1) -> dict:
    """Both paths for ``epochs`` epochs; returns per-epoch seconds, test losses and the time to ``target``."""
    root = data_root(root)
    x, _ = load_mnist(True, root)
    xt, _ = load_mnist(False, root)
    print(f"reference VAE 784-400-20, continuous MNIST, test loss = negative ELBO in nats per image")
    ref_s, ref_loss = _reference_loop(root, epochs, seed)
    model = build_model(latent_dim=20)
    hist = fit(model, x, xt, epochs=epochs, batch_size=128, lr=1e-3, seed=seed,
               callback=lambda e, m, h: print(f"  vae_teach.fit:   epoch {e:2d}  test {h.test_loss[-1]:.2f}  "
                                              f"{h.seconds[-1]:.1f} s", flush=True))
    ours = hist.seconds
    reached, cum = None, 0.0
    for s, loss in zip(ours, hist.test_loss):
        cum += s
        if loss <= target:
            reached = cum
            break
    return {"epochs": epochs, "ref_seconds": ref_s, "ref_test": ref_loss, "ours_seconds": ours,
            "ours_test": hist.test_loss, "ref_epoch_s": sum(ref_s) / len(ref_s),
            "ours_epoch_s": sum(ours) / len(ours), "target": target, "time_to_target": reached,
            "ref_total": sum(ref_s)}


def _markdown(speed: dict | None, nll: dict | None) -> str:
    lines = [
        "# Benchmarks",
        "",
        f"Measured by `python -m vae_teach bench` (and `bench --nll`) on {platform.machine()}, "
        f"{torch.get_num_threads()} torch threads, torch {torch.__version__}, CPU only.",
        "",
    ]
    if speed:
        lines += _speed_markdown(speed)
    if nll:
        lines += ["", "## Likelihood: IWAE NLL on dynamically binarized MNIST (`python -m vae_teach bench --nll`)", "",
                  "Target: IWAE-5000 test NLL at most 90 nats per image from a model trained in at most 20 minutes.", ""]
        lines += [f"- {k}: {v}" for k, v in nll.items()]
    return "\n".join(lines) + "\n"


def _speed_markdown(r: dict) -> list:
    lines = [
        "## Training speed: reference VAE (MLP 784-400-20, Bernoulli decoder, BCE summed + KL, Adam 1e-3, batch 128, continuous MNIST)",
        "",
        "Seconds per epoch include the test-set evaluation each epoch on both paths.",
        "",
        "| path | s / epoch | test negative ELBO after last epoch (nats per image) |",
        "| --- | --- | --- |",
        f"| torchvision `MNIST` + `ToTensor` + `DataLoader(128, shuffle=True)` | {r['ref_epoch_s']:.2f} | {r['ref_test'][-1]:.2f} |",
        f"| `vae_teach.train.fit` (in-memory tensor, indexed batches) | {r['ours_epoch_s']:.2f} | {r['ours_test'][-1]:.2f} |",
        "",
        f"speedup: {r['ref_epoch_s'] / r['ours_epoch_s']:.2f}x per epoch (target: at least 4x).",
        "",
    ]
    if r["time_to_target"] is not None:
        frac = r["time_to_target"] / r["ref_total"]
        lines.append(f"`vae_teach` reached a test loss of {r['target']} nats per image after "
                     f"{r['time_to_target']:.1f} s; the reference's {r['epochs']} epochs took {r['ref_total']:.1f} s "
                     f"(ratio {frac:.2f}; target: at most 0.20).")
    else:
        lines.append(f"`vae_teach` did not reach {r['target']} nats per image within {r['epochs']} epochs.")
    lines += ["", "Per epoch (test negative ELBO, nats per image / seconds):", "",
              "| epoch | DataLoader test | DataLoader s | vae_teach test | vae_teach s |", "| --- | --- | --- | --- | --- |"]
    for i in range(r["epochs"]):
        lines.append(f"| {i + 1} | {r['ref_test'][i]:.2f} | {r['ref_seconds'][i]:.2f} | {r['ours_test'][i]:.2f} | "
                     f"{r['ours_seconds'][i]:.2f} |")
    return lines


def _run_nll(args) -> dict:
    from .likelihood_bench import run_nll_benchmark

    nll = run_nll_benchmark(minutes=args.nll_minutes, k=args.k, root=args.data, n_test=args.nll_test_images)
    nll["measured"] = date.today().isoformat()
    for k, v in nll.items():
        print(f"{k}: {v}")
    return nll


def main(args) -> int:
    import json

    runs = Path("runs")
    runs.mkdir(exist_ok=True)
    if args.nll_only:
        speed = json.loads((runs / "bench_speed.json").read_text()) if (runs / "bench_speed.json").exists() else None
        nll = _run_nll(args)
        (runs / "bench_nll.json").write_text(json.dumps(nll, indent=1))
        Path(args.out).write_text(_markdown(speed, nll))
        print(f"wrote {args.out}")
        return 0
    speed = run_speed_benchmark(args.epochs, args.target, args.data)
    (runs / "bench_speed.json").write_text(json.dumps(speed, indent=1))
    ratio = speed["ref_epoch_s"] / speed["ours_epoch_s"]
    print(f"DataLoader path: {speed['ref_epoch_s']:.2f} s/epoch; vae_teach: {speed['ours_epoch_s']:.2f} s/epoch")
    print(f"speedup: {ratio:.2f}x")
    if speed["time_to_target"] is not None:
        print(f"time to test loss {args.target}: {speed['time_to_target']:.1f} s "
              f"(reference 10 epochs: {speed['ref_total']:.1f} s, ratio {speed['time_to_target'] / speed['ref_total']:.2f})")
    else:
        print(f"test loss {args.target} not reached in {args.epochs} epochs")
    nll = None
    if args.nll:
        nll = _run_nll(args)
        (runs / "bench_nll.json").write_text(json.dumps(nll, indent=1))
    elif (runs / "bench_nll.json").exists():
        nll = json.loads((runs / "bench_nll.json").read_text())  # an earlier `bench --nll` on this machine
    Path(args.out).write_text(_markdown(speed, nll))
    print(f"wrote {args.out}")
    return 0
