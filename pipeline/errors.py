"""The errors churnlens raises at its boundaries; each message says what to do."""
from __future__ import annotations


class ChurnlensError(Exception):
    """Base class: a problem the user can fix (bad input, bad config, wrong model)."""


class TaxonomyError(ChurnlensError):
    """labels.yaml is missing, malformed or invalid."""


class InputError(ChurnlensError):
    """An input file cannot be read as asked (format, encoding, columns)."""


class ModelMismatchError(ChurnlensError):
    """The classifier was trained on a different taxonomy or encoder than the one in use."""
