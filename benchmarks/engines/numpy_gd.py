"""NumPy: the same GD written by hand, the reference every other loop's iterates are checked against.

Forward product P = W2 W1, W = W3 P; residual r = (W[obs] − y)/m on the observed entries;
gradient through the adjoint G = 𝒜*(r) (a dense 100x100 matrix, zero off the observed entries):
∇W3 = G Pᵀ, ∇W2 = W3ᵀ G W1ᵀ, ∇W1 = (W3 W2)ᵀ G, six 100x100 matmuls per step, plus the training
loss and the stop test, which the engine also does.
"""

from __future__ import annotations

import numpy as np

from implicit_bias.engine import Experiment

__all__ = ["NumpyGD", "rel_diff"]


def rel_diff(a: list[np.ndarray], b: list[np.ndarray]) -> float:
    """Largest relative Frobenius difference between matching factors of ``a`` and ``b``."""
    return max(float(np.linalg.norm(x - y) / np.linalg.norm(y)) for x, y in zip(a, b))


class NumpyGD:
    """The same GD by hand: W = W3 W2 W1, loss (1/m) Σ ½ r², gradient through the adjoint."""

    def __init__(self, experiment: Experiment):
        problem = experiment.objective.problem
        self.lr = float(experiment.config["trainer"].get("lr", 0.0))
        self.stop_loss = float(experiment.config["trainer"]["stop_loss"])
        self.shape = tuple(problem.shape)
        rows, cols = np.asarray(problem.rows, np.int64), np.asarray(problem.cols, np.int64)
        self.flat = rows * self.shape[1] + cols
        # Observed entries are distinct (sampled without replacement), so writing r into the
        # zero matrix IS the adjoint 𝒜*(r) (a scatter-add would give the same matrix).
        if np.unique(self.flat).size != self.flat.size:
            raise AssertionError("observed entries must be distinct for the NumPy adjoint")
        self.values = np.asarray(problem.targets, np.float64)
        self.m = self.values.size
        self.params0 = [np.array(experiment.params0[f"W{j}"], np.float64) for j in (1, 2, 3)]
        self.G = np.zeros(self.shape)

    def run(self, n_steps: int) -> list[np.ndarray]:
        W1, W2, W3 = (W.copy() for W in self.params0)
        lr, flat, values, m, G = self.lr, self.flat, self.values, self.m, self.G
        Gflat = G.reshape(-1)
        for _ in range(n_steps):
            P = W2 @ W1
            W = W3 @ P
            r = W.reshape(-1)[flat] - values
            loss = 0.5 * float(r @ r) / m
            if not loss > self.stop_loss:  # stop rule of the engine (also catches NaN)
                break
            Gflat.fill(0.0)
            Gflat[flat] = r / m  # G = 𝒜*(r)/m = ∇_W L
            D = W3.T @ G  # ∂L/∂P
            grad1 = W2.T @ D
            grad2 = D @ W1.T
            grad3 = G @ P.T
            W1 = W1 - lr * grad1
            W2 = W2 - lr * grad2
            W3 = W3 - lr * grad3
        return [W1, W2, W3]
