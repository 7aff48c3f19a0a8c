"""The type of one config key (:class:`Key`) and the helpers that declare keys.

:mod:`implicit_bias.settings.schema` declares every key with these; extensions use the public
helpers (``int_key``, ``float_key``, ``choice_key``, ``traced``, ``batchable``) through
``implicit_bias.engine``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class Key:
    """One config key: its type, default, allowed values and a range check."""

    kind: str  # "int" | "float" | "str" | "bool" | "int_list" | "float_list" | "shape"
    default: Any
    doc: str
    choices: tuple = ()
    minimum: float | None = None
    exclusive_minimum: bool = False
    maximum: float | None = None
    nullable: bool = False
    #: True for a key added after run directories existed whose default reproduces the behaviour
    #: from before it: at that default it is left out of ``config_hash``, so old run directories
    #: keep their names and caches (any other value is hashed as usual).
    hash_neutral_default: bool = False
    #: True for a value that is an array in the compiled step (a new value never recompiles), as
    #: equinox's non-static fields; False for a compile-time (static) choice.
    traced: bool = False
    #: True for a value that may differ between the members of one vmap batch (docs/sweeps.md):
    #: a traced value that is not a loop bound, or one that only sets the data or initial arrays.
    batchable: bool = False
    #: True for an ``int_list`` that may be the empty list (``model.deep_linear.widths = []``: depth 1).
    empty_list: bool = False

    def describe(self) -> str:
        """Allowed values, as the error messages and docs state them."""
        if self.choices:
            return "one of " + ", ".join(repr(c) for c in self.choices)
        parts = {"int": "an integer", "float": "a finite number", "str": "a string",
                 "bool": "true or false", "int_list": "an integer or a list of integers",
                 "float_list": "a list of numbers >= 0", "str_list": "a list of strings", "shape": '"uniform" or a list of positive numbers'}[self.kind]
        if self.minimum is not None:
            parts += f" {'>' if self.exclusive_minimum else '>='} {self.minimum:g}"
        if self.maximum is not None:
            parts += f" and <= {self.maximum:g}"
        return parts


def _int(default, doc, minimum=None, maximum=None, nullable=False):
    return Key("int", default, doc, minimum=minimum, maximum=maximum, nullable=nullable)


def _float(default, doc, minimum=None, exclusive=False, maximum=None):
    return Key("float", default, doc, minimum=minimum, exclusive_minimum=exclusive, maximum=maximum)


def traced(key: Key, batchable: bool = True) -> Key:
    """``key`` as a traced value of the compiled step (and, unless it is a loop bound, batchable)."""
    return replace(key, traced=True, batchable=batchable)


def int_key(default, doc, minimum=None, maximum=None, nullable=False) -> Key:
    """An integer key (public helper for extensions)."""
    return _int(default, doc, minimum=minimum, maximum=maximum, nullable=nullable)


def float_key(default, doc, minimum=None, exclusive=False, maximum=None) -> Key:
    """A finite-number key (public helper for extensions)."""
    return _float(default, doc, minimum=minimum, exclusive=exclusive, maximum=maximum)


def choice_key(default, doc, *choices) -> Key:
    """A string key with a fixed set of values (public helper for extensions)."""
    return _choice(default, doc, *choices)


def batchable(key: Key) -> Key:
    """``key`` as a value that may differ inside one vmap batch (it only sets data or initial arrays)."""
    return replace(key, batchable=True)


def batchable_float(default, doc, minimum=None, exclusive=False, maximum=None) -> Key:
    return batchable(_float(default, doc, minimum=minimum, exclusive=exclusive, maximum=maximum))


def _choice(default, doc, *choices):
    return Key("str", default, doc, choices=tuple(choices))


def _later_choice(default, doc, *choices):
    """A choice added after run directories existed; its default is left out of the config hash."""
    return Key("str", default, doc, choices=tuple(choices), hash_neutral_default=True)
