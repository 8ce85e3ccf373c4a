"""IPv4 addresses and CIDR blocks."""


def is_ipv4(text):
    """Dotted quad, each part 0-255 written without leading zeros."""
    parts = text.split(".")
    if len(parts) != 4:
        return False
    for part in parts:
        if not part.isdigit() or not part.isascii():
            return False
        if int(part) > 255:
            return False
    return True


def to_int(address):
    if not is_ipv4(address):
        raise ValueError(f"not an IPv4 address: {address!r}")
    a, b, c, d = (int(p) for p in address.split("."))
    return (a << 24) | (b << 16) | (c << 8) | d


def parse_cidr(block):
    """'10.0.0.0/8' -> (network as int, prefix length). Host bits are cleared."""
    address, _, prefix_text = block.partition("/")
    if not prefix_text.isdigit() or not 0 <= int(prefix_text) <= 32:
        raise ValueError(f"bad prefix length in {block!r}")
    prefix = int(prefix_text)
    return to_int(address) & _mask(prefix), prefix


def _mask(prefix):
    return (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF


def ip_in_cidr(address, block):
    network, prefix = parse_cidr(block)
    return to_int(address) & _mask(prefix) == network
