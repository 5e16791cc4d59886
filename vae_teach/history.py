"""What ``fit`` records (chapter 5): the per-epoch :class:`History`, and the :class:`TrainingDiverged` error that
carries it when the loss stops being finite. Both are re-exported by :mod:`vae_teach.train`."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field


class TrainingDiverged(RuntimeError):
    """The loss became NaN or infinite. ``history`` holds the epochs completed before it."""

    def __init__(self, message: str, epoch: int, step: int, history: "History"):
        super().__init__(message)
        self.epoch, self.step, self.history = epoch, step, history


@dataclass
class History:
    """Per-epoch means, in nats per image: loss = recon + beta * kl (kl = 0 for an AE), or with
    ``fit(objective=...)`` the objective that was minimized; ``*_nelbo`` = recon + kl, the true
    negative ELBO. Test values are always the negative beta-ELBO at fit's ``beta``."""

    train_loss: list = field(default_factory=list)
    train_recon: list = field(default_factory=list)
    train_kl: list = field(default_factory=list)
    test_loss: list = field(default_factory=list)
    test_recon: list = field(default_factory=list)
    test_kl: list = field(default_factory=list)
    # The true negative ELBO (recon + kl: beta = 1, no free-bits clamp), whatever the training
    # objective was (chapter 12); for an AE it equals the reconstruction term.
    train_nelbo: list = field(default_factory=list)
    test_nelbo: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    precision: str = "fp32"  # of the latest fit call: "fp32" or "bf16" (autocast forward pass)

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def to_dict(self) -> dict:
        return asdict(self)

    def __repr__(self) -> str:
        if not self.train_loss:
            return "History(empty)"
        last = f"train {self.train_loss[-1]:.2f}"
        if self.test_loss:
            last += f", test {self.test_loss[-1]:.2f}"
        return f"History({self.epochs} epochs, last: {last} nats/image)"
