"""Benchmarks of the local stack (`make bench`): webhook throughput, notification
storms, full sync, create_meeting latency and cold starts, each against a floor.

Run with `python -m tests.bench [--only NAME ...]`; results go to `.bench/results.json`.
No module here is named `test_*`, so pytest never collects the benchmarks.
"""
