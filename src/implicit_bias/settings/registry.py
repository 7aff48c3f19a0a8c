"""Registration of new section kinds (a problem, a trainer, ...) by extensions (docs/extending.md).

:func:`register_kind` adds a key table to the schema table of its section (``schema.PROBLEMS``,
``schema.TRAINERS``, ...), which resolution, hashing, ``all_keys`` and the typed settings read; for
a problem it also records what the cross-field checks (:mod:`~implicit_bias.settings.checks`) need
to know about it. The built-in problem kinds are described by the same records
(:mod:`~implicit_bias.settings.problem_kinds`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping

from implicit_bias.settings.schema import KINDED_SECTIONS, Key

Table = Mapping[str, Any]


@dataclass(frozen=True)
class ProblemRecord:
    """What the checks know of a registered problem kind (each taking the resolved ``[problem]`` table)."""

    kind: str
    #: the end-to-end shape, e.g. ``lambda p: (p["n_features"],)``; None: known only from the data
    shape: Callable[[Table], tuple[int, ...] | None] | None = None
    #: the number of observations m (bounds ``batch_size``); None: unknown before the data is read
    n_observations: Callable[[Table], int | None] | None = None
    #: True if the problem has inputs X (``input_noise``, ``dropout``, an mlp model apply)
    has_inputs: bool = False
    #: True (or a function of the table) if the problem has a held-out split (``patience``)
    held_out: bool | Callable[[Table], bool] = False
    #: a cross-field check of the whole resolved config; raises ConfigError
    check: Callable[[Table], None] | None = None
    #: (key, number of entries) of the largest data array, refused above MAX_DATA_ENTRIES
    data_size: Callable[[Table], tuple[str, int]] | None = None
    #: True if the training loss is the squared error of docs/conventions.md (mean of ½(prediction −
    #: target)², no ½ with ``loss = "mse"``), which the CLI then names; a plug-in's own loss is not named
    squared_loss: bool = False
    #: True (or a function of the table) if the targets are labels ±1 scored by a classification
    #: loss (``problem.loss`` = logistic | exponential): the classification metrics, the
    #: ``max_margin`` baseline and the normalized trainers apply
    classification: bool | Callable[[Table], bool] = False

    def is_classification(self, problem: Table) -> bool:
        return bool(self.classification(problem) if callable(self.classification) else self.classification)

    def has_held_out(self, problem: Table) -> bool:
        return bool(self.held_out(problem) if callable(self.held_out) else self.held_out)


PROBLEM_RECORDS: dict[str, ProblemRecord] = {}
#: the cross-field checks of registered kinds of the other sections, by (section, kind)
CHECKS: dict[tuple[str, str], Callable[[Table], None]] = {}


def register_kind(section: str, kind: str, keys: Mapping[str, Key], *, check: Callable[[Table], None] | None = None,
                  shape: Callable[[Table], tuple[int, ...] | None] | None = None,
                  n_observations: Callable[[Table], int | None] | None = None, has_inputs: bool = False,
                  held_out: bool | Callable[[Table], bool] = False,
                  data_size: Callable[[Table], tuple[str, int]] | None = None) -> None:
    """Declare ``[section] kind = "<kind>"`` with its ``keys`` (built with ``schema.Key`` and its helpers).

    ``check(resolved)`` is an optional cross-field check of the whole resolved config (raise
    :class:`~implicit_bias.errors.ConfigError`). For a problem: ``shape(problem_table)`` gives the
    end-to-end shape, ``n_observations(problem_table)`` the number of observations, ``has_inputs``
    says that it has inputs X like least_squares, ``held_out`` that it has a held-out split, and
    ``data_size`` bounds its memory. A kind that exists is refused (``ValueError``)."""
    if section not in KINDED_SECTIONS:
        raise ValueError(f"no section [{section}] chosen by a kind; sections: {', '.join(KINDED_SECTIONS)}")
    table = KINDED_SECTIONS[section][0]
    if kind in table:
        raise ValueError(f"[{section}] kind {kind!r} exists already")
    if not kind or not isinstance(kind, str):
        raise ValueError(f"a kind is a non-empty string, got {kind!r}")
    bad = [name for name, key in keys.items() if not isinstance(key, Key) or name == "kind"]
    if bad:
        raise ValueError(f"[{section}] kind {kind!r}: {bad[0]!r} is not a key (a schema.Key, not named 'kind')")
    if section != "problem" and (shape or n_observations or has_inputs or held_out or data_size):
        raise ValueError("shape, n_observations, has_inputs, held_out and data_size describe problems only")
    table[kind] = dict(keys)
    if section == "problem":
        PROBLEM_RECORDS[kind] = ProblemRecord(kind, shape=shape, n_observations=n_observations,
                                              has_inputs=has_inputs, held_out=held_out, check=check,
                                              data_size=data_size)
    elif check is not None:
        CHECKS[(section, kind)] = check


def describe_problem(record: ProblemRecord) -> None:
    """Record the facts of a problem kind whose keys are already in the schema (the built-in ones,
    :mod:`~implicit_bias.settings.problem_kinds`)."""
    if record.kind not in KINDED_SECTIONS["problem"][0] or record.kind in PROBLEM_RECORDS:
        raise ValueError(f"problem kind {record.kind!r}: no keys declared, or described twice")
    PROBLEM_RECORDS[record.kind] = record


def problem_record(kind: str) -> ProblemRecord | None:
    """The record of a problem kind (built-in or registered); None for a kind nobody declared."""
    return PROBLEM_RECORDS.get(kind)
