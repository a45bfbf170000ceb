"""The compiled part of twinlens: the RUM gateway's beacon recorder (Cython).

Everything else is in pyproject.toml. The extension is optional: without a C compiler
the install still succeeds and the gateway records in Python (rum_gateway/ingest.py).
"""

from Cython.Build import cythonize
from setuptools import Extension, setup

setup(
    ext_modules=cythonize(
        [Extension("rum_gateway._ingest", ["rum_gateway/_ingest.pyx"], optional=True)],
        language_level=3,
        quiet=True,
    )
)
