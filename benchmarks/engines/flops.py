"""FLOP accounting: the matmul FLOPs of one GD step and the dense-matmul peak it is compared with."""

from __future__ import annotations

import numpy as np

import jax
import jax.numpy as jnp

__all__ = ["matmul_flops_per_step", "peak_loops"]


def matmul_flops_per_step(n: int, depth: int) -> int:
    """Matmul FLOPs of one GD step of the depth-L square n×n factorization: 3(L−1)·2n³.

    Forward: the end-to-end product W = W_L ⋯ W_1 is L−1 products (W2W1, W3(W2W1), …).
    Backward: reverse mode turns each forward product C = A B into two, ∂A = ∂C Bᵀ and
    ∂B = Aᵀ ∂C, so 2(L−1) more; each n×n×n product is 2n³ FLOPs (n³ multiply-adds).
    For n = 100, L = 3: 6 products, 1.2·10⁷ FLOPs per step. The gather of the m observed
    entries, the residual and the update are O(m + L n²) and are not counted.
    """
    return 3 * (depth - 1) * 2 * n**3


def peak_loops(n: int, n_dots: int) -> dict:
    """Zero-argument callables doing ``n_dots`` n×n×n float64 products: XLA (in a scan) and NumPy."""
    rng = np.random.default_rng(0)
    A_np, B_np = rng.standard_normal((n, n)), rng.standard_normal((n, n)) / np.sqrt(n)
    A, B = jnp.asarray(A_np), jnp.asarray(B_np)
    xla_loop = jax.jit(lambda c: jax.lax.scan(lambda c, _: (c @ B, None), c, None, length=n_dots)[0])

    def numpy_loop():
        c = A_np
        for _ in range(n_dots):
            c = c @ B_np
        return c

    return {"xla matmul": lambda: xla_loop(A), "numpy matmul": numpy_loop}
