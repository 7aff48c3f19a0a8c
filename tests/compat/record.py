"""Record the compatibility fixture (run once, before the engine is restructured).

    .venv/bin/python tests/compat/record.py

writes ``tests/compat/fixture.json``: the config hash and run-directory name of every example
config, the embedded default, 500 generated documents that resolve and 300 that are refused (with the
key each refusal names), the set of documented key paths, and the SHA-256 of the default run's
``metrics.parquet`` with ``--batch off``. ``tests/compat/test_compat.py`` checks the current code
against it: a restructuring must keep every one of these values.
"""

from __future__ import annotations

import hashlib
import json
import random
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent.parent


def generated_documents(n: int, seed: int = 20261203) -> list[dict]:
    """``n`` documents drawn from the schema: every section kind, a random subset of its keys set to
    in-range values (sometimes out of range, so refusals are recorded too)."""
    from implicit_bias import settings as config

    rng = random.Random(seed)

    def value(spec):
        if spec.choices:
            return rng.choice(spec.choices)
        if spec.kind == "bool":
            return rng.random() < 0.5
        if spec.kind == "int":
            lo = int(spec.minimum) if spec.minimum is not None else 0
            hi = int(spec.maximum) if spec.maximum is not None else lo + 40
            return rng.randint(lo, min(hi, lo + 40))
        if spec.kind == "float":
            lo = spec.minimum if spec.minimum is not None else -1.0
            hi = spec.maximum if spec.maximum is not None else lo + 2.0
            return round(rng.uniform(lo, hi), 6) or 0.5
        if spec.kind == "int_list":
            return [rng.randint(1, 12) for _ in range(rng.randint(1, 3))] if rng.random() < 0.7 else rng.randint(1, 12)
        if spec.kind == "float_list":
            return [round(rng.uniform(0, 2), 4) for _ in range(rng.randint(1, 4))]
        if spec.kind == "str_list":
            return ["a", "b"]
        if spec.kind == "shape":
            return "uniform"
        if spec.kind == "str":
            return rng.choice(["x", "data.txt", "run one"])
        raise AssertionError(spec.kind)

    def section(kinds):
        kind = rng.choice(sorted(kinds))
        keys = kinds[kind]
        table = {"kind": kind}
        for name in rng.sample(sorted(keys), k=rng.randint(0, len(keys))):
            table[name] = value(keys[name])
        return table

    docs = []
    for i in range(n):
        doc = {"name": rng.choice(["fuzz", "run", "é-x", f"d{i}"])}
        if rng.random() < 0.5:
            doc["seed"] = rng.randint(0, 2**32 - 1)
        if rng.random() < 0.3:
            doc["dtype"] = rng.choice(["float32", "float64"])
        doc["problem"] = section(config.PROBLEMS)
        if rng.random() < 0.2:
            doc["baseline"] = section(config.BASELINES)
            if rng.random() < 0.3:
                doc["model"] = section(config.MODELS)
        else:
            doc["model"] = section(config.MODELS)
            doc["trainer"] = section(config.TRAINERS)
        if rng.random() < 0.6:
            doc["penalty"] = section(config.PENALTIES)
        if rng.random() < 0.3:
            doc["metrics"] = {"top_k": rng.randint(1, 20)}
        docs.append(doc)
    return docs


def describe(doc: dict) -> dict:
    from implicit_bias.settings import ConfigError, config_hash, resolve, run_dir_name

    try:
        resolved = resolve(doc)
    except ConfigError as exc:
        return {"doc": doc, "error_key": exc.key}
    return {"doc": doc, "hash": config_hash(resolved), "run_dir": run_dir_name(resolved)}


def default_metrics_sha256() -> str:
    from implicit_bias import cli

    with tempfile.TemporaryDirectory() as out:
        assert cli.main(["run", "--out", out, "--quiet"]) == 0
        (path,) = Path(out).glob("*/metrics.parquet")
        return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    from implicit_bias.settings import all_keys, config_hash, load, run_dir_name

    examples = {}
    for path in sorted((ROOT / "examples").glob("*.toml")):
        resolved = load(path)
        examples[path.name] = {"hash": config_hash(resolved), "run_dir": run_dir_name(resolved)}
    default = load(None)
    docs, refused = [], []
    for doc in generated_documents(4000):
        entry = describe(doc)
        (docs if "hash" in entry else refused).append(entry)
    docs = docs[:500] + refused[:300]
    fixture = {
        "examples": examples,
        "default": {"hash": config_hash(default), "run_dir": run_dir_name(default)},
        "documents": docs,
        "key_paths": sorted(all_keys()),
        "default_metrics_parquet_sha256": default_metrics_sha256() if "--no-run" not in sys.argv else None,
    }
    (HERE / "fixture.json").write_text(json.dumps(fixture, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    ok = sum("hash" in d for d in docs)
    print(f"{len(examples)} examples, {ok} resolved + {len(docs) - ok} refused documents, "
          f"{len(fixture['key_paths'])} key paths")


if __name__ == "__main__":
    main()
