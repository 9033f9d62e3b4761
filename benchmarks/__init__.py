"""raydistill benchmarks (`make bench`): real data from a path argument, results under reports/benchmarks/."""
