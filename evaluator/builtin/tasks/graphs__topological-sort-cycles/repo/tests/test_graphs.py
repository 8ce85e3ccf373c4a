import pytest

from graphs.graph import Graph
from graphs.order import topological_sort
from graphs.paths import NoPath, bfs_path, dijkstra


def line():
    g = Graph(directed=True)
    g.add_edge("a", "b")
    g.add_edge("b", "c")
    return g


def test_bfs_directed():
    assert bfs_path(line(), "a", "c") == ["a", "b", "c"]


def test_no_path():
    with pytest.raises(NoPath):
        bfs_path(line(), "c", "a")


def test_dijkstra_line():
    assert dijkstra(line(), "a", "c") == (2, ["a", "b", "c"])


def test_topological_sort_line():
    assert topological_sort(line()) == ["a", "b", "c"]


def test_negative_weight_refused():
    with pytest.raises(ValueError):
        Graph().add_edge("a", "b", weight=-1)
