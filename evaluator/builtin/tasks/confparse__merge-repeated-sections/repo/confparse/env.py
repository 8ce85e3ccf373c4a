"""Environment variables that override configuration values."""


def overrides(sections, env, prefix):
    """(section, key, value) for every variable named PREFIX<SECTION>_<KEY>.

    Matching ignores case; when section names overlap (`log` and
    `log_files`) the longest matching section wins.
    """
    found = []
    if not prefix:
        return found
    names = sorted(sections, key=len, reverse=True)
    for variable, value in env.items():
        if not variable.startswith(prefix):
            continue
        rest = variable[len(prefix):].lower()
        for name in names:
            head = name.lower() + "_"
            if rest.startswith(head) and len(rest) > len(head):
                found.append((name, rest[len(head):], value))
                break
    return found
