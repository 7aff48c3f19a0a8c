"""PyTorch eager: the GD step of Arora et al.'s reference code, in float64 on one thread."""

from __future__ import annotations

import numpy as np

from implicit_bias.engine import Experiment

__all__ = ["TorchEagerGD", "load_torch"]


def load_torch():
    """Import torch with one intra-op and one inter-op thread, or return None if it is missing."""
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:  # already set in this process
        pass
    return torch


class TorchEagerGD:
    """The step of Arora et al.'s reference code (roosephu/deep_matrix_factorization, main.py), eager.

    As there: the factors are ``nn.Linear(n, n, bias=False)`` layers of an ``nn.Sequential``, the
    end-to-end matrix is ``get_e2e`` (``e2e = W1ᵀ``, then ``e2e = fc(e2e)`` = e2e W_jᵀ for each
    further layer, i.e. e2e = (W_L ⋯ W_1)ᵀ), the training loss gathers ``e2e[us, vs]``, each step
    also builds ``params_norm`` = Σ‖W_j‖² into the graph and the full-matrix test loss under
    ``no_grad``, reads ``loss.item()`` for the stop test, then ``zero_grad`` / ``backward`` /
    ``optimizer.step()`` with ``torch.optim.SGD``. Differences, so that it computes OUR step: float64
    (theirs float32), our loss ½·mean (theirs mean, i.e. half our lr), ``us, vs = cols, rows``
    (e2e is Wᵀ), and the every-1000-steps SVD logging branch is left out.
    """

    def __init__(self, experiment: Experiment, torch):
        self.torch = torch
        nn = torch.nn
        problem = experiment.objective.problem
        self.lr = float(experiment.config["trainer"]["lr"])
        self.stop_loss = float(experiment.config["trainer"]["stop_loss"])
        self.depth = int(experiment.config["model"]["depth"])
        n_rows, n_cols = problem.shape
        sizes = [n_cols] + [n_rows] * self.depth  # hidden_sizes of the reference (square here)
        self.model = nn.Sequential(*[nn.Linear(a, b, bias=False) for a, b in zip(sizes, sizes[1:])]).double()
        self.params0 = [torch.tensor(np.asarray(experiment.params0[f"W{j}"]), dtype=torch.float64)
                        for j in range(1, self.depth + 1)]
        self.us = torch.as_tensor(np.array(problem.cols, np.int64))
        self.vs = torch.as_tensor(np.array(problem.rows, np.int64))
        self.ys_ = torch.as_tensor(np.array(problem.targets, np.float64))
        self.w_gt = torch.as_tensor(np.array(problem.ground_truth, np.float64)).t().contiguous()
        self.optimizer = torch.optim.SGD(self.model.parameters(), self.lr)

    def reset(self) -> None:
        with self.torch.no_grad():
            for layer, W in zip(self.model.children(), self.params0):
                layer.weight.copy_(W)

    def get_e2e(self):
        weight = None
        for fc in self.model.children():
            weight = fc.weight.t() if weight is None else fc(weight)
        return weight

    def get_train_loss(self, e2e):
        return 0.5 * (e2e[self.us, self.vs] - self.ys_).pow(2).mean()

    def run(self, n_steps: int) -> list[np.ndarray]:
        torch = self.torch
        self.reset()
        for _ in range(n_steps):
            e2e = self.get_e2e()
            loss = self.get_train_loss(e2e)
            params_norm = 0
            for param in self.model.parameters():
                params_norm = params_norm + param.pow(2).sum()
            self.optimizer.zero_grad()
            loss.backward()
            with torch.no_grad():
                test_loss = (self.w_gt - e2e).view(-1).pow(2).mean()  # noqa: F841 (the reference logs it)
                if not loss.item() > self.stop_loss:
                    break
            self.optimizer.step()
        return [layer.weight.detach().numpy().copy() for layer in self.model.children()]
