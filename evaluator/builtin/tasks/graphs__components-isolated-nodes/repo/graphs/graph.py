"""An adjacency-map graph, directed or not."""


class Graph:
    def __init__(self, directed=False):
        self.directed = directed
        self._adj = {}

    def add_node(self, node):
        self._adj.setdefault(node, {})

    def add_edge(self, u, v, weight=1):
        if weight < 0:
            raise ValueError("negative weights are not supported")
        self.add_node(u)
        self.add_node(v)
        self._adj[u][v] = weight
        if not self.directed:
            self._adj[v][u] = weight

    def remove_edge(self, u, v):
        """Remove the edge u-v (both directions when undirected); KeyError if absent."""
        if v not in self._adj.get(u, {}):
            raise KeyError(f"no edge {u!r} -> {v!r}")
        del self._adj[u][v]
        if not self.directed:
            del self._adj[v][u]

    def neighbors(self, node):
        return list(self._adj[node])

    def weight(self, u, v):
        return self._adj[u][v]

    @property
    def nodes(self):
        return list(self._adj)

    def __contains__(self, node):
        return node in self._adj
