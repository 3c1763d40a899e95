"""Utilities of sklearn-zlp."""
