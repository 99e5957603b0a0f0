"""The storm harness (issue 11, point 5), shared by `benchmarks/bench_storm.py` (1,000 agents) and
`tests/api/test_storm.py` (a lighter one): every agent of a fabric loses the controller, a revision that
changes every switch lands meanwhile, and the controller comes back to all of them asking at once.

`fabric`: the fabric and the outage's revision; `server`: the controller in a process of its own;
`agents`: the simulated agents; `run`: one side of the comparison, start to finish."""
