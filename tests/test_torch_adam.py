"""The instance optimiser's Adam takes the steps of torch.optim.Adam (it exists only to avoid importing torch._dynamo)."""

import subprocess
import sys

import torch

from regviewer.registration.torch_backend.adam import Adam


def _steps(make, schedule):
    generator = torch.Generator().manual_seed(0)
    target = torch.randn(2, 3, 4, generator=generator)
    a = torch.zeros(2, 3, 4, requires_grad=True)
    b = torch.ones(5, requires_grad=True)
    optimiser = make([a, b])
    for step, lr in enumerate(schedule):
        optimiser.param_groups[0]["lr"] = lr
        optimiser.zero_grad(set_to_none=True)
        loss = ((a - target) ** 4).sum() + (b**2).sum() * (0.5 + step % 3)
        loss.backward()
        optimiser.step()
    return a.detach(), b.detach()


def test_adam_matches_torch_optim_adam():
    schedule = [0.1] * 10 + [0.05 + 0.01 * i for i in range(10)]
    ours = _steps(lambda params: Adam(params, lr=0.1), schedule)
    theirs = _steps(lambda params: torch.optim.Adam(params, lr=0.1), schedule)
    for mine, reference in zip(ours, theirs):
        assert not torch.equal(mine, torch.zeros_like(mine))
        torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-6)


def test_a_registration_step_does_not_import_the_compiler():
    code = (
        "import sys, torch\n"
        "from regviewer.registration.torch_backend.adam import Adam\n"
        "p = torch.zeros(3, requires_grad=True)\n"
        "o = Adam([p], lr=0.1)\n"
        "(p ** 2 - p).sum().backward()\n"
        "o.step()\n"
        "print('torch._dynamo' in sys.modules, float(p[0]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[0] == "False"
    assert abs(float(out[1]) - 0.1) < 1e-6  # the first Adam step moves by the learning rate along -grad
