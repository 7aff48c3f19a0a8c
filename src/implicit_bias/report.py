"""Facade (re-export only): ``implicit_bias.report.write_report`` as documented in docs/report.md.

The report itself lives in :mod:`implicit_bias.analysis.report`; nothing inside the package imports
this module."""

from implicit_bias.analysis.report import render, write_report  # noqa: F401

__all__ = ["render", "write_report"]
