"""segscore benchmarks: baselines, pytest-benchmark suites and the scale script."""
