"""A memoizing decorator built on LRUCache."""

import functools
import time
from collections import namedtuple

from cachekit.lru import LRUCache

CacheInfo = namedtuple("CacheInfo", "hits misses maxsize currsize")
_MISSING = object()


def _key(args, kwargs):
    return args + tuple(sorted(kwargs.items()))


def memoize(func=None, *, maxsize=128, ttl=None, clock=time.monotonic):
    """Cache a function's results by its arguments (which must be hashable).

    With `ttl`, a result is reused only while clock() < (time computed) + ttl.
    """
    if ttl is not None and ttl <= 0:
        raise ValueError("ttl must be positive")
    if func is None:
        return lambda f: memoize(f, maxsize=maxsize, ttl=ttl, clock=clock)
    cache = LRUCache(maxsize)
    stats = {"hits": 0, "misses": 0}

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        key = _key(args, kwargs)
        entry = cache.get(key, _MISSING)
        if entry is not _MISSING:
            value, expires = entry
            if expires is None or clock() < expires:
                stats["hits"] += 1
                return value
            cache.pop(key)
        stats["misses"] += 1
        value = func(*args, **kwargs)
        cache.put(key, (value, None if ttl is None else clock() + ttl))
        return value

    def cache_info():
        return CacheInfo(stats["hits"], stats["misses"], maxsize, len(cache))

    def cache_clear():
        cache.clear()
        stats["hits"] = stats["misses"] = 0

    wrapper.cache_info = cache_info
    wrapper.cache_clear = cache_clear
    return wrapper
