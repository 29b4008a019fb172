"""Running the app past one laptop: the configuration of each part, and `local_hall` (which starts
the whole set on this machine's loopback ports, for trying, testing and benchmarks)."""
