"""Mixed precision and devices for training (chapter 5).

Mixed precision, as ``fit(..., precision="bf16")`` uses it: the forward pass runs under
``torch.autocast(device, dtype=torch.bfloat16)``, so the matrix multiplies and convolutions take
bfloat16 inputs (8 bits of mantissa, the same 8-bit exponent as float32, so no loss scaling is
needed), while

* the weights stay float32 ("master weights"): Adam's update lr * m / (sqrt(v) + eps) is often
  smaller than bf16's spacing near a weight (2^-8 relative), so it would round away;
* the optimizer state (m, v) stays float32;
* the loss (likelihood and KL, summed over 784 pixels) is computed in float32 from the
  network's outputs, and accumulated over the epoch in float64;
* evaluation (test negative ELBO, IWAE, active units) always runs in float32.

``precision="auto"`` picks bf16 only where the hardware multiplies bf16 natively, fp32 elsewhere:
on a CUDA device, ``torch.cuda.is_bf16_supported()``; on a CPU, oneDNN's bf16 support for this
process (``torch.ops.mkldnn._is_mkldnn_bf16_supported()``, which is False when the dispatch is
limited, e.g. ``ONEDNN_MAX_CPU_ISA=AVX2``) **and** the CPU flags ``avx512_bf16`` or ``amx_bf16``
(Linux ``/proc/cpuinfo``). A CPU with AVX-512 but without those flags only emulates bf16, which is
slower than fp32; an unknown platform gets fp32.
"""
from __future__ import annotations

import contextlib
from functools import lru_cache

import torch

PRECISIONS = ("fp32", "bf16", "auto")
_flushing = 0  # how many flush_denormals() contexts are open (they nest: fit inside a caller's context)


@contextlib.contextmanager
def flush_denormals():
    """Inside the context, the CPU treats float32 / float64 numbers below the smallest normal one (2^-126 ~ 1.2e-38
    in float32) as zero (x86 FTZ / DAZ, ``torch.set_flush_denormal``); on leaving, it no longer does.

    Why: a trained VAE's decoder is sure of most background pixels, with logits around -90, so the BCE's
    exp(-|l|) and sigmoid(l) fall into that range, where x86 CPUs take a slow path: measured on this book's machines,
    a training step of a converged chapter-13 model took 34 ms with denormals and 17 ms without, and a long zoo run
    slowed from 8 to 17 s per epoch as the model grew confident (an Intel Xeon, 2026-12-06). It does not change the
    computation in any way the book can see: such a number is below half a unit in the last place of every term it is
    added to (log(1 + 1e-39) is 0 in float32 either way), so losses are unchanged and updates differ by under 1e-30.
    ``fit`` and the IWAE evaluation run inside it. Nested contexts are fine: the outermost one restores the default.
    """
    global _flushing
    supported = torch.set_flush_denormal(True)  # False on a CPU without SSE3: then nothing changes
    _flushing += 1
    try:
        yield supported
    finally:
        _flushing -= 1
        if supported and _flushing == 0:
            torch.set_flush_denormal(False)


@lru_cache(maxsize=None)
def _cpu_flags() -> frozenset[str]:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return frozenset(line.split(":", 1)[1].split())
    except OSError:
        pass
    return frozenset()


def cpu_name() -> str:
    """The CPU's model name (Linux ``/proc/cpuinfo``; else what :mod:`platform` knows): recorded with every timing."""
    import platform
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def bf16_native(device: torch.device | str = "cpu") -> bool:
    """True when ``device`` multiplies bfloat16 in hardware (see the module docstring)."""
    device = torch.device(device)
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type != "cpu":
        return False
    try:
        onednn = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        onednn = False
    return onednn and bool(_cpu_flags() & {"avx512_bf16", "amx_bf16"})


def resolve_precision(precision: str, device: torch.device | str = "cpu") -> str:
    """"fp32" or "bf16": the precision that ``precision`` ("fp32", "bf16" or "auto") means on ``device``."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    if precision == "auto":
        return "bf16" if bf16_native(device) else "fp32"
    return precision


def autocast(precision: str, device: torch.device | str = "cpu"):
    """The context for a forward pass in ``precision`` ("fp32": no autocast; "bf16": bf16 autocast)."""
    device = torch.device(device)
    if resolve_precision(precision, device) == "fp32":
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=torch.bfloat16)


def model_device(model: torch.nn.Module) -> torch.device:
    """The one device all of ``model``'s parameters live on (an error if they are split)."""
    devices = {p.device for p in model.parameters()}
    if len(devices) > 1:
        raise ValueError(f"the model's parameters are on several devices {sorted(map(str, devices))}; "
                         "move the whole model with model.to(device)")
    return devices.pop() if devices else torch.device("cpu")


def pick_device(device: str = "auto") -> torch.device:
    """"auto" -> cuda when a GPU is available, else cpu; "cpu" / "cuda" as given (the CLI's --device)."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device not in ("cpu", "cuda") and not str(device).startswith("cuda:"):
        raise ValueError(f"device must be 'auto', 'cpu' or 'cuda', got {device!r}")
    if str(device).startswith("cuda") and not torch.cuda.is_available():
        raise ValueError(f"device {device!r} was asked for but torch sees no CUDA GPU here; use --device cpu")
    return torch.device(device)
