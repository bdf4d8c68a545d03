"""The suite's version (pyproject.toml says the same), in a module of its own so that the results log can
record it without importing the package's Python API."""

__version__ = "0.1.0"
