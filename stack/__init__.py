"""The local stack as processes: start, wait until ready, stop by PID, for the demo, tests and benchmarks."""
