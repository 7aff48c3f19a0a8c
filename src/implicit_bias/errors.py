"""The error every bad input raises: the bottom layer, imported by settings and everything above."""

from __future__ import annotations


class ConfigError(ValueError):
    """A bad config value. ``key`` is the dotted path of the offending key."""

    def __init__(self, key: str, message: str):
        self.key = key
        self.message = message
        super().__init__(f"{key}: {message}" if key else message)
