"""Slack for streams: the durable outbox the pipeline records stream matches into, the one
sender that posts them at each channel's rate (``variance slack sender``), installations
per organisation with encrypted bot tokens, and what Slack calls back (events, buttons).

The pipeline never talks to Slack: a slow or rate-limited Slack delays only Slack, and one
process knows every channel's rate, which no set of pipeline workers could share.
"""
