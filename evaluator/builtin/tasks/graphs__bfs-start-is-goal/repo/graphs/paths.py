"""Shortest paths."""

import heapq
from collections import deque


class NoPath(Exception):
    pass


def bfs_path(graph, start, goal):
    """A path with the fewest edges from start to goal."""
    if start not in graph or goal not in graph:
        raise KeyError("both ends must be nodes of the graph")
    previous = {start: None}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for neighbor in graph.neighbors(node):
            if neighbor not in previous:
                previous[neighbor] = node
                if neighbor == goal:
                    return _walk_back(previous, goal)
                queue.append(neighbor)
    raise NoPath(f"no path from {start!r} to {goal!r}")


def dijkstra(graph, start, goal):
    """(cost, path) of a cheapest path from start to goal."""
    if start not in graph or goal not in graph:
        raise KeyError("both ends must be nodes of the graph")
    best = {start: 0}
    previous = {start: None}
    heap = [(0, 0, start)]
    counter = 1
    done = set()
    while heap:
        cost, _, node = heapq.heappop(heap)
        if node in done:
            continue
        done.add(node)
        if node == goal:
            return cost, _walk_back(previous, goal)
        for neighbor in graph.neighbors(node):
            new_cost = cost + graph.weight(node, neighbor)
            if neighbor not in best or new_cost < best[neighbor]:
                best[neighbor] = new_cost
                previous[neighbor] = node
                heapq.heappush(heap, (new_cost, counter, neighbor))
                counter += 1
    raise NoPath(f"no path from {start!r} to {goal!r}")


def _walk_back(previous, goal):
    path = [goal]
    while previous[path[-1]] is not None:
        path.append(previous[path[-1]])
    return path[::-1]
