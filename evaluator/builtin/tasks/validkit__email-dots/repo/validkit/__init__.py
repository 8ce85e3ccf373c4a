"""Validators for sign-up forms."""
