"""Contracts every part shares: settings, the event model, bus attributes, warehouse
schema, property filters. Pure Python, no I/O: transforms, the API and dbt tooling
all import from here, and nothing here imports from them."""
