"""The README's generated parts equal what their generators make: the settings table from
``core/settings.py`` and the benchmark tables from the committed ``bench/results/*.json``."""

from __future__ import annotations

import importlib.util
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import Field

from variance.cli import readme as readme_cli
from variance.core.readme import (
    SETTINGS_BLOCK,
    MissingBlock,
    generated_block,
    settings_table,
    with_generated_block,
)
from variance.core.settings import Settings

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def _report_module():
    spec = importlib.util.spec_from_file_location("bench_report", ROOT / "bench" / "report.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the file runs
    spec.loader.exec_module(module)
    return module


report = _report_module()


# ---- settings --------------------------------------------------------------------------


def test_the_readme_settings_table_is_the_one_generated_from_the_definition():
    assert generated_block(README.read_text(encoding="utf-8"), SETTINGS_BLOCK) == settings_table(), (
        "README's settings table differs from core/settings.py: run .venv/bin/python -m variance.cli.readme"
    )


def test_the_settings_table_has_one_row_per_field_with_its_default_bounds_and_description():
    rows = settings_table().splitlines()[2:]
    variables = [re.match(r"^\| `([A-Z_]+)` \|", row).group(1) for row in rows]
    assert variables == [field.alias for field in Settings.model_fields.values()]
    by_variable = dict(zip(variables, rows, strict=True))
    assert by_variable["VARIANCE_PUBLISH_TIMEOUT"] == (
        "| `VARIANCE_PUBLISH_TIMEOUT` | `5` | > 0, ≤ 60 | seconds the API waits for Pub/Sub to confirm before answering 503 |"
    )
    assert by_variable["VARIANCE_WAREHOUSE"].startswith("| `VARIANCE_WAREHOUSE` | `local` | `local` or `bigquery` | ")
    assert by_variable["VARIANCE_DATA_DIR"].startswith("| `VARIANCE_DATA_DIR` | `.variance/` |  | everything local")
    assert by_variable["PUBSUB_EMULATOR_HOST"].startswith("| `PUBSUB_EMULATOR_HOST` | unset |  | ")


def test_a_setting_without_a_description_cannot_reach_the_readme():
    class Undocumented(Settings):
        shiny_new_knob: int = Field(3, alias="VARIANCE_SHINY_NEW_KNOB")

    with pytest.raises(ValueError, match=r"'shiny_new_knob' needs an alias .* and a description"):
        settings_table(Undocumented)


def test_a_generated_block_is_replaced_between_its_markers_only():
    text = "before\n<!-- x:start note -->\nold\n<!-- x:end -->\nafter <!-- y:start -->\n"
    assert (
        with_generated_block(text, "x", "new")
        == "before\n<!-- x:start note -->\nnew\n<!-- x:end -->\nafter <!-- y:start -->\n"
    )
    with pytest.raises(MissingBlock, match=r"expected one <!-- y:start --> \.\.\. <!-- y:end --> block, found 0"):
        generated_block(text, "y")


def test_the_readme_command_rewrites_a_stale_settings_table_and_check_says_so(tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text("# x\n<!-- settings:start -->\n| stale |\n<!-- settings:end -->\ntail\n", encoding="utf-8")
    assert readme_cli.main(["--readme", str(readme), "--check"]) == 1
    assert "the settings table differs from core/settings.py" in capsys.readouterr().err
    assert readme_cli.main(["--readme", str(readme)]) == 0
    assert readme.read_text(encoding="utf-8") == (
        "# x\n<!-- settings:start -->\n" + settings_table() + "<!-- settings:end -->\ntail\n"
    )
    assert readme_cli.main(["--readme", str(readme), "--check"]) == 0
    (tmp_path / "none.md").write_text("no markers\n", encoding="utf-8")
    assert readme_cli.main(["--readme", str(tmp_path / "none.md")]) == 1
    assert "found 0" in capsys.readouterr().err


# ---- benchmarks ------------------------------------------------------------------------


def test_the_readme_benchmark_tables_are_the_report_of_the_committed_results():
    text = README.read_text(encoding="utf-8")
    blocks = report.readme_blocks(report.load())
    present = {name for name in blocks if f"<!-- {name}:start" in text}
    assert {"bench:summary", "bench:ingest", "bench:api", "bench:pipeline", "bench:scale", "bench:dbt"} <= present
    stale = [name for name in sorted(present) if generated_block(text, name) != blocks[name]]
    assert stale == [], f"README blocks {stale} differ from bench/results/*.json: run .venv/bin/python bench/report.py"


def test_bench_results_md_is_up_to_date():
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "report.py"), "--check"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr


def _write(folder: Path, name: str, payload: dict) -> None:
    (folder / f"{name}.json").write_text(json.dumps(payload), encoding="utf-8")


def test_the_report_shows_the_machine_or_what_an_older_file_has(tmp_path):
    _write(
        tmp_path,
        "dbt",
        {
            "date": "2026-12-01T21:54:57+00:00",
            "machine": {
                "cpus": 2,
                "cpu_model": "AMD EPYC",
                "memory_gb": 23.5,
                "platform": "Linux-x",
                "python": "3.11.7",
                "processor": "x86_64",
                "load_1min": 1.5,
            },
            "goal": "1M events built in under 15 s",
            "runs": [
                {
                    "event_count": 1_000_000,
                    "build_s": 16.2,
                    "build_events_per_s": 61728,
                    "build_nodes": 84,
                    "run_s": 9.0,
                    "run_models": 26,
                    "test_s": 4.0,
                    "data_tests": 58,
                    "reference_s": 0.2,
                    "ratio_reference_to_build": 0.012,
                    "load_1min": 1.6,
                }
            ],
        },
    )
    # An older file: no date, no machine, only the load it recorded itself.
    _write(tmp_path, "mystery", {"load_1min": 5.54, "speed": {"items_per_s": 12.5}, "runs": [1, 2]})
    reports = report.load(tmp_path)
    assert [r.name for r in reports] == ["dbt", "mystery"]
    summary = report.summary(reports)
    assert (
        "| dbt | 2026-12-01 | `variance dbt build`, 1,000,000 events | 16.2 s | bare DuckDB query: 0.2 s | 0.012"
        " | 1M events < 15 s: **not met** |"
    ) in summary
    assert "| dbt | 2026-12-01 21:54:57 UTC | 2 | AMD EPYC | 23.5 GB | 3.11.7 | Linux-x | 1.5 |" in summary
    assert (
        "| mystery | not recorded | not recorded | not recorded | not recorded | not recorded | not recorded | 5.54 |"
        in summary
    )
    mystery = report.detail(reports[1])
    assert mystery.startswith("Date not recorded; machine not recorded; load average 5.54.\n")
    assert "| `speed.items_per_s` | 12.5 |" in mystery and "| `runs[1]` | 2 |" in mystery
    markdown = report.results_markdown(reports)
    assert "## dbt (`.venv/bin/python bench/dbt.py`, `bench/results/dbt.json`)" in markdown
    assert "Measured 2026-12-01 21:54:57 UTC on 2 cores (AMD EPYC), memory 23.5 GB, Python 3.11.7" in markdown


def test_the_slack_report_reads_the_whole_pipeline_run_and_the_sink_alone(tmp_path):
    def run(delay: float, rate: float) -> dict:
        return {
            "slack_delay_s": delay,
            "published": 200,
            "offered_per_s": 50.0,
            "outbox_drain_after_last_publish_s": 1.93,
            "outbox_matches_per_s": rate,
            "slack_posts_meanwhile": 6,
        }

    sink = {
        "slack_at_once": {"slack_delay_s": 0.0, "matches": 5000, "matches_per_s": 1087.5, "slack_calls_meanwhile": 1},
        "slack_500ms": {"slack_delay_s": 0.5, "matches": 5000, "matches_per_s": 1371.5, "slack_calls_meanwhile": 1},
        "slow_over_fast": 1.261,
    }
    pipeline = {"slack_at_once": run(0.0, 29.1), "slack_500ms": run(0.5, 16.9), "slow_over_fast": 0.581}
    _write(tmp_path, "slack", {"pipeline": pipeline, "sink": sink})
    (slack,) = report.load(tmp_path)
    assert [(row.measure, row.ratio, [str(g) for g in row.goals]) for row in slack.rows] == [
        ("streaming pipeline with Slack at 500 ms a call", "0.581", ["ratio ≥ 0.9: **not met**"]),
        ("Slack sink with Slack at 500 ms a call", "1.261", ["ratio ≥ 0.9: met"]),
    ]
    assert "|  | 500 ms a call | 16.9 | 1.93 s | 6 | 0.581 | ratio ≥ 0.9: **not met** |" in slack.detail


def test_a_results_file_of_an_unexpected_shape_is_named_in_the_error(tmp_path):
    _write(tmp_path, "ingest", {"modes": {"batch_100": {"events_per_s": 1}}})
    with pytest.raises(SystemExit, match=r"ingest\.json: unexpected shape for bench/ingest\.py's results"):
        report.load(tmp_path)


def test_a_results_file_that_is_not_json_is_named_in_the_error(tmp_path):
    (tmp_path / "web.json").write_text('{"pages": ', encoding="utf-8")
    with pytest.raises(SystemExit, match=r"web\.json: not a readable JSON results file \(Expecting value"):
        report.load(tmp_path)
