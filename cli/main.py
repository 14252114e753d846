"""The ``variance`` command. Commands that create things print JSON on stdout; errors
are one line on stderr with a non-zero exit status."""

from __future__ import annotations

import sys

import click
import typer

from variance.cli import (
    connections,
    contacts,
    dbt,
    dead_letters,
    orgs,
    pipeline,
    servers,
    slack,
    tag_members,
    tags,
    users_web,
    views,
    warehouse,
    workspace,
)
from variance.cli.common import CliError, say, settings
from variance.workspace.errors import WorkspaceError

app = typer.Typer(
    help="Variance signals: Segment product analytics turned into signals.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)
app.add_typer(servers.emulator_app, name="emulator")
app.command("api")(servers.api)
app.add_typer(orgs.app, name="orgs")
app.add_typer(connections.app, name="connections")
app.add_typer(workspace.users_app, name="users")
users_web.register(workspace.users_app)  # set-password, invite-link: sign-in for people
app.add_typer(workspace.streams_app, name="streams")
app.add_typer(workspace.follows_app, name="follows")
app.add_typer(workspace.milestones_app, name="milestones")
app.add_typer(contacts.app, name="contacts")
app.command("pipeline", context_settings=pipeline.CONTEXT)(pipeline.pipeline)
app.command("backfill", context_settings=pipeline.CONTEXT)(pipeline.backfill)
app.add_typer(tags.app, name="tags")
tag_members.register(tags.app)  # tags refresh: who carries each smart tag now
app.add_typer(views.app, name="views")
app.add_typer(warehouse.app, name="warehouse")
app.add_typer(dbt.app, name="dbt")
app.add_typer(slack.app, name="slack")
app.add_typer(dead_letters.app, name="dead-letters")


@app.command("db-upgrade")
def db_upgrade() -> None:
    """Create or upgrade the app database schema (the API does this on start)."""
    # Alembic only when the schema is upgraded, not on every start of the CLI.
    from variance.appdb.session import make_engine, migrate

    engine = make_engine(settings().resolved_database_url)
    migrate(engine)
    engine.dispose()
    say("app database is up to date")


def main() -> None:
    try:
        app(standalone_mode=False)
    except (CliError, WorkspaceError) as exc:
        sys.stderr.write(f"error: {exc}\n")
        sys.exit(getattr(exc, "code", 1) if isinstance(getattr(exc, "code", 1), int) else 1)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        sys.stderr.write("aborted\n")
        sys.exit(130)
    except Exception as exc:  # click usage errors and anything unexpected: one line, not a trace
        if isinstance(exc, click.ClickException):
            exc.show()
            sys.exit(exc.exit_code)
        sys.stderr.write(f"error: {type(exc).__name__}: {exc}\n")
        sys.exit(1)


if __name__ == "__main__":
    main()
