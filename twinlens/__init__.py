"""twinlens: synthetic monitoring and real-user monitoring for Prometheus and Grafana.

Importing this package starts nothing; the ``twinlens`` command lives in
:mod:`twinlens.cli`.
"""

from twinlens.runtime.version import __version__

__all__ = ["__version__"]
