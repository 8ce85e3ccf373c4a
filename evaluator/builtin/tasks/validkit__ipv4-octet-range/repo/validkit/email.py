"""A practical (not RFC-complete) e-mail address check."""

import re

_LOCAL = re.compile(r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~.-]+$")
_LABEL = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?$")


def is_valid_email(address):
    """local@domain: no leading, trailing or doubled dots in the local part;
    a domain of at least two labels, none starting or ending with a hyphen."""
    if address.count("@") != 1 or len(address) > 254:
        return False
    local, domain = address.split("@")
    if not local or len(local) > 64 or not _LOCAL.match(local):
        return False
    if local.startswith(".") or local.endswith(".") or ".." in local:
        return False
    labels = domain.split(".")
    return len(labels) >= 2 and all(_LABEL.match(label) for label in labels)
