"""Every reproduction in quick mode (what CI runs): all its claims pass and its files are written;
and under its deliberately broken setting (the module's BROKEN, documented there) the named
claims fail — so the verdicts can fail."""

import json

import pytest

from implicit_bias.cli import main
from implicit_bias.reproduce import MODULES
from implicit_bias.reproduce.runner import run_reproduction

#: name -> (every claim id, the claim ids that the broken setting must fail)
EXPECTED = {
    "gd-min-norm": ({"from-x0", "from-zero", "null-space-matters"}, {"from-x0"}),
    "early-stopping-ridge": ({"gd-is-the-filter", "ridge-flow-gd-order", "filters-match", "paths-match"},
                             {"filters-match"}),
    "weight-decay-hessian": ({"l2-eigen-rescaling", "input-noise-is-ridge", "mapping-is-sigma-squared"},
                             {"input-noise-is-ridge"}),
    "sgd-modified-loss": ({"gd-vs-flow-first-order", "gd-vs-modified-flow-second-order", "rr-extra-term",
                           "euler-separates", "implicit-term-lr-over-b"},
                          {"gd-vs-modified-flow-second-order", "rr-extra-term", "euler-separates"}),
    "dropout-ridge": ({"dropout-is-the-closed-form", "alternatives-rejected"}, {"dropout-is-the-closed-form"}),
    "arora-deep-completion": ({"depth3-few", "shallow-fail-few", "all-succeed-many", "spectrum-sharper",
                               "singular-value-ode", "reference-parity"},
                              {"depth3-few", "spectrum-sharper", "reference-parity"}),
    "razin-rank-not-norms": ({"w-diverges", "bound-tight", "det-positive", "norms-diverge", "rank-to-one"},
                             {"w-diverges", "det-positive", "rank-to-one"}),
    "saxe-deep-linear": ({"saxe-sigmoid", "time-inverse-s", "depth3-ode", "depth-sharpens"},
                         {"saxe-sigmoid", "time-inverse-s"}),
    "woodworth-kernel-rich": ({"interpolates", "matches-q-alpha", "rich-is-l1", "kernel-is-l2", "sparse-recovery"},
                              {"rich-is-l1"}),
    "gunasekar-completion": ({"commuting-limit", "commuting-power-law", "commuting-trace", "generic-min-trace"},
                             {"commuting-limit"}),
    "zhao-normalized-nuclear": ({"adam-penalty-recovers", "low-rank", "needs-penalty", "needs-adam"},
                                {"adam-penalty-recovers"}),
    "depth-low-rank": ({"erank-decreases-completion", "erank-decreases-sensing", "depth-beats-nuclear-few"},
                       {"depth-beats-nuclear-few"}),
    "ntk-lazy": ({"trains", "kernel-converges", "kernel-constant", "linearized-dynamics"}, {"kernel-converges"}),
    "sam-diagonal": ({"soft-threshold-zeros", "soft-threshold-shrinks", "stochastic-sam-soft-threshold",
                      "balancedness-decay", "flatness-term"},
                     {"soft-threshold-zeros", "stochastic-sam-soft-threshold", "balancedness-decay", "flatness-term"}),
    "sam-flatness": ({"interpolates", "sparser", "flatter", "nsam-lower-lambda-max", "lower-test-error", "beats-sgd"},
                     {"sparser", "flatter", "nsam-lower-lambda-max", "lower-test-error", "beats-sgd"}),
    "soudry-max-margin": ({"residual-converges", "loss-constant", "direction-log-rate", "logistic-same-limit",
                           "ngd-norm-rate", "ngd-gap-one-over-t"},
                          {"residual-converges", "loss-constant", "direction-log-rate", "logistic-same-limit",
                           "ngd-norm-rate", "ngd-gap-one-over-t"}),
    "gunasekar-geometry": ({"own-norm-margin", "other-norms-below", "l2-direction", "mirror-lp-margin",
                            "mirror-regression-oracle", "limits-move-with-step"},
                           {"own-norm-margin", "other-norms-below"}),
    "edge-of-stability": ({"progressive-sharpening", "hovers-at-2-over-eta", "loss-decreases-non-monotonically",
                           "stable-below-threshold", "flow-sharpens-past"}, {"hovers-at-2-over-eta"}),
    "catapult": ({"lazy-below-2", "catapult-between", "diverges-above-4", "phase-boundaries"},
                 {"catapult-between", "diverges-above-4", "phase-boundaries"}),
    "adam-linf-margin": ({"adam-linf-margin", "sign-linf-margin", "adam-l2-below", "gd-opposite", "linf-gap-rate",
                          "eps-drifts-to-l2"}, {"adam-linf-margin", "gd-opposite", "linf-gap-rate", "eps-drifts-to-l2"}),
    "spectral-bias": ({"kernel-closed-form", "grid-aliasing", "bias-kernel", "times-1-over-mu", "ratio-constant",
                       "slope", "odd-not-learned", "bias-learns-odd", "width-lazy"},
                      {"bias-kernel", "times-1-over-mu", "ratio-constant", "slope", "odd-not-learned",
                       "bias-learns-odd", "width-lazy"}),
    "linear-conv-fourier": ({"data-design", "conv-fourier-margin", "conv-log-rate", "conv-far-from-l2",
                             "deep-linear-l2", "depth3-sparser"},
                            {"conv-fourier-margin", "conv-log-rate", "conv-far-from-l2", "depth3-sparser"}),
    "sharpness-deep-linear": ({"converges", "between-bound-and-2-over-eta", "no-convergence-below-bound",
                               "small-init-attains-flow-minimizer", "larger-step-flatter", "larger-init-sharper"},
                              {"converges", "small-init-attains-flow-minimizer", "larger-step-flatter"}),
    "nonseparable-logistic": ({"ray-residual", "finite-part", "norm-log-slope", "direction", "not-naive-svm",
                               "risk-limit"},
                              {"ray-residual", "finite-part", "norm-log-slope", "direction", "not-naive-svm",
                               "risk-limit"}),
    "diagonal-large-steps": ({"discrete-identity", "mirror-identity", "sgd-larger-steps-sparser",
                              "gd-larger-steps-worse", "gd-threshold", "edge-of-stability"},
                             {"sgd-larger-steps-sparser", "gd-larger-steps-worse"}),
    "large-bare-lr": ({"same-flow-time", "larger-bare-lr-better", "gain-proportional-to-bare-lr"},
                      {"larger-bare-lr-better"}),
    "diagonal-margin": ({"gd-matches-flow", "ngd-tracks-flow", "kernel-one-over-gamma", "large-alpha-l2",
                         "small-alpha-l1", "transition-along-loss", "boundary-alpha-squared"},
                        {"large-alpha-l2", "small-alpha-l1"}),
    "homogeneous-margin": ({"smoothed-margin-monotone", "smoothed-below-normalized", "margin-converges",
                            "kkt-residual"},
                           {"smoothed-margin-monotone", "margin-converges"}),
    "label-noise-sparse": ({"annealed-l1-matches-bp", "annealed-support", "time-average-l1", "plain-gd-not-sparse",
                            "weighted-l1-general-design", "bp-oracle"},
                           {"annealed-l1-matches-bp", "annealed-support", "time-average-l1",
                            "weighted-l1-general-design"}),
}


def test_every_registered_reproduction_is_tested():
    assert set(EXPECTED) == set(MODULES)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_quick_mode_passes_and_writes_its_report(name, tmp_path, capsys):
    assert main(["reproduce", name, "--quick", "--out", str(tmp_path)]) == 0
    folder = tmp_path / name
    claims = json.loads((folder / "claims.json").read_text())
    assert {c["id"] for c in claims} == EXPECTED[name][0]
    assert all(set(c) == {"id", "statement", "source", "measured", "expected", "passed"} for c in claims)
    assert all(c["passed"] for c in claims)
    pngs, svgs = list(folder.glob("*.png")), list(folder.glob("*.svg"))
    assert pngs and len(pngs) == len(svgs) and all(p.stat().st_size > 0 for p in pngs + svgs)
    assert (folder / "report.html").stat().st_size > 0
    assert capsys.readouterr().out.strip().endswith("report.html")


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_broken_setting_fails_its_claims(name, tmp_path):
    outcome = run_reproduction(name, quick=True, out=tmp_path, broken=True)
    failed = {c.id for c in outcome["claims"] if not c.passed}
    assert EXPECTED[name][1] <= failed and not outcome["passed"]


def test_unknown_name_is_bad_input(tmp_path, capsys):
    assert main(["reproduce", "no-such-claim", "--out", str(tmp_path)]) == 2
    assert "NAME" in capsys.readouterr().err and not tmp_path.joinpath("no-such-claim").exists()
