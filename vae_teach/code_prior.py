"""An autoregressive prior over VQ-VAE code maps (chapter 16).

A VQ-VAE is trained with a uniform prior over its codes; sampling with that prior draws every position's
code independently, which gives maps no digit ever produced. This prior reads the 7 x 7 code map in raster
order c_1, ..., c_49 and factorizes it exactly,

    log p(c) = sum_{i=1}^{49} log p(c_i | c_1, ..., c_{i-1}),

with a GRU (Cho et al., 2014): its input at step i is the embedding of the previous code (a start token at
i = 1) plus a learned embedding of the position i, and a linear layer maps its state to the K logits of
p(c_i | c_<i). A GRU rather than a PixelCNN: sampling then costs one small recurrent step per position,
not 49 passes of a convolutional net, so 10,000 samples take seconds on a CPU.

It is trained on the code maps of the training images (:func:`fit_prior`), by maximum likelihood.
"""
from __future__ import annotations

import math
import time

import torch
from torch import nn

from .train import History, make_adam
from .validate import integer, real_number


class CodePrior(nn.Module):
    """p(c) over code maps [N, H, W] with entries in 0..K-1, autoregressive in raster order."""

    def __init__(self, codebook_size: int, map_shape: tuple = (7, 7), embed: int = 32, hidden: int = 128):
        super().__init__()
        self.codebook_size = integer("codebook_size", codebook_size, minimum=1)
        self.map_shape = tuple(integer("map_shape", s, minimum=1) for s in map_shape)
        self.length = self.map_shape[0] * self.map_shape[1]
        self.embed = nn.Embedding(codebook_size + 1, embed)  # index K = the start token
        self.position = nn.Embedding(self.length, embed)
        self.gru = nn.GRU(embed, hidden, batch_first=True)
        self.head = nn.Linear(hidden, codebook_size)

    def _check(self, codes: torch.Tensor) -> torch.Tensor:
        if not torch.is_tensor(codes) or codes.dtype not in (torch.int64, torch.int32):
            raise TypeError("codes must be an integer tensor [N, H, W] of code indices")
        if codes.dim() != 3 or tuple(codes.shape[1:]) != self.map_shape:
            raise ValueError(f"codes must have shape [N, {self.map_shape[0]}, {self.map_shape[1]}], got {tuple(codes.shape)}")
        if codes.numel() and (int(codes.min()) < 0 or int(codes.max()) >= self.codebook_size):
            raise ValueError(f"codes must lie in 0..{self.codebook_size - 1}, got values in "
                             f"{int(codes.min())}..{int(codes.max())}")
        return codes.long().flatten(1)

    def logits(self, codes: torch.Tensor) -> torch.Tensor:
        """Logits of p(c_i | c_<i) at every position, [N, 49, K] (teacher forcing)."""
        c = self._check(codes)
        start = torch.full((c.shape[0], 1), self.codebook_size, dtype=torch.long, device=c.device)
        inputs = torch.cat([start, c[:, :-1]], dim=1)
        h, _ = self.gru(self.embed(inputs) + self.position.weight)
        return self.head(h)

    def log_prob(self, codes: torch.Tensor) -> torch.Tensor:
        """log p(c) in nats per code map, [N]."""
        logp = torch.log_softmax(self.logits(codes), dim=-1)
        return logp.gather(2, self._check(codes).unsqueeze(2)).squeeze(2).sum(1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None, temperature: float = 1.0) -> torch.Tensor:
        """n code maps [n, H, W] drawn one position at a time from p(c_i | c_<i) (softmax(logits / temperature))."""
        n = integer("n", n, minimum=1)
        temperature = real_number("temperature", temperature, minimum=0.0, strict=True)
        was = self.training
        self.eval()
        dev = self.head.weight.device
        prev = torch.full((n, 1), self.codebook_size, dtype=torch.long, device=dev)
        state, out = None, []
        for i in range(self.length):
            h, state = self.gru(self.embed(prev) + self.position.weight[i], state)
            probs = torch.softmax(self.head(h[:, 0]) / temperature, dim=-1)
            prev = torch.multinomial(probs.cpu(), 1, generator=generator).to(dev)
            out.append(prev)
        self.train(was)
        return torch.cat(out, dim=1).view(n, *self.map_shape)


@torch.no_grad()
def mean_nll(prior: CodePrior, codes: torch.Tensor, batch_size: int = 2000) -> float:
    """-(1/N) sum_n log p(c_n): nats per code map, averaged over the maps ``codes`` [N, H, W]."""
    was = prior.training
    prior.eval()
    total = sum(float(-prior.log_prob(codes[i:i + batch_size]).double().sum()) for i in range(0, len(codes), batch_size))
    prior.train(was)
    return total / len(codes)


def fit_prior(prior: CodePrior, train_codes: torch.Tensor, test_codes: torch.Tensor | None = None, *,
              epochs: int = 10, batch_size: int = 128, lr: float = 2e-3, lr_schedule: str = "cosine",
              seed: int = 0) -> History:
    """Maximum likelihood for the prior with Adam; returns a History of nats per code map (train / test).

    Not :func:`vae_teach.train.fit`: that loop trains image models (it checks and batches images
    [N, 1, 28, 28]); the data here are integer code maps. Same recipe: a seeded permutation per epoch and
    the cosine schedule lr_t = lr/20 + (lr - lr/20)(1 + cos(pi t / T)) / 2.
    """
    epochs = integer("epochs", epochs, minimum=0)
    batch_size = integer("batch_size", batch_size, minimum=1)
    if lr_schedule not in ("constant", "cosine"):
        raise ValueError(f"lr_schedule must be 'constant' or 'cosine', got {lr_schedule!r}")
    prior._check(train_codes)
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    opt = make_adam(prior.parameters(), lr=lr)
    hist = History()
    n = train_codes.shape[0]
    steps = math.ceil(n / batch_size)
    for epoch in range(epochs):
        t0 = time.perf_counter()
        prior.train()
        perm, total = torch.randperm(n, generator=g), 0.0
        for s in range(steps):
            if lr_schedule == "cosine":
                for group in opt.param_groups:
                    group["lr"] = lr / 20 + (lr - lr / 20) * 0.5 * (1 + math.cos(math.pi * (epoch * steps + s) / (epochs * steps)))
            batch = train_codes[perm[s * batch_size:(s + 1) * batch_size]]
            loss = -prior.log_prob(batch).mean()
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            total += float(loss.detach()) * batch.shape[0]
        hist.train_loss.append(total / n)
        if test_codes is not None:
            hist.test_loss.append(mean_nll(prior, test_codes))
        hist.seconds.append(time.perf_counter() - t0)
    prior.eval()
    return hist
