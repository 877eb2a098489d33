"""The headless core. It never imports textual or rich (tests/test_boundaries.py checks this)."""
