"""Orders and groupings of nodes."""


class CycleError(ValueError):
    pass


def topological_sort(graph):
    """Nodes so that every edge goes from an earlier to a later node (Kahn's algorithm).

    Ties are broken by the order in which nodes were added. Raises CycleError
    when the graph has a cycle.
    """
    indegree = {node: 0 for node in graph.nodes}
    for node in graph.nodes:
        for neighbor in graph.neighbors(node):
            indegree[neighbor] += 1
    ready = [node for node in graph.nodes if indegree[node] == 0]
    order = []
    while ready:
        node = ready.pop(0)
        order.append(node)
        for neighbor in graph.neighbors(node):
            indegree[neighbor] -= 1
            if indegree[neighbor] == 0:
                ready.append(neighbor)
    if len(order) != len(graph.nodes):
        stuck = [node for node in graph.nodes if indegree[node] > 0]
        raise CycleError(f"the graph has a cycle through {', '.join(map(str, stuck))}")
    return order


def connected_components(graph):
    """Groups of nodes connected to each other (undirected graphs), each sorted by insertion order."""
    seen = set()
    components = []
    for start in graph.nodes:
        if start in seen:
            continue
        component = []
        stack = [start]
        seen.add(start)
        while stack:
            node = stack.pop()
            component.append(node)
            for neighbor in graph.neighbors(node):
                if neighbor not in seen:
                    seen.add(neighbor)
                    stack.append(neighbor)
        position = {node: i for i, node in enumerate(graph.nodes)}
        components.append(sorted(component, key=position.__getitem__))
    return components
