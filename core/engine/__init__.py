"""The signals engine: one organisation's events in, warehouse rows out.

Pure Python over the core contracts, no Beam and no I/O, so that the streaming
pipeline, the batch backfill and the plain-Python benchmark reference all run the same
code and give the same answers.
"""
