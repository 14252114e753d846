"""The HTTP API: Segment-compatible ingestion and the management API.

Routes (``routes/``) only parse, call a plain function and map its errors to HTTP;
business rules live in ``services/`` and ``ingest/``, which tests and the CLI call
directly. The API uses the core and the app database; it never imports Beam."""
