"""The twinlens version, on the ground floor so every component can read it."""

__version__ = "0.1.0"
__all__ = ["__version__"]
