"""Configuration without an app database: a provider that answers fixed snapshots, for
Beam tests and benchmarks that run the transforms on configuration they build in code."""

from __future__ import annotations

from variance.core.engine.config import OrgConfig


class StaticConfig:
    """A config provider that always answers the same snapshot per organisation (an
    organisation it was not given has an empty configuration)."""

    def __init__(self, *configs: OrgConfig):
        self._configs = {c.org_id: c for c in configs}

    def __call__(self, org_id: str) -> OrgConfig:
        return self._configs.get(org_id) or OrgConfig(org_id=org_id)
