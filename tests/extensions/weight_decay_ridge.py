"""An extension's reproduction (docs/extending.md): GD with coupled weight decay λ on least squares
converges to the ridge solution argmin_β L(β) + (λ/2)‖β‖², L the mean of ½ residual².

Why it holds: the update β ← β − η(∇L(β) + λβ) is GD on L + (λ/2)‖β‖², which is strongly convex
(Hessian XᵀX/n + λI ⪰ λI), so it converges linearly, at rate ≤ 1 − ηλ per step, to that
function's unique minimizer. After 3,000 steps at η = 0.1, λ = 0.1: (0.99)^3000 ≈ 1e-13, so 1e-8
relative leaves room for rounding. Without the weight decay (the broken setting) GD from 0 ends
at the minimum-norm interpolant instead, O(1) away from the ridge solution.
"""

from __future__ import annotations

import sys

from implicit_bias.reproduce import Claim, register_reproduction, relative_distance

NAME = "weight-decay-ridge"
CLAIM = "GD with coupled weight decay λ converges to the ridge solution of the same λ."
SOURCE = "an extension's example (docs/extending.md); the strongly convex objective L + (λ/2)‖β‖²"
MINUTES = (0.1, 0.1)
LAMBDA = 0.1
TOLERANCE = 1e-8
PROBLEM = {"kind": "least_squares", "n_samples": 10, "n_features": 20}


def configs(quick: bool) -> list[dict]:
    trainer = {"kind": "gd", "lr": 0.1, "steps": 3000, "log_every": 1000, "weight_decay": LAMBDA}
    return [
        {"name": "gd-weight-decay", "problem": PROBLEM, "model": {"kind": "linear"}, "trainer": trainer},
        {"name": "ridge", "problem": PROBLEM, "baseline": {"kind": "ridge", "lambda": LAMBDA}},
    ]


def BROKEN(config: dict) -> dict:  # noqa: N802 - the reproduction contract's name
    """Train without the weight decay: GD then ends at the minimum-norm interpolant."""
    if "trainer" in config:
        config["trainer"]["weight_decay"] = 0.0
    return config


def analyze(runs: dict, quick: bool):
    gap = relative_distance(runs["gd-weight-decay"].end_to_end, runs["ridge"].end_to_end)
    return [Claim("ridge-limit", CLAIM, SOURCE, gap, f"relative distance ≤ {TOLERANCE:g}", gap <= TOLERANCE)], []


register_reproduction(sys.modules[__name__])
