"""The app database: configuration (organisations, users, connections, streams, ...)
and the serving tables the pipeline fills for the API. SQLite by default, PostgreSQL
(Cloud SQL) when ``VARIANCE_DATABASE_URL`` says so; Alembic owns the schema."""
