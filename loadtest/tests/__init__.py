"""Tests of the load lab: ``python3 -m unittest discover -s loadtest/tests -t loadtest``."""
