"""The dbt unit tests (small fixed inputs for the milestone, tag, attribution and staging
logic, in the models' YAML files). `variance dbt build` leaves them out, as dbt advises for
builds over real data; this runs them in a build with `--unit-tests` over the shared
build's lake and inputs (a unit test needs its model's parents built, and a build's
database lives only as long as the build)."""

from __future__ import annotations

from tests.dbt import scenario as sc
from tests.dbt import tag_unit_test
from variance.cli import dbt as cli_dbt
from variance.core.timeutil import from_micros


def test_the_tag_unit_test_holds_what_the_compiler_generates_today():
    assert tag_unit_test.PATH.read_text() == tag_unit_test.rendered(), "run `python -m tests.dbt.tag_unit_test --write`"


def test_every_dbt_unit_test_passes(built):
    outcome = cli_dbt.build(
        data_dir=built.data_dir,
        definitions=built.definitions,
        as_of=from_micros(sc.AS_OF),
        unit_tests=True,
        progress=False,
    )
    assert outcome.success, outcome.failures or outcome.error
    units = [r for r in outcome.results if r["resource_type"] == "unit_test"]
    names = {r["name"] for r in units}
    assert {
        "tag_membership_follows_traits_milestones_counts_and_other_tags",
        "changes_cross_the_threshold_up_to_the_as_of_time",
        "contact_and_account_as_of_the_event_time_and_retroactively",
        "counts_step_at_arrivals_and_expiries",
        "newest_row_per_key_as_the_lake_resolves_it",
    } <= names
    assert all(r["status"] == "pass" for r in units)
