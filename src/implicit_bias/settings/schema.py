"""The schema of the experiment config: every key, its type, default, range and meaning.

This is the single source of truth for the keys: :mod:`implicit_bias.settings.resolution` validates against
it, docs/config.md documents each key (``tests/test_config.py`` checks that it does), and
``all_keys()`` lists them.
"""

from __future__ import annotations

from dataclasses import replace

from implicit_bias.settings.key_types import (  # noqa: F401 - Key and the helpers are part of this module's API
    Key, _choice, _float, _int, _later_choice, batchable, batchable_float, choice_key, float_key, int_key, traced)



#: ``problem.loss`` of the generated matrix problems (docs/conventions.md).
_MATRIX_LOSS = _later_choice(
    "half_mse", "Training loss: half_mse = mean over observations of ½(prediction − target)² (this project); "
    "mse = mean of (prediction − target)², no ½ (Arora et al. 2019's code, roosephu/deep_matrix_factorization): "
    "twice the loss and its gradient, and what `stop_loss` is compared with.", "half_mse", "mse")


TOP_LEVEL: dict[str, Key] = {
    "name": Key("str", "experiment", "Run name; the run directory is `<name>-<8 hex of the config hash>`."),
    "seed": batchable(_int(0, "One integer seed; split by name into problem / init / sampling keys.", minimum=0,
                 maximum=2**32 - 1)),
    "dtype": _choice("float64", "Floating-point precision of the engine.", "float64", "float32"),
}

PROBLEMS: dict[str, dict[str, Key]] = {
    "least_squares": {
        "n_samples": _int(20, "Number of rows of the design X.", minimum=1),
        "n_features": _int(50, "Number of columns of X (the dimension of β).", minimum=1),
        "design": _choice("gaussian", "X has i.i.d. N(0,1) entries, or XᵀX = n_samples·I, or Gaussian columns "
                          "rescaled to norm √n_samples.", "gaussian", "orthogonal", "normalized_gaussian"),
        "target": _choice("dense", "β* has N(0,1) entries everywhere, or on `sparsity` random coordinates.",
                          "dense", "sparse"),
        "sparsity": _int(5, "Number of non-zero coordinates of a sparse β*.", minimum=1),
        "noise": _float(0.0, "Standard deviation of Gaussian label noise added to y = Xβ*.", minimum=0.0),
    },
    "matrix_completion": {
        "n_rows": _int(100, "Rows of the matrix.", minimum=1),
        "n_cols": _int(100, "Columns of the matrix.", minimum=1),
        "rank": _int(5, "Rank of the ground truth W* = U Vᵀ.", minimum=1),
        "n_obs": _int(2000, "Observed entries, sampled uniformly without replacement.", minimum=1),
        "target_norm": _float(100.0, "Frobenius norm of W* (Arora et al. 2019 use 100 for 100x100 rank 5).",
                              minimum=0.0, exclusive=True),
        "noise": _float(0.0, "Standard deviation of Gaussian noise on the observed values.", minimum=0.0),
        "loss": _MATRIX_LOSS,
    },
    "matrix_sensing": {
        "n_rows": _int(20, "Rows of the matrix.", minimum=1),
        "n_cols": _int(20, "Columns of the matrix.", minimum=1),
        "rank": _int(2, "Rank of the ground truth (PSD for symmetric measurements).", minimum=1),
        "n_measurements": _int(100, "Number of linear measurements y_i = ⟨A_i, W*⟩.", minimum=1),
        "measurements": _choice("gaussian", "Distribution of the sensing matrices A_i.",
                                "gaussian", "symmetric_gaussian", "commuting"),
        "target_norm": _float(1.0, "Frobenius norm of W*.", minimum=0.0, exclusive=True),
        "noise": _float(0.0, "Standard deviation of Gaussian noise on y.", minimum=0.0),
        "loss": _MATRIX_LOSS,
    },
    "razin_2x2": {},
    "teacher_student": {
        "n_samples": _int(100, "Training samples x ~ N(0, I).", minimum=1),
        "n_features": _int(10, "Input dimension d.", minimum=1),
        "n_test": _int(1000, "Held-out samples for `test_loss`.", minimum=0),
        "teacher_widths": Key("int_list", [32], "Hidden widths of the random teacher MLP (NTK parameterization, "
                              "no bias, σ_w = 1).", minimum=1),
        "activation": _choice("relu", "Teacher activation.", "relu", "tanh", "linear", "gelu"),
        "noise": _float(0.0, "Std of Gaussian label noise on the training targets.", minimum=0.0),
    },
    "ratings": {
        "path": Key("str", None, "A MovieLens-style file of whitespace-separated `user item rating` lines "
                    "(a 4th column, e.g. a timestamp, is ignored).", nullable=True),
        "test_fraction": _float(0.1, "Fraction of the ratings held out for `test_loss`.", minimum=0.0, maximum=0.9),
        "center": Key("bool", True, "Subtract the mean training rating from every rating."),
    },
    "dataset": {
        "name": Key("str", "diabetes", "A data set scikit-learn ships offline.",
                    choices=("diabetes", "digits", "california", "breast_cancer")),
        "path": Key("str", None, "A CSV (with a header) or NPZ (arrays X, y) file; overrides `name`.",
                    nullable=True),
        "target": Key("str", "y", "CSV column holding the target."),
        "features": Key("str_list", None, "CSV feature columns (default: every column but the target).",
                        nullable=True),
        "test_fraction": _float(0.2, "Fraction of rows held out for `test_loss`.", minimum=0.0, maximum=0.9),
        "standardize": Key("bool", True, "Standardize features and target with training-split statistics."),
        "task": _later_choice("regression", "classification: y must hold two values, mapped to −1 (the smaller) and "
                              "+1; `standardize` then applies to the features only.", "regression", "classification"),
        "classes": Key("int_list", None, "task = classification: the two target values kept (required for digits).",
                       nullable=True, hash_neutral_default=True),
        "loss": Key("str", None, "Default half_mse (regression), logistic (classification).", nullable=True,
                    choices=("half_mse", "logistic", "exponential"), hash_neutral_default=True),
    },
    "separable_classification": {  # x ~ N(0, I_d), y = sign⟨x, w*⟩ (docs/config.md)
        "n_samples": _int(100, "Training samples.", minimum=1), "n_features": _int(10, "Dimension d.", minimum=1),
        "n_test": _int(1000, "Held-out samples (clean labels).", minimum=0),
        "margin": _float(0.1, "Samples with |⟨x, w*⟩| < margin are redrawn.", minimum=0.0, maximum=10.0),
        "flip": _float(0.0, "Fraction of training labels flipped.", minimum=0.0, maximum=1.0),
        "loss": _choice("logistic", "Mean of log(1 + e^{−yf}), e^{−yf} or ½(f − y)².", "logistic", "exponential",
                        "half_mse"),
        "teacher": _later_choice("gaussian", "gaussian: w* uniform on the sphere; fourier: w* ∝ cos(2πkj/d + φ), "
                                 "one real Fourier mode k = `teacher_frequency`, φ uniform.", "gaussian", "fourier"),
        "teacher_frequency": Key("int", None, "teacher = fourier (required there, refused otherwise): the frequency "
                                 "k, 0 ≤ k ≤ n_features/2.", minimum=0, nullable=True, hash_neutral_default=True),
        "design": _later_choice("gaussian", "gaussian: every sample as above; nonseparable: `n_nonseparable` of the "
                                "n_samples lie in a random `nonseparable_dim`-dimensional subspace S ⊥ w* with pure-noise "
                                "labels, positively spanning S (Ji & Telgarsky 2018's structure, docs/config.md).",
                                "gaussian", "nonseparable"),
        "n_nonseparable": Key("int", None, "design = nonseparable (required there, refused otherwise): the number m "
                              "of samples in S, m ≥ 2·nonseparable_dim (0 with dim 0).", minimum=0, nullable=True,
                              hash_neutral_default=True),
        "nonseparable_dim": Key("int", None, "design = nonseparable (required there, refused otherwise): the dimension "
                                "k of S, 0 ≤ k ≤ n_features − 1.", minimum=0, nullable=True,
                                hash_neutral_default=True),
    },
    "function_regression": {
        "domain": _choice("interval", "interval: x_i = −1 + 2i/(n−1), X ∈ ℝ^{n×1}; circle: θ_i = 2πi/n, "
                          "X = [cos θ_i, sin θ_i] ∈ ℝ^{n×2}.", "interval", "circle"),
        "n_samples": _int(64, "Number of grid points.", minimum=1),
        "target": _choice("chebyshev", "chebyshev: y = T_degree(x) = cos(degree·θ); sinusoids: "
                          "y = Σ_j a_j cos(k_j θ + φ_j) (θ = arccos x on the interval).", "chebyshev", "sinusoids"),
        "degree": _int(4, "Degree k of the Chebyshev target T_k (T_4 = 8x⁴ − 8x² + 1).", minimum=0, maximum=10**4),
        "frequencies": Key("int_list", [1, 2, 4, 8], "Frequencies k_j of the sinusoids.", minimum=0),
        "amplitudes": Key("float_list", None, "Amplitudes a_j ≥ 0 (default all 1), one per frequency.",
                          nullable=True),
        "phases": Key("float_list", None, "Phases φ_j ≥ 0 in radians (default all 0), one per frequency.",
                      nullable=True),
        "noise": _float(0.0, "Standard deviation of Gaussian noise on the targets.", minimum=0.0),
    },
}

MODELS: dict[str, dict[str, Key]] = {
    "linear": {
        "init_scale": batchable_float(0.0, "0 starts at zero; > 0 draws i.i.d. N(0, init_scale²) entries.", minimum=0.0),
    },
    "deep_matrix": {
        "depth": _int(3, "Number of factors N of W = W_N ⋯ W_1.", minimum=1, maximum=64),
        "width": Key("int_list", None, "Hidden sizes: one integer for all, or a list of depth-1 integers; "
                     "default max(n_rows, n_cols).", minimum=1, nullable=True),
        "init": _choice("gaussian", "Initialization of the factors (see docs/config.md).",
                        "gaussian", "balanced", "identity", "orthogonal"),
        "init_scale": batchable_float(1e-3, "Scale of the initialization (convention depends on `init` and "
                             "`init_convention`).", minimum=0.0, exclusive=True),
        "init_convention": _later_choice(
            "factor", "What `init_scale` measures: factor = each factor's entries/multiplier (this project); "
            "end_to_end = the end-to-end matrix, as in Arora et al. 2019's code: gaussian factors have std "
            "init_scale^(1/N)/√(fan-out), so E‖W(0)‖_F² = init_scale²·n_cols (see docs/config.md).",
            "factor", "end_to_end"),
    },
    "symmetric": {
        "width": _int(None, "Columns of U in W = U Uᵀ; default n_rows.", minimum=1, nullable=True),
        "init": _choice("gaussian", "U0 has N(0, init_scale²) entries, or U0 = init_scale·I (rectangular).",
                        "gaussian", "identity"),
        "init_scale": batchable_float(1e-3, "Scale of U0.", minimum=0.0, exclusive=True),
    },
    "mlp": {
        "widths": Key("int_list", [64], "Hidden widths (one integer or a list).", minimum=1),
        "activation": _choice("relu", "Nonlinearity φ (relu2: max(z, 0)², homogeneous of order 2).",
                              "relu", "tanh", "linear", "gelu", "relu2"),
        "bias": Key("bool", False, "Add biases (initialized at zero)."),
        "parameterization": _choice("ntk", "ntk: (σ_w/√fan_in)·W h with W ~ N(0,1) (Jacot et al. 2018); "
                                    "standard: W ~ N(0, σ_w²/fan_in).", "ntk", "standard"),
        "init_scale": batchable_float(1.0, "σ_w.", minimum=0.0, exclusive=True),
    },
    "diagonal": {
        "form": _choice("difference", "β = u ⊙ v (product) or β = u^N − v^N (difference).",
                        "product", "difference"),
        "power": _int(2, "N in u^N − v^N (form = difference).", minimum=2, maximum=16),
        "alpha": batchable_float(1.0, "Initial value of every coordinate: u(0) = v(0) = α·shape.",
                        minimum=0.0, exclusive=True),
        "shape": Key("shape", "uniform", "Per-coordinate init shape: \"uniform\" (all ones) or a list of "
                     "positive numbers, one per coordinate."),
    },
    # vector problems only (core/vector_models.py): f(x) = ⟨x, β(θ)⟩
    "deep_linear": {
        "widths": Key("int_list", None, "Hidden widths h_1 … h_{N−1} of β = (W_N ⋯ W_1)ᵀ (N = len + 1 factors; "
                      "[] is depth 1, β = W_1ᵀ); default [d], one hidden layer of width d.",
                      minimum=1, nullable=True, empty_list=True),
        "init_scale": batchable_float(0.1, "Every entry of every factor is i.i.d. N(0, init_scale²) at init.",
                                      minimum=0.0, exclusive=True),
    },
    "linear_conv": {
        "depth": _int(2, "Number of layers L: β = D^{−(L−1)/2} w_L ⊛ ⋯ ⊛ w_1, so Fβ = ⊙_l Fw_l (unitary DFT F).",
                      minimum=1, maximum=64),
        "init_scale": batchable_float(0.1, "Every entry of every filter w_l ∈ ℝ^D is i.i.d. N(0, init_scale²) "
                                      "at init.", minimum=0.0, exclusive=True),
    },
}

_DISCRETE: dict[str, Key] = {
    "lr": traced(_float(0.1, "Learning rate (step size) η; t = η × step.", minimum=0.0, exclusive=True)),
    "steps": _int(1000, "Maximum number of steps.", minimum=0, maximum=10**12),
    "stop_loss": traced(_float(0.0, "Stop when the training loss is at or below this value.", minimum=0.0)),
    "log_every": _int(100, "Steps per compiled chunk; metrics are logged at the end of each chunk.",
                      minimum=1, maximum=10**7),
    "max_time": _float(0.0, "Wall-clock limit in seconds, checked between chunks (0: none).", minimum=0.0),
    "checkpoint_every": _int(0, "Write a checkpoint (and the metrics so far) every this many steps, at the end "
                             "of the chunk that reaches it; an unfinished run directory resumes from it (0: off).",
                             minimum=0),
    "patience": _int(0, "Early stopping: stop when `test_loss` has not improved for this many logged rows "
                     "(problems with a held-out split; 0: off).", minimum=0),
    "weight_decay": traced(_float(0.0, "Coupled L2: the update uses ∇C + weight_decay·θ.", minimum=0.0)),
    "label_noise": traced(_float(0.0, "Std of Gaussian noise added to the targets, fresh at every step.", minimum=0.0)),
    "input_noise": traced(_float(0.0, "Std of Gaussian noise added to the inputs X at every step (least_squares).",
                          minimum=0.0)),
    "dropout": traced(_float(1.0, "Keep probability p of each input entry X_ni at every step, unscaled "
                      "(least_squares; 1 = no dropout; Clara, Langer & Schmidt-Hieber 2024).",
                      minimum=0.0, exclusive=True, maximum=1.0)),
    "lr_schedule": _later_choice("constant", "Step-size schedule: constant η_k = lr, or power η_k = lr·(k+1)^(−lr_power) "
                                 "at step k = 0, 1, …; t = Σ_{j<k} η_j.", "constant", "power"),
    "lr_power": replace(traced(_float(0.0, "Exponent a ≥ 0 of lr_schedule = \"power\": η_k = lr·(k+1)^(−a).",
                                      minimum=0.0)), hash_neutral_default=True),
    # issue 17: a step relative to the initial curvature (trainers/relative_lr.py); a document sets it
    # or `lr`, never both (settings/resolution.py), and the resolved lr is in summary.json.
    "lr_relative": Key("float", None, "lr = lr_relative · 2/λ_max(∇²C(θ_0)), the largest Hessian eigenvalue of "
                       "the training objective at the initial parameters (Lanczos, as the `sharpness` metric); "
                       "absent: `lr` is used. Excludes `lr`.", minimum=0.0, exclusive_minimum=True,
                       nullable=True, hash_neutral_default=True, batchable=True),
}
_BATCHED: dict[str, Key] = {
    "batch_size": _int(0, "Observations per step; 0 = all of them (full batch).", minimum=0),
    "sampling": _choice("with_replacement", "How batches are drawn: i.i.d. uniform batches (each without "
                        "repeats), or a fresh permutation every epoch cut into consecutive batches.",
                        "with_replacement", "random_reshuffling"),
}
#: The keys of every discrete trainer (lr, steps, stop_loss, log_every, ...) and of the minibatched ones
#: (batch_size, sampling): what a registered discrete trainer builds its table from (docs/extending.md).
DISCRETE_TRAINER_KEYS = _DISCRETE
MINIBATCH_KEYS = _BATCHED
_FLOW: dict[str, Key] = {
    "t_max": _float(10.0, "Final flow time.", minimum=0.0),
    "rtol": _float(1e-8, "Relative tolerance of the adaptive step-size controller.", minimum=0.0, exclusive=True),
    "atol": _float(1e-10, "Absolute tolerance of the adaptive step-size controller.", minimum=0.0, exclusive=True),
    "solver": _choice("tsit5", "Explicit Runge-Kutta solver of diffrax.", "tsit5", "dopri5"),
    "log_dt": _float(0.0, "Flow time between logged rows (0: t_max/100).", minimum=0.0),
    "stop_loss": _float(0.0, "Stop (event) when the training loss is at or below this value.", minimum=0.0),
    "max_time": _float(0.0, "Wall-clock limit in seconds, checked between logged rows (0: none).", minimum=0.0),
    "max_solver_steps": _int(1_000_000, "Cap on solver steps per logged interval.", minimum=1),
}

TRAINERS: dict[str, dict[str, Key]] = {
    "gd": dict(_DISCRETE),
    "sgd": {**_DISCRETE, **_BATCHED, "batch_size": _int(1, "Observations per step.", minimum=1)},
    "euler_same_batch": {**_DISCRETE, **_BATCHED, "batch_size": _int(1, "Observations per batch.", minimum=1),
                         "n_inner": traced(_int(10, "Euler steps of size lr/n_inner on each sampled batch (Smith et al. 2021).",
                                         minimum=1, maximum=10**6), batchable=False)},
    "adam": {**_DISCRETE, **_BATCHED, "lr": traced(_float(1e-3, "Learning rate.", minimum=0.0, exclusive=True)),
             "b1": traced(_float(0.9, "First-moment decay β1.", minimum=0.0, maximum=1.0)),
             "b2": traced(_float(0.999, "Second-moment decay β2.", minimum=0.0, maximum=1.0)),
             "eps": traced(_float(1e-8, "ε added to √v̂.", minimum=0.0))},
    "rmsprop": {**_DISCRETE, **_BATCHED, "lr": traced(_float(1e-3, "Learning rate.", minimum=0.0, exclusive=True)),
                "decay": traced(_float(0.9, "Decay of the running mean of squared gradients.", minimum=0.0, maximum=1.0)),
                "eps": traced(_float(1e-8, "ε inside the square root, √(v + ε) (optax's rmsprop).", minimum=0.0))},
    "group_rmsprop": {**_DISCRETE, **_BATCHED, "lr": traced(_float(1e-2, "Learning rate.", minimum=0.0, exclusive=True)),
                      "decay": traced(_float(0.99, "Decay of the ONE running mean of ‖g‖² (Arora et al. 2019 code).",
                                      minimum=0.0, maximum=1.0)),
                      "eps": traced(_float(1e-4, "ε added to √(bias-corrected mean).", minimum=0.0))},
    "momentum": {**_DISCRETE, **_BATCHED,
                 "momentum": traced(_float(0.9, "Heavy-ball coefficient β.", minimum=0.0, maximum=1.0)),
                 "nesterov": Key("bool", False, "Nesterov momentum.")},
    "sam": {**_DISCRETE, **_BATCHED,
            "rho": traced(_float(0.05, "Perturbation radius ρ (std of ξ for the stochastic variant).", minimum=0.0)),
            "variant": _choice("sam", "sam: ∇C(θ + ρ g/‖g‖); usam: ∇C(θ + ρ g); stochastic: ∇C(θ + ξ), "
                               "ξ ~ N(0, ρ²I).", "sam", "usam", "stochastic")},
    "steepest_descent": {**_DISCRETE, **_BATCHED,
                         "norm": _choice("l2", "Norm of the steepest step Δw = −η‖g‖_*·argmax_{‖v‖≤1}⟨v, g⟩ over all "
                                         "parameters as one vector: l1 = greedy coordinate descent, l2 = GD, linf = "
                                         "sign descent scaled by ‖g‖₁ (Gunasekar et al. 2018).", "l1", "l2", "linf"),
                         "normalize": Key("bool", False, "Use ∇L/L = ∇ln L in place of ∇L (Nacson et al. 2019).")},
    "mirror_descent": {**_DISCRETE, **_BATCHED,
                       "potential": _choice("lp", "Mirror potential ψ of ∇ψ(w_{k+1}) = ∇ψ(w_k) − η g: lp = ‖w‖_p^p/p, "
                                            "hypentropy = Σ w·arcsinh(w/β) − √(w² + β²).", "lp", "hypentropy"),
                       "p": traced(_float(2.0, "p of the lp potential.", minimum=1.0, exclusive=True)),
                       "beta": traced(_float(1.0, "β of the hypentropy potential.", minimum=0.0, exclusive=True)),
                       "normalize": Key("bool", False, "Use ∇L/L = ∇ln L in place of ∇L (Nacson et al. 2019).")},
    # a loss-based step in the discrete-time regime of Lyu & Li 2020 (trainers/gradients.py)
    "normalized_gd": {**_DISCRETE,
                      "log_power": replace(traced(_float(0.0, "p ≥ 0: the step is η ∇L/(L·max(1, ln(1/L))^p); 0: "
                                                          "∇L/L (Nacson et al. 2019).", minimum=0.0)),
                                           hash_neutral_default=True)},
    "adagrad": {**_DISCRETE, **_BATCHED,
                "initial_accumulator": traced(_float(0.1, "Initial value G_0 of the sum of squared gradients "
                                                     "(optax.adagrad).", minimum=0.0)),
                "eps": traced(_float(1e-7, "ε in g/√(G + ε) (optax.adagrad).", minimum=0.0))},
    "flow": dict(_FLOW),
    "modified_flow": {**_FLOW, "lr": _float(0.1, "η in the modified loss C + (η/4)‖∇C‖² (Smith et al. 2021).",
                                            minimum=0.0, exclusive=True)},
}

PENALTIES: dict[str, dict[str, Key]] = {
    name: {
        "weight": batchable_float(0.0, "Multiplier λ of the penalty added to the loss.", minimum=0.0),
        "on": _choice("end_to_end", "What the penalty acts on.", "end_to_end", "params"),
        **extra,
    }
    for name, extra in {
        "none": {},
        "l2": {},
        "l1": {},
        "nuclear": {},
        "schatten": {"p": _float(1.0, "Schatten exponent p (p < 1 is a quasi-norm).", minimum=0.0, exclusive=True),
                     "eps": _float(1e-8, "Smoothing ε in Σ (σ_i² + ε)^{p/2}.", minimum=0.0)},
        "normalized_nuclear": {},
        "effective_rank": {},
    }.items()
}

BASELINES: dict[str, dict[str, Key]] = {
    "min_norm": {},
    "ridge": {
        "lambda": _float(1e-3, "λ of argmin L(β) + (λ/2)‖β‖² (L the mean of ½ residual²).", minimum=0.0),
        "path": Key("float_list", None, "A whole path of λ values (one SVD); one metrics row per λ.",
                    nullable=True),
    },
    "min_nuclear_norm": {
        "psd": Key("bool", False, "Minimize the trace over PSD matrices instead (Gunasekar et al. 2017)."),
        "solver": _choice("auto", "first_order (ADMM, ours), cvxpy (SCS), or auto (first_order, cvxpy if it "
                          "does not converge).", "auto", "first_order", "cvxpy"),
        "tol": _float(1e-9, "Tolerance of the solver.", minimum=0.0, exclusive=True),
    },
    "basis_pursuit": {},
    "q_alpha": {
        "alpha": _float(1.0, "α of Q_α (the init scale of the diagonal network u^N − v^N).",
                        minimum=0.0, exclusive=True),
        "power": _int(2, "N of u^N − v^N whose limit is computed (2: Woodworth et al.'s Q_α).",
                      minimum=2, maximum=16),
    },
    "ntk_regression": {
        "kernel": _choice("empirical", "empirical: the NTK of [model] at init; analytic: the infinite-width "
                          "NTK of a one-hidden-layer ReLU net (NTK parameterization, no bias).",
                          "empirical", "analytic"),
        "time": _float(0.0, "Flow time t = lr × steps of the linearized dynamics f(t) = f0 e^{−Kt/n} + "
                       "(I − e^{−Kt/n})Y; 0 means t = ∞ (kernel regression).", minimum=0.0),
    },
    "max_margin": {
        "norm": _choice("l2", "The geometry of argmin ‖w‖ s.t. y_i⟨x_i, w⟩ ≥ 1: l2 (the hard-margin SVM, a QP), "
                        "l1 or linf (LPs), fourier_l1 (Σ_k |(Fw)_k| with the unitary DFT, an SOCP).",
                        "l2", "l1", "linf", "fourier_l1"),
    },
}

METRICS: dict[str, Key] = {
    "top_k": _int(10, "Number of leading singular values logged for matrix problems.", minimum=1, maximum=10000),
    # issue 17: curvature of the training objective C at every logged row (metrics/curvature.py)
    "sharpness": Key("bool", False, "Log `sharpness`: the largest (algebraic) eigenvalue of the Hessian of C "
                     "(loss + penalty) in all trained parameters (Lanczos on Hessian-vector products).",
                     hash_neutral_default=True),
    "hessian_top_k": Key("int", 0, "Log `hessian_eigenvalues`, the this many largest Hessian eigenvalues, "
                         "descending (0: off).", minimum=0, maximum=1000, hash_neutral_default=True),
    "hessian_trace": Key("bool", False, "Log `hessian_trace` (Hutchinson, Rademacher probes) and "
                         "`hessian_trace_stderr`.", hash_neutral_default=True),
    "hessian_probes": Key("int", 16, "Rademacher probes of the Hutchinson trace estimate.", minimum=2,
                          maximum=100000, hash_neutral_default=True),
    "batch_sharpness": Key("bool", False, "Log `batch_sharpness`: the mean over the ⌊N/B⌋ consecutive "
                           "minibatches (storage order) of the top eigenvalue of the minibatch Hessian "
                           "(minibatched trainers).", hash_neutral_default=True),
    "hessian_iterations": Key("int", 64, "Lanczos steps m of every top-eigenvalue computation (capped at the "
                              "number of parameters d; m = d is exact to rounding).", minimum=1,
                              maximum=100000, hash_neutral_default=True),
}

#: Sections chosen by a ``kind`` key, with the default kind (None: required).
KINDED_SECTIONS: dict[str, tuple[dict[str, dict[str, Key]], str | None]] = {
    "problem": (PROBLEMS, None),
    "model": (MODELS, None),
    "trainer": (TRAINERS, "gd"),
    "penalty": (PENALTIES, "none"),
    "baseline": (BASELINES, None),
}
#: Sections that may be absent from a resolved config (then they are absent, not defaulted).
OPTIONAL_SECTIONS = ("baseline",)
PLAIN_SECTIONS: dict[str, dict[str, Key]] = {"metrics": METRICS}
