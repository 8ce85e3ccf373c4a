from cachekit import LRUCache, TTLCache, memoize


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def test_lru_basic():
    cache = LRUCache(2)
    cache.put("a", 1)
    assert cache.get("a") == 1
    assert cache.get("zzz", "default") == "default"


def test_lru_evicts_oldest_when_unused():
    cache = LRUCache(2)
    cache.put("a", 1)
    cache.put("b", 2)
    cache.put("c", 3)
    assert "a" not in cache and len(cache) == 2


def test_ttl_fresh_entry():
    clock = FakeClock()
    cache = TTLCache(10, clock=clock)
    cache.set("k", "v")
    clock.now = 5
    assert cache.get("k") == "v"


def test_ttl_long_expired():
    clock = FakeClock()
    cache = TTLCache(10, clock=clock)
    cache.set("k", "v")
    clock.now = 100
    assert cache.get("k") is None


def test_memoize_caches():
    calls = []

    @memoize
    def square(x):
        calls.append(x)
        return x * x

    assert square(3) == 9 and square(3) == 9
    assert calls == [3]
