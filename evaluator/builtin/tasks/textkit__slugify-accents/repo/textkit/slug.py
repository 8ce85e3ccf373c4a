"""URL slugs."""

import re
import unicodedata


def slugify(text, sep="-", max_length=None):
    """Turn `text` into a lowercase ASCII slug.

    Accented letters are reduced to their base letter, anything that is not
    a letter or digit separates words. With `max_length`, the slug is cut to
    at most that many characters and never ends with a separator.
    """
    ascii_text = text.encode("ascii", "ignore").decode("ascii")
    words = re.findall(r"[a-z0-9]+", ascii_text.lower())
    slug = sep.join(words)
    if max_length is not None and len(slug) > max_length:
        slug = slug[:max_length].rstrip(sep)
    return slug
