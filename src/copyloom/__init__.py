"""copyloom: dynamic language optimisation of marketing email."""

__version__ = "0.1.0"
