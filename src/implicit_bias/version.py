"""The package version (read by config.json's ``versions`` table and the report footer)."""

__version__ = "0.1.0"
