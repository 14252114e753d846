"""Slack mrkdwn escaping: exactly ``&``, ``<`` and ``>``, ``&`` first."""

from __future__ import annotations

import pytest

from variance.core.mrkdwn import escape


@pytest.mark.parametrize(
    ("raw", "escaped"),
    [
        ("<!channel>", "&lt;!channel&gt;"),
        ("<!here>", "&lt;!here&gt;"),
        ("<@U123>", "&lt;@U123&gt;"),
        ("<https://evil.example|click>", "&lt;https://evil.example|click&gt;"),
        ("a & b", "a &amp; b"),
        ("&lt;", "&amp;lt;"),
        ("*bold* _it_ `code` ~x~", "*bold* _it_ `code` ~x~"),
        ("", ""),
    ],
)
def test_escape(raw, escaped):
    assert escape(raw) == escaped
