"""Benchmarks behind ``livebokeh bench``; each prints its baseline from the same run."""
