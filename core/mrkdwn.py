"""Slack's mrkdwn escaping, for any text that comes from events or users.

Slack reads ``<...>`` as a mention, a link or a broadcast (``<!channel>``, ``<!here>``), so an
event property or a user id must never reach a message unescaped. Slack documents exactly three
characters to escape, and ``&`` first so an escape is never escaped twice.
"""

from __future__ import annotations


def escape(text: str) -> str:
    """``text`` made inert for Slack: ``&``, ``<`` and ``>`` as HTML entities, nothing else."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
