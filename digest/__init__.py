"""digest: read feeds in the terminal, curate, and send a polished email digest.

Nothing is imported here on purpose: `digest refresh` from cron must not pay for Textual or Jinja2.
"""

__version__ = "0.1.0"
