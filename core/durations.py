"""Durations written the way users write them: ``30d``, ``12h``, ``90m``, ``45s``, ``2w``."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_PATTERN = re.compile(r"^\s*(\d{1,6})\s*([smhdw])\s*$")


class DurationError(ValueError):
    """A duration string that does not follow the ``<number><unit>`` rule."""


def parse_duration(text: str) -> timedelta:
    """Parse ``<integer><unit>`` where unit is s, m, h, d or w; raise DurationError otherwise."""
    match = _PATTERN.match(text) if isinstance(text, str) else None
    if not match:
        raise DurationError(
            f"{text!r} is not a duration: use a whole number followed by s, m, h, d or w, such as 30d or 12h"
        )
    value = int(match.group(1))
    if value == 0:
        raise DurationError(f"{text!r} is not a duration: it must be greater than zero")
    return timedelta(seconds=value * _UNITS[match.group(2)])


def format_duration(value: timedelta) -> str:
    """The shortest ``<integer><unit>`` string for a whole number of seconds."""
    seconds = int(value.total_seconds())
    for unit in ("w", "d", "h", "m"):
        if seconds % _UNITS[unit] == 0:
            return f"{seconds // _UNITS[unit]}{unit}"
    return f"{seconds}s"
