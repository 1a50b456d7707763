"""twin — a terminal digital twin of an AI factory."""

__version__ = "0.1.0"
