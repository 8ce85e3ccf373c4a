"""A cache whose entries expire."""

import time


class TTLCache:
    """An entry set at time t is visible while clock() < t + ttl."""

    def __init__(self, ttl, clock=time.monotonic):
        if ttl <= 0:
            raise ValueError("ttl must be positive")
        self.ttl = ttl
        self.clock = clock
        self._data = {}

    def set(self, key, value):
        self._data[key] = (value, self.clock() + self.ttl)

    def get(self, key, default=None):
        item = self._data.get(key)
        if item is None:
            return default
        value, expires = item
        if self.clock() >= expires:
            del self._data[key]
            return default
        return value

    def purge(self):
        """Drop every expired entry; return how many were dropped."""
        now = self.clock()
        expired = [k for k, (_, expires) in self._data.items() if now >= expires]
        for key in expired:
            del self._data[key]
        return len(expired)

    def __len__(self):
        return len(self._data)
