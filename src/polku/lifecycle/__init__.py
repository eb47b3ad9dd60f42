"""Lifecycle stages: the rules that move contacts through the funnel."""
