"""Settings: the experiment document, its keys, validation, overrides and hashing.

Pure Python (no JAX): ``--print-config`` and config errors never start the engine.

- :mod:`~implicit_bias.settings.schema`: every key (type, default, range, meaning);
- :mod:`~implicit_bias.settings.values`: checks of one value;
- :mod:`~implicit_bias.settings.checks`: cross-field constraints;
- :mod:`~implicit_bias.settings.resolution`: :func:`resolve`, document → resolved config;
- :mod:`~implicit_bias.settings.document`: TOML files, ``--set`` overrides, :func:`load`;
- :mod:`~implicit_bias.settings.hashing`: :func:`config_hash`, :func:`run_dir_name`, :func:`all_keys`;
- :mod:`~implicit_bias.settings.typed`: the resolved config as typed frozen dataclasses.
"""

from implicit_bias.errors import ConfigError  # noqa: F401
from implicit_bias.settings.checks import (  # noqa: F401
    MATRIX_PROBLEMS,
    MAX_DATA_ENTRIES,
    MAX_LOGGED_ROWS,
    SINGULAR_AT_ZERO,
    VECTOR_PROBLEMS,
    end_to_end_shape,
    n_observations,
)
from implicit_bias.settings.document import (  # noqa: F401
    MAX_DEPTH,
    apply_overrides,
    as_config,
    default_config_path,
    load,
    load_toml,
    parse_override,
)
from implicit_bias.settings.hashing import all_keys, config_hash, run_dir_name  # noqa: F401
from implicit_bias.settings.registry import register_kind  # noqa: F401
from implicit_bias.settings.resolution import resolve, resolve_section  # noqa: F401
from implicit_bias.settings.schema import (  # noqa: F401
    BASELINES,
    KINDED_SECTIONS,
    METRICS,
    MODELS,
    OPTIONAL_SECTIONS,
    PENALTIES,
    PLAIN_SECTIONS,
    PROBLEMS,
    TOP_LEVEL,
    TRAINERS,
    Key,
)
from implicit_bias.settings.typed import (  # noqa: F401
    RunSettings,
    SectionSettings,
    section_settings,
    settings_class,
)
