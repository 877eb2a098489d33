"""The Textual front end. Nothing here is imported by digest.core or by CLI commands other than the TUI one."""
