"""twinlens: synthetic monitoring and real-user monitoring for Prometheus and Grafana.

Importing this package starts nothing; the ``twinlens`` command lives in
:mod:`twinlens.cli`.
"""

__version__ = "0.1.0"
__all__ = ["__version__"]
