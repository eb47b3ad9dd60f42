"""Collecting touchpoints: validation, file import and identity resolution."""
