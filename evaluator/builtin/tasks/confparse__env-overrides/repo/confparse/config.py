"""Typed access to parsed configuration, with ${...} references."""

import re

from confparse.errors import ConfigError
from confparse.parser import parse

_REFERENCE = re.compile(r"\$\{([^}]+)\}")
TRUE = {"true", "yes", "on", "1"}
FALSE = {"false", "no", "off", "0"}


class Config:
    def __init__(self, sections):
        self.sections = sections

    @classmethod
    def from_text(cls, text):
        return cls(parse(text))

    def raw(self, section, key):
        try:
            return self.sections[section][key.lower()]
        except KeyError:
            raise ConfigError(f"no key {key!r} in section [{section}]") from None

    def get(self, section, key, default=None):
        try:
            return self._resolve(section, key, ())
        except ConfigError:
            if default is not None:
                return default
            raise

    def _resolve(self, section, key, seen):
        if (section, key.lower()) in seen:
            chain = " -> ".join(f"{s}:{k}" for s, k in seen + ((section, key.lower()),))
            raise ConfigError(f"circular reference: {chain}")
        seen = seen + ((section, key.lower()),)
        value = self.raw(section, key)

        def substitute(match):
            ref = match.group(1)
            ref_section, _, ref_key = ref.rpartition(":")
            return self._resolve(ref_section or section, ref_key, seen)

        return _REFERENCE.sub(substitute, value)

    def get_int(self, section, key, default=None):
        value = self.get(section, key, None if default is None else str(default))
        try:
            return int(value)
        except ValueError:
            raise ConfigError(f"[{section}] {key} = {value!r} is not an integer") from None

    def get_bool(self, section, key, default=None):
        value = self.get(section, key, None if default is None else str(default).lower())
        if value.lower() in TRUE:
            return True
        if value.lower() in FALSE:
            return False
        raise ConfigError(f"[{section}] {key} = {value!r} is not a boolean")

    def get_list(self, section, key):
        return [item.strip() for item in self.get(section, key).split(",") if item.strip()]
