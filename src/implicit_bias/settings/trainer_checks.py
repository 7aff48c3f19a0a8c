"""Cross-field checks of the step-size schedule and of the normalized trainers (``[trainer]``)."""

from __future__ import annotations

from typing import Any, Mapping

from implicit_bias.errors import ConfigError


def check_schedule_and_normalize(resolved: Mapping[str, Any]) -> None:
    """``lr_power`` only with ``lr_schedule = "power"``; normalized steps (``normalize = true``,
    ``normalized_gd``) only on the data loss alone: ∇L/L is the gradient of ln L, and with a penalty
    or weight decay the objective is not L (∇C/C of C = L + λR has no stable log-sum-exp form and
    is not the step of Nacson et al. 2019), so both are refused."""
    trainer, penalty = resolved["trainer"], resolved["penalty"]
    if trainer.get("lr_schedule", "constant") == "constant" and trainer.get("lr_power", 0.0) != 0.0:
        raise ConfigError("trainer.lr_power", "is used with lr_schedule = \"power\" only (the schedule is "
                          "\"constant\")")
    if trainer.get("normalize", False) or trainer["kind"] == "normalized_gd":
        if penalty["kind"] != "none" and penalty["weight"] > 0:
            raise ConfigError("trainer.normalize", "normalized steps use ∇L/L of the data loss: not defined "
                              "with a [penalty] (set penalty.weight = 0 or normalize = false)")
        if trainer.get("weight_decay", 0.0) > 0:
            raise ConfigError("trainer.normalize", "normalized steps use ∇L/L of the data loss: not defined "
                              "with weight_decay > 0")
