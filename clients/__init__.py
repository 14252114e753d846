"""One module per external service (Pub/Sub, Slack, the Pub/Sub emulator).

Constructed only by the parts that talk to the outside: ``pipelines``, ``api`` and ``cli``;
the business rules in ``workspace`` get a client handed to them through an interface.
"""
