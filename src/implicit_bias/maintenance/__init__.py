"""Maintenance of an output directory: repairing damaged runs (``ls --repair``)."""
