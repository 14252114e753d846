"""The HTTP API: Segment-compatible ingestion and the management API.

Routes (``routes/``) only parse, call a plain function of ``variance.workspace`` (the
business rules, which tests and the CLI call directly) and let ``errors`` map its domain
errors to HTTP; ``ingest/`` turns Segment's requests into bus messages. The API uses the
core, the workspace and the app database; it never imports Beam."""
