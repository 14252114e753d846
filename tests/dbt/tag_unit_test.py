"""The dbt unit test of the smart tag logic (``fct_tag_members``), generated here.

A tag's SQL comes from the core's compiler through ``VARIANCE_DBT_DEFINITIONS``, so the
unit test overrides that variable with the compiler's output for a few fixed trees; writing
that SQL into the YAML by hand would be a second copy of it. So the YAML file is generated
(``python -m tests.dbt.tag_unit_test --write``) and a test checks that the committed file is
what the compiler gives today.

The fixture: organisation ``o`` with three accounts and one contact, and an organisation
``p`` whose account ``a1`` would match every tag of ``o`` (it must never appear).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import yaml

from variance.cli import dbt as cli_dbt
from variance.core.tag_tree import parse_definition

AS_OF = "2024-05-31T12:00:00.000000Z"
PATH = cli_dbt.project_dir() / "models" / "marts" / "fct_tag_members__unit_tests.yml"

TREES = {
    "tag_pro_pql": (
        "Pro and PQL",
        "account",
        {
            "type": "group",
            "match": "all",
            "conditions": [
                {"type": "trait", "filter": {"path": "plan", "op": "equals", "value": "pro"}},
                {"type": "milestone", "milestone_id": "mil_pql", "status": "achieved", "days": None},
            ],
        },
    ),
    "tag_busy": (
        "Busy this week",
        "account",
        {
            "type": "group",
            "match": "any",
            "conditions": [
                {"type": "event_count", "kind": "Action", "name": "Invited User", "op": "gte", "value": 5, "days": 7}
            ],
        },
    ),
    "tag_not_pro_pql": (
        "Not pro and PQL",
        "account",
        {"type": "group", "match": "all", "conditions": [{"type": "tag", "tag_id": "tag_pro_pql", "has": False}]},
    ),
    "tag_recent_pql": (
        "PQL this week",
        "account",
        {
            "type": "group",
            "match": "all",
            "conditions": [{"type": "milestone", "milestone_id": "mil_pql", "status": "achieved_within", "days": 7}],
        },
    ),
    "tag_admins": (
        "Admins",
        "contact",
        {
            "type": "group",
            "match": "all",
            "conditions": [{"type": "trait", "filter": {"path": "role", "op": "equals", "value": "admin"}}],
        },
    ),
}


def definitions() -> cli_dbt.Definitions:
    found = cli_dbt.Definitions()
    for tag_id, (name, entity, tree) in TREES.items():
        found.tags.append(cli_dbt.TreeDef("o", tag_id, name, entity, parse_definition(tree)))
    return found


def unit_tests() -> dict:
    compiled = json.dumps(cli_dbt.compile_definitions(definitions(), "duckdb"), sort_keys=True)
    return {
        "version": 2,
        "unit_tests": [
            {
                "name": "tag_membership_follows_traits_milestones_counts_and_other_tags",
                "description": (
                    "a1 is pro and holds the PQL milestone (reached 1.5 days ago); a2 holds it since 11.5 days "
                    "but is on the free plan; a3 invited 6 users this week (and 10 more, 11 days ago) and "
                    "never reached PQL. Tags: all of (pro, PQL) = a1; Invited User >= 5 on the last 7 days = a3; "
                    "not the first tag = a2, a3; PQL reached within 7 days = a1; contacts whose role is admin = c1. "
                    "Organisation p's a1 matches everything and is in no tag of o."
                ),
                "model": "fct_tag_members",
                "overrides": {
                    "env_vars": {cli_dbt.DEFINITIONS_VARIABLE: compiled, cli_dbt.AS_OF_VARIABLE: AS_OF},
                },
                "given": [
                    {
                        "input": "ref('dim_accounts')",
                        "rows": [
                            {"org_id": "o", "account_id": "a1", "traits": '{"plan": "pro"}'},
                            {"org_id": "o", "account_id": "a2", "traits": '{"plan": "free"}'},
                            {"org_id": "o", "account_id": "a3", "traits": "{}"},
                            {"org_id": "p", "account_id": "a1", "traits": '{"plan": "pro"}'},
                        ],
                    },
                    {
                        "input": "ref('dim_contacts')",
                        "rows": [
                            {"org_id": "o", "contact_id": "c1", "traits": '{"role": "admin"}'},
                            {"org_id": "o", "contact_id": "c2", "traits": '{"role": "member"}'},
                        ],
                    },
                    {
                        "input": "ref('fct_milestone_status')",
                        "rows": [
                            _status("o", "a1", True, "2024-05-30 00:00:00+00"),
                            _status("o", "a2", True, "2024-05-20 00:00:00+00"),
                            _status("o", "a3", False, None),
                            _status("p", "a1", True, "2024-05-31 00:00:00+00"),
                        ],
                    },
                    {
                        "input": "ref('int_entity_daily_activity')",
                        "rows": [
                            _activity("o", "a3", "2024-05-31", 4),
                            _activity("o", "a3", "2024-05-25", 2),
                            _activity("o", "a3", "2024-05-20", 10),
                            _activity("p", "a1", "2024-05-31", 50),
                        ],
                    },
                    {
                        "input": "ref('stg_app__smart_tags')",
                        "rows": [
                            {"org_id": "o", "tag_id": tag_id, "name": name, "entity_type": entity}
                            for tag_id, (name, entity, _) in TREES.items()
                        ],
                    },
                ],
                "expect": {
                    "rows": [
                        {"tag_id": tag_id, "entity_id": entity_id, "org_id": "o"}
                        for tag_id, entity_id in (
                            ("tag_pro_pql", "a1"),
                            ("tag_busy", "a3"),
                            ("tag_not_pro_pql", "a2"),
                            ("tag_not_pro_pql", "a3"),
                            ("tag_recent_pql", "a1"),
                            ("tag_admins", "c1"),
                        )
                    ]
                },
            }
        ],
    }


def _status(org: str, account: str, achieved: bool, at: str | None) -> dict:
    return {
        "org_id": org,
        "milestone_id": "mil_pql",
        "entity_id": account,
        "entity_type": "account",
        "achieved": achieved,
        "achieved_at": at,
    }


def _activity(org: str, account: str, day: str, events: int) -> dict:
    return {
        "org_id": org,
        "entity_type": "account",
        "entity_id": account,
        "day": day,
        "kind": "Action",
        "name": "Invited User",
        "events": events,
    }


def rendered() -> str:
    header = "# Generated by `python -m tests.dbt.tag_unit_test --write` (tests/dbt/tag_unit_test.py); do not edit.\n"
    return header + yaml.safe_dump(unit_tests(), sort_keys=False, width=120, allow_unicode=True)


if __name__ == "__main__":
    if sys.argv[1:] == ["--write"]:
        Path(PATH).write_text(rendered())
        print(f"wrote {PATH}")
    else:
        raise SystemExit("usage: python -m tests.dbt.tag_unit_test --write")
