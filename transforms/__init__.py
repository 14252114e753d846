"""Beam transforms of the signals pipeline. They know nothing of where data comes from
or goes to: ``pipelines/`` wires sources and sinks to them from options. Each one works
on the core's types and calls the core's engine, so streaming and batch agree."""
