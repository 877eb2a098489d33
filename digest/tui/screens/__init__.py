"""One screen (or family of small modals) per file."""
