"""Simulation models of the Apache MPMs, hardware profiles and cost models."""
