"""A memoizing decorator built on LRUCache."""

import functools
import time

from cachekit.lru import LRUCache

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

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        key = _key(args, kwargs)
        entry = cache.get(key, _MISSING)
        if entry is not _MISSING:
            value, expires = entry
            if expires is None or clock() < expires:
                return value
            cache.pop(key)
        value = func(*args, **kwargs)
        cache.put(key, (value, None if ttl is None else clock() + ttl))
        return value

    wrapper.cache_clear = cache.clear
    return wrapper
