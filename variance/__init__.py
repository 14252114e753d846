"""Variance signals: Segment product analytics turned into signals for sellers."""

__version__ = "0.1.0"
