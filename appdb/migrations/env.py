"""Alembic environment: the engine comes from ``variance.appdb.session.migrate``."""

from alembic import context

from variance.appdb.models import Base
from variance.appdb.types import UTCDateTime


def _render_item(type_, obj, autogen_context):
    # Migrations hold plain SQLAlchemy types so they never break when app code moves.
    if type_ == "type" and isinstance(obj, UTCDateTime):
        return "sa.DateTime(timezone=True)"
    return False


engine = context.config.attributes["engine"]
with engine.begin() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        render_item=_render_item,
    )
    context.run_migrations()
