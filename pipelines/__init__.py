"""Pipelines: wire sources and sinks, chosen from options, to the transforms.

``streaming`` reads Pub/Sub (a durable read of our own on Beam's local runner, Beam's
``ReadFromPubSub`` on Dataflow); ``backfill`` reads Segment archive files. Both run
the same transforms and write through the same ``sinks.WriteSignals``.
"""
