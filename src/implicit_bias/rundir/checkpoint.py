"""Checkpoints of discrete runs: ``checkpoint.npz`` in the run directory, written atomically.

Layout (no pickling): ``params/<name>`` for each parameter, ``opt_state/<i>`` for the i-th leaf
of the optimizer state (its structure comes from a fresh ``init``), and ``step``. The rows
logged up to the checkpoint are in ``metrics.parquet``, written just before it; rows past the
checkpoint's step (a crash between the two writes) are dropped on resume.
"""

from __future__ import annotations

from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np

from implicit_bias.rundir import files as store
from implicit_bias.trainers.loop import Checkpoint, initial_opt_state

CHECKPOINT = "checkpoint.npz"


def save(run_dir: Path, checkpoint: Checkpoint) -> None:
    """Write the metrics so far, then the checkpoint, each atomically."""
    import pandas as pd

    store.write_parquet(run_dir / store.METRICS, pd.DataFrame(checkpoint.rows))
    arrays = {f"params/{k}": np.asarray(v) for k, v in checkpoint.params.items()}
    arrays.update({f"opt_state/{i}": np.asarray(leaf)
                   for i, leaf in enumerate(jax.tree_util.tree_leaves(checkpoint.opt_state))})
    arrays["step"] = np.asarray(checkpoint.step)
    store.write_npz(run_dir / CHECKPOINT, arrays)


def load(run_dir: Path, trainer, params0: dict) -> Checkpoint | None:
    """The checkpoint in ``run_dir`` of a run with typed ``[trainer]`` settings (None when absent or
    unreadable: the run starts over)."""
    try:
        arrays = store.read_npz(run_dir / CHECKPOINT)
        rows = store.read_parquet(run_dir / store.METRICS).to_dict("records")
    except (OSError, ValueError, KeyError):
        return None
    try:
        step = int(arrays["step"])
        params = {k: jnp.asarray(arrays[f"params/{k}"]) for k in params0}
        template = initial_opt_state(trainer, params0)
        leaves, treedef = jax.tree_util.tree_flatten(template)
        restored = [jnp.asarray(arrays[f"opt_state/{i}"], dtype=leaf.dtype).reshape(leaf.shape)
                    for i, leaf in enumerate(leaves)]
    except (KeyError, ValueError, TypeError):
        return None
    if any(params[k].shape != params0[k].shape for k in params0):
        return None
    rows = [_plain_row(r) for r in rows if r["step"] <= step]
    if not rows or rows[-1]["step"] != step:
        return None
    return Checkpoint(params=params, opt_state=jax.tree_util.tree_unflatten(treedef, restored), step=step, rows=rows)


def _plain_row(row: dict) -> dict:
    """A parquet row back to the Python values the logger writes (lists, floats, ints)."""
    out = {}
    for key, value in row.items():
        if isinstance(value, np.ndarray):
            out[key] = value.tolist()
        elif isinstance(value, (np.integer,)):
            out[key] = int(value)
        elif isinstance(value, (np.floating,)):
            out[key] = float(value)
        else:
            out[key] = value
    return out


def remove(run_dir: Path) -> None:
    (run_dir / CHECKPOINT).unlink(missing_ok=True)
