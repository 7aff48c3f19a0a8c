"""torch.compile: the reference step of :mod:`engines.torch_eager` compiled (inductor, C++ on CPU)."""

from __future__ import annotations

import numpy as np

from implicit_bias.engine import Experiment

from engines.torch_eager import TorchEagerGD

__all__ = ["TorchCompiledGD"]


class TorchCompiledGD(TorchEagerGD):
    """The same step with ``torch.compile`` (inductor, C++ codegen on CPU).

    The training loss (forward pass; AOTAutograd compiles its backward too) and the SGD update
    (a ``torch.compile``d ``optimizer.step``, PyTorch's "compiled optimizer" recipe) are compiled;
    the reference's extra bookkeeping (``params_norm``, test loss) is left out, so this is the
    leanest form of the step PyTorch offers; ``loss.item()`` stays (the stop test).
    """

    def __init__(self, experiment: Experiment, torch):
        super().__init__(experiment, torch)
        self.loss_fn = torch.compile(lambda: self.get_train_loss(self.get_e2e()))
        self.opt_step = torch.compile(self.optimizer.step)

    def run(self, n_steps: int) -> list[np.ndarray]:
        self.reset()
        for _ in range(n_steps):
            loss = self.loss_fn()
            self.optimizer.zero_grad()
            loss.backward()
            if not loss.item() > self.stop_loss:
                break
            self.opt_step()
        return [layer.weight.detach().numpy().copy() for layer in self.model.children()]
