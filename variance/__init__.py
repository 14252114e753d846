"""Variance signals: Segment product analytics turned into signals for sellers.

Each part is the package ``variance.X`` in the repository's folder ``X/`` (see setup.py). When
the repository root is on ``sys.path`` (pytest, ``python -m`` from a checkout) this folder is
found first; extending ``__path__`` lets the installed parts be found beside it.
"""

from pkgutil import extend_path

__path__ = extend_path(__path__, __name__)

__version__ = "0.1.0"
