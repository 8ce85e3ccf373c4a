class ConfigError(ValueError):
    """The configuration text or a lookup in it is invalid."""
