from digest.cli import console

raise SystemExit(console())
