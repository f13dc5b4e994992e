"""guidec: a declarative language and compiler for clinical treatment guidelines."""

__version__ = "0.1.0"
