"""The dbt project's shape: sources generated from core/warehouse.py, a YAML file with a
description of every model and column, no packages, adapter differences only in macros."""

from __future__ import annotations

import re

import yaml

from variance.cli import dbt as cli_dbt
from variance.core.warehouse import TABLES


def test_sources_file_is_generated_from_the_warehouse_schema():
    assert cli_dbt.sources_path().read_text() == cli_dbt.sources_yaml()
    (source,) = yaml.safe_load(cli_dbt.sources_path().read_text())["sources"]
    tables = {t["name"]: t for t in source["tables"]}
    assert list(tables) == list(TABLES)
    for name, table in TABLES.items():
        assert [(c["name"], c["data_type"]) for c in tables[name]["columns"]] == [
            (c.name, c.type) for c in table.columns
        ]
        assert "read_parquet(" in tables[name]["meta"]["external_location"]


def test_every_model_has_a_yaml_describing_it_and_every_column():
    models = sorted((cli_dbt.project_dir() / "models").rglob("*.sql"))
    assert len(models) >= 25
    for sql_file in models:
        spec = yaml.safe_load(sql_file.with_suffix(".yml").read_text())
        (model,) = spec["models"]
        assert model["name"] == sql_file.stem and model["description"]
        assert model["columns"] and all(c.get("description") for c in model["columns"]), sql_file.stem
        if sql_file.parent.name == "marts":
            # every mart: its key unique, its required columns not null (one test for all)
            tests = {next(iter(t)) if isinstance(t, dict) else t for t in model.get("data_tests", [])}
            assert {"unique_key", "not_null_columns"} <= tests, f"{sql_file.stem} lacks key or not-null tests"
            columns = {c["name"] for c in model["columns"]}
            (not_null,) = [t["not_null_columns"] for t in model["data_tests"] if "not_null_columns" in t]
            assert set(not_null["arguments"]["columns"]) <= columns, sql_file.stem


def test_no_packages_and_no_adapter_tests_in_models():
    project = cli_dbt.project_dir()
    assert not (project / "packages.yml").exists() and not (project / "dependencies.yml").exists()
    for sql_file in (project / "models").rglob("*.sql"):
        assert not re.search(r"target\.type", sql_file.read_text()), sql_file.name
    macros = (project / "macros" / "adapter.sql").read_text()
    assert macros.count("adapter.dispatch(") >= 10


def test_team_view_names_are_stable_and_never_collide():
    names = cli_dbt.warehouse_view_names(
        [
            ("org_A1", "view_2", "Sales Pipeline!"),
            ("org_A1", "view_1", "sales  pipeline"),
            ("org_b2", "view_3", "Sales Pipeline"),
        ]
    )
    assert names == {
        "view_1": "view_org_a1_sales_pipeline",
        "view_2": "view_org_a1_sales_pipeline_view_2",
        "view_3": "view_org_b2_sales_pipeline",
    }
