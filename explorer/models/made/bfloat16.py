"""Matrix products in bfloat16: the same float32 weights, multiplied at half the bytes per number.

On a CPU with bfloat16 dot-product instructions (x86 `avx512_bf16` or `amx_bf16`), a linear layer's
product for the short inputs of this app (20-odd tokens, where float32 products run at half the core's
peak) is about 1.7 times as fast in bfloat16, rounding the weight included; a masked-LM pass about 1.5
times. A layer given `use_bfloat16_products` keeps its float32 weight (shared, never written): at each
call the weight is rounded into a bfloat16 scratch buffer of the calling thread (reused: a new buffer at
each call cost 3 times as much, its pages faulted in every time), the input is rounded too, and oneDNN
sums the products in float32 and rounds the result to bfloat16, which goes on as float32. Everything
else (normalisation, attention scores and softmax, the residual stream, low-rank updates, the vocabulary
head) stays float32.

What it changes: each product's inputs carry 8 significant bits instead of 24. On the masked LM's
development blanks that moved no top-10 probability by more than 0.016 (mean KL 2e-4 nats, the same top
guess on all 100: `bench/REPORT.md`, section 7). It applies only where no gradient is recorded; with
autograd on, the layer is an ordinary float32 `nn.Linear`. Where the CPU lacks the instructions the
products would be emulated (not measured here, and not expected to be faster), so `enabled()` is false
there. ``SSL_EXPLORER_BF16=0`` (or ``1``) overrides the choice.
"""

from __future__ import annotations

import functools
import os
import threading
from pathlib import Path
from typing import Iterable

import torch
from torch import nn
from torch.nn import functional as F

ENV = "SSL_EXPLORER_BF16"
CPU_FLAGS = ("avx512_bf16", "amx_bf16")  # x86 instructions that multiply bfloat16 pairs natively


@functools.lru_cache(maxsize=1)
def native_bfloat16(cpuinfo: str = "/proc/cpuinfo") -> bool:
    """Whether this CPU multiplies bfloat16 numbers natively (read from the kernel's CPU flags)."""
    try:
        text = Path(cpuinfo).read_text(errors="replace")
    except OSError:
        return False
    flags = next((line.split(":", 1)[1].split() for line in text.splitlines() if line.startswith("flags")), [])
    return any(f in flags for f in CPU_FLAGS)


def enabled() -> bool:
    """Whether models should use bfloat16 products here: ``SSL_EXPLORER_BF16`` when set to 0 or 1,
    else whether the CPU has the instructions for them."""
    value = os.environ.get(ENV, "").strip().lower()
    if value in ("0", "false", "no", "off"):
        return False
    if value in ("1", "true", "yes", "on"):
        return True
    return native_bfloat16()


_scratch = threading.local()


def _rounded(weight: torch.Tensor) -> torch.Tensor:
    """`weight` rounded to bfloat16 in this thread's scratch buffer (valid until the thread's next call)."""
    buf = getattr(_scratch, "buf", None)
    n = weight.numel()
    if buf is None or buf.numel() < n:
        with torch.inference_mode(False):  # an ordinary tensor: writable with and without inference mode
            buf = _scratch.buf = torch.empty(n, dtype=torch.bfloat16)
    return buf[:n].view(weight.shape).copy_(weight)


class BFloat16ProductsLinear(nn.Linear):
    """An `nn.Linear` whose product is computed in bfloat16 when no gradient is recorded (see the module
    docstring); its parameters, hooks and state dict are those of the layer it was."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or x.dtype != torch.float32 or self.weight.dtype != torch.float32:
            return super().forward(x)
        out = F.linear(x.to(torch.bfloat16), _rounded(self.weight))
        out = out.to(torch.float32)
        return out if self.bias is None else out.add_(self.bias)


def use_bfloat16_products(modules: Iterable[nn.Module]) -> int:
    """Give every `nn.Linear` in `modules` (and their children) bfloat16 products; returns how many.

    The modules are changed in place (their class), their tensors are not: call it only on modules of
    the model's own (`BidirectionalLlamaForMaskedLM.from_causal` makes new modules on shared tensors).
    """
    n = 0
    for module in modules:
        for m in module.modules():
            if type(m) is nn.Linear:
                m.__class__ = BFloat16ProductsLinear
                n += 1
    return n


def uses_bfloat16_products(model: nn.Module) -> bool:
    return any(isinstance(m, BFloat16ProductsLinear) for m in model.modules())
