"""Adam for the instance optimiser: the update of ``torch.optim.Adam`` (no weight decay, no amsgrad).

Why not ``torch.optim.Adam``: its first use imports ``torch._dynamo`` (the compiler), about 2.7 s on
a 2-core CPU, where a whole 1 mm brain registration now takes about 10 s. The networks' training
keeps ``torch.optim``. A test checks that both take the same steps.
"""

from __future__ import annotations

import torch


class Adam:
    """``Adam(params, lr)``: ``zero_grad``, ``step`` and ``param_groups[0]["lr"]`` as in ``torch.optim``."""

    def __init__(self, params, lr: float, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        self.params = list(params)
        self.param_groups = [{"lr": lr}]
        self.betas, self.eps = betas, eps
        self.steps = 0
        self.first = [torch.zeros_like(p) for p in self.params]
        self.second = [torch.zeros_like(p) for p in self.params]

    def zero_grad(self, set_to_none: bool = True) -> None:
        for parameter in self.params:
            parameter.grad = None

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        lr = self.param_groups[0]["lr"]
        correction1, correction2 = 1.0 - beta1**self.steps, 1.0 - beta2**self.steps
        for parameter, first, second in zip(self.params, self.first, self.second):
            if parameter.grad is None:
                continue
            grad = parameter.grad
            first.mul_(beta1).add_(grad, alpha=1.0 - beta1)
            second.mul_(beta2).addcmul_(grad, grad, value=1.0 - beta2)
            denominator = (second / correction2).sqrt_().add_(self.eps)
            parameter.addcdiv_(first, denominator, value=-lr / correction1)
