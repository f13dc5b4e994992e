"""The guideline library shipped with guidec (package data)."""
