"""One widget per file; each widget's messages are nested in it."""
