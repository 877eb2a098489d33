"""ConfigError on its own, so the modules that validate part of the config (digest.core.rulespec) and
digest.core.config can both raise it without importing each other."""


class ConfigError(Exception):
    """A bad config file or value; the message names the file and key."""
