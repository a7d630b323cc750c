"""Workload generation: distributions, request mix, open and closed load."""
