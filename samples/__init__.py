"""Sample workspaces and Segment traffic for the demo, the benchmarks and the tests."""
