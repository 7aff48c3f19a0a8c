"""execution/compiled_code.py: JAX's caches are dropped only above the map budget, and dropping
them really frees the mappings of compiled executables."""

import jax
import jax.numpy as jnp
import pytest

from implicit_bias.execution import compiled_code


def test_caches_are_dropped_only_above_the_budget(monkeypatch):
    calls = []
    monkeypatch.setattr(jax, "clear_caches", lambda: calls.append(1))
    monkeypatch.setattr(compiled_code, "map_limit", lambda: 1000)
    monkeypatch.setattr(compiled_code, "map_count", lambda: 500)
    assert not compiled_code.release_compiled_code() and not calls
    monkeypatch.setattr(compiled_code, "map_count", lambda: 501)
    assert compiled_code.release_compiled_code() and calls == [1]
    monkeypatch.setattr(compiled_code, "map_count", lambda: None)  # no /proc: nothing to do
    assert not compiled_code.release_compiled_code()


@pytest.mark.skipif(compiled_code.map_count() is None, reason="needs /proc/self/maps")
def test_dropping_the_caches_frees_the_mappings_of_executables():
    before = compiled_code.map_count()
    functions = [jax.jit(lambda x, k=k: jnp.sin(x) * k) for k in range(100)]
    for f in functions:
        f(jnp.ones(3))
    grown = compiled_code.map_count()
    assert grown - before >= 100  # at least one mapping per executable (about 3 measured)
    assert compiled_code.release_compiled_code(fraction=0.0)
    assert compiled_code.map_count() < before + (grown - before) / 2
