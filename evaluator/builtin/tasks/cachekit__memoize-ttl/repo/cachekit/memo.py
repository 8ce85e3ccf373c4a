"""A memoizing decorator built on LRUCache."""

import functools
from collections import namedtuple

from cachekit.lru import LRUCache

CacheInfo = namedtuple("CacheInfo", "hits misses maxsize currsize")
_MISSING = object()


def _key(args, kwargs):
    return args + tuple(sorted(kwargs.items()))


def memoize(func=None, *, maxsize=128):
    """Cache a function's results by its arguments (which must be hashable)."""
    if func is None:
        return lambda f: memoize(f, maxsize=maxsize)
    cache = LRUCache(maxsize)
    stats = {"hits": 0, "misses": 0}

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        key = _key(args, kwargs)
        value = cache.get(key, _MISSING)
        if value is not _MISSING:
            stats["hits"] += 1
            return value
        stats["misses"] += 1
        value = func(*args, **kwargs)
        cache.put(key, value)
        return value

    def cache_info():
        return CacheInfo(stats["hits"], stats["misses"], maxsize, len(cache))

    def cache_clear():
        cache.clear()
        stats["hits"] = stats["misses"] = 0

    wrapper.cache_info = cache_info
    wrapper.cache_clear = cache_clear
    return wrapper
