"""Sizing report."""
