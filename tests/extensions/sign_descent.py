"""Extension: the trainer kind "sign_descent", Δθ = −lr · sign(∇C) (signSGD with minibatches).

Loaded through IMPLICIT_BIAS_PLUGINS (docs/extending.md); imports only the engine API and optax.
"""

import optax

from implicit_bias.engine import (
    DISCRETE_TRAINER_KEYS,
    MINIBATCH_KEYS,
    TrainerInfo,
    float_key,
    register_kind,
    register_trainer,
    traced,
)

KEYS = {
    **DISCRETE_TRAINER_KEYS,  # lr, steps, stop_loss, log_every, weight_decay, label_noise, ...
    **MINIBATCH_KEYS,  # batch_size (0 = full batch), sampling
    "lr": traced(float_key(0.01, "Step size η of θ ← θ − η·sign(∇C).", minimum=0.0, exclusive=True)),
}

register_kind("trainer", "sign_descent", KEYS)
register_trainer("sign_descent", lambda hyper: optax.chain(optax.scale_by_sign(), optax.scale(-hyper["lr"])),
                 TrainerInfo("sign_descent", "discrete"))
