"""Server-side SVG: the run's tree and the score/cost charts.

The tree is laid out top-down: leaves get consecutive columns in
depth-first order, a parent sits above the middle of its children, depth
is the row. Colour is the node's own score (red 0 → green 1, grey when not
evaluated), the radius grows with its number of evaluations; invalid nodes
are hollow with a red dashed ring, nodes being built are dashed, nodes with
an evaluation running pulse (classes `expanding` and `evaluating`, which
the page's script also sets live from the event stream). A node with a
grade the grader refused (outcome `tampered`) gets class `tampered` and a
purple outer ring: its score colour alone would hide that it cheated, and a
cheating lineage must stand out. Every node links to its page; the script
turns a click into a detail panel.

The best agent's lineage (root → best node, or → the leader while the run
has no best yet) is drawn as its own path and its nodes get class
`lineage`: the path that produced the shipped agent is what people look for
first. Every node has a label, but in a big tree only the lineage's are
`label key`; the others are `label` and the page shows them only once it is
zoomed in far enough for them not to overlap (the svg's `data-spacing`, the
distance between leaf columns, tells it when).

Built as strings (with html.escape on everything textual): at 10 000 nodes
a template engine would be the slow part.
"""

from __future__ import annotations

import math
from html import escape

from archive.tree import TreeColumns

MAX_WIDTH = 12000.0  # the page zooms and pans: leaf columns stay >= 10 units apart up to 1 200 leaves
TAMPERED_COLOUR = "#8250df"  # its own colour: not a score, not an error (app.css .outcome-tampered)


MIN_HIT_R = 9.0  # px: the smallest clickable radius of a node
ALWAYS_LABELLED = 300  # up to this many nodes every label is shown at any zoom
MAX_LABELLED = 20_000  # past this, no labels at all: the text would be most of the page


def score_colour(score: float | None) -> str:
    if score is None:
        return "#c9ced6"
    return f"hsl({round(120 * score)},62%,44%)"


def lineage_ids(tree: TreeColumns, node_id: int | None) -> set[int]:
    """The ids from the root down to `node_id` (empty when it is not in the tree)."""
    parent = dict(zip(tree.id, tree.parent_id))
    path: set[int] = set()
    while node_id is not None and node_id in parent and node_id not in path:
        path.add(node_id)
        node_id = parent[node_id]
    return path


def tree_svg(tree: TreeColumns, *, building: set[int] = frozenset(), evaluating: set[int] = frozenset(),
             best_node_id: int | None = None, leader_id: int | None = None) -> str:
    n = tree.count
    if n == 0:
        return '<svg class="tree" width="200" height="40"><text x="10" y="24">no nodes yet</text></svg>'
    where = {node_id: i for i, node_id in enumerate(tree.id)}
    children: list[list[int]] = [[] for _ in range(n)]
    roots = []
    for i, parent in enumerate(tree.parent_id):
        p = where.get(parent) if parent is not None else None
        (roots if p is None else children[p]).append(i)
    for c in children:
        c.sort(key=lambda k: tree.id[k])
    # Leaf columns in depth-first order, then parents centred over children.
    x = [0.0] * n
    leaves = 0
    stack: list[tuple[int, bool]] = [(r, False) for r in reversed(roots)]
    while stack:
        i, done = stack.pop()
        if done:
            x[i] = (x[children[i][0]] + x[children[i][-1]]) / 2
            continue
        if not children[i]:
            x[i] = leaves
            leaves += 1
            continue
        stack.append((i, True))
        stack.extend((c, False) for c in reversed(children[i]))
    max_depth = max(tree.depth)
    sx = max(10.0, min(48.0, MAX_WIDTH / max(leaves, 1)))
    sy = 64.0 if max_depth < 40 else max(16.0, 2600.0 / max_depth)
    max_r = max(2.5, min(16.0, sx * 0.48))
    pad = max_r + 14
    width = pad * 2 + sx * max(leaves - 1, 0)
    height = pad * 2 + sy * max_depth + 14
    px = [pad + x[i] * sx for i in range(n)]
    py = [pad + tree.depth[i] * sy for i in range(n)]
    labelled = n <= MAX_LABELLED
    lineage = lineage_ids(tree, best_node_id if best_node_id is not None else leader_id)
    root_x, root_y = (px[roots[0]], py[roots[0]]) if roots else (pad, pad)
    out = [f'<svg class="tree" xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" data-nodes="{n}" data-spacing="{sx:.1f}" '
           f'data-root="{root_x:.1f} {root_y:.1f}" role="img" aria-label="the run\'s tree">']
    edges, path = [], []
    for i, parent in enumerate(tree.parent_id):
        p = where.get(parent) if parent is not None else None
        if p is not None:
            (path if tree.id[i] in lineage else edges).append(f"M{px[p]:.1f} {py[p]:.1f}L{px[i]:.1f} {py[i]:.1f}")
    if edges:
        out.append(f'<path class="edges" d="{"".join(edges)}"/>')
    if path:
        out.append(f'<path class="edges lineage" d="{"".join(path)}"/>')
    for i in range(n):
        node_id = tree.id[i]
        status = tree.status[i]
        total, resolved, tampered = tree.own_total[i], tree.own_resolved[i], tree.own_tampered[i]
        score = resolved / total if total else None
        r = min(max_r, 4.0 + 2.2 * math.sqrt(total))
        classes = ["node", status]
        if node_id in building or status in ("building", "proposed"):
            classes.append("expanding")
        if node_id in evaluating:
            classes.append("evaluating")
        if node_id == best_node_id:
            classes.append("best")
        elif node_id == leader_id:
            classes.append("leader")
        if tampered:
            classes.append("tampered")
        if node_id in lineage:
            classes.append("lineage")
        fill = "#ffffff" if status in ("invalid", "building", "proposed") else score_colour(score)
        clade = f"{tree.clade_resolved[i]}/{tree.clade_total[i]}"
        caught = f" · {tampered} tampered (grade refused)" if tampered else ""
        title = escape(f"node {node_id} · {status} · own {resolved}/{total}{caught} · clade {clade}")
        out.append(f'<a href="/nodes/{node_id}" class="{" ".join(classes)}" data-id="{node_id}">')
        if tampered:
            out.append(f'<circle class="tamper-ring" cx="{px[i]:.1f}" cy="{py[i]:.1f}" r="{r + 2.5:.1f}" '
                       f'fill="none" stroke="{TAMPERED_COLOUR}"/>')
        out.append(f'<circle cx="{px[i]:.1f}" cy="{py[i]:.1f}" r="{r:.1f}" fill="{fill}"/>')
        if labelled:
            kind = "label key" if node_id in lineage or n <= ALWAYS_LABELLED else "label"
            out.append(f'<text class="{kind}" x="{px[i]:.1f}" y="{py[i] + r + 2:.1f}">{node_id}</text>')
        # Every node takes a click within MIN_HIT_R of its centre, however small it is drawn (on top,
        # unpainted).
        out.append(f'<circle class="hit" cx="{px[i]:.1f}" cy="{py[i]:.1f}" r="{max(r, MIN_HIT_R):.1f}" '
                   'fill="transparent" pointer-events="all"/>')
        out.append(f"<title>{title}</title></a>")  # the link's own: shown wherever in it the pointer is
    out.append("</svg>")
    return "".join(out)


def line_chart(series: list[tuple[str, str, list[tuple[float, float]]]], *, title: str, y_label: str,
               y_max: float | None = None, y_format: str = "{:.2f}", width: int = 460, height: int = 200) -> str:
    """A small line chart: `series` is [(label, colour, [(x seconds, y)])]."""
    left, right, top, bottom = 52, 12, 26, 30
    xs = [p[0] for _, _, pts in series for p in pts]
    ys = [p[1] for _, _, pts in series for p in pts]
    out = [f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'viewBox="0 0 {width} {height}" role="img" aria-label="{escape(title)}">',
           f'<text class="chart-title" x="{left}" y="16">{escape(title)}</text>']
    if not xs:
        out.append(f'<text x="{left}" y="{height / 2:.0f}">no data yet</text></svg>')
        return "".join(out)
    x_hi = max(max(xs), 1.0)
    y_hi = y_max if y_max is not None else max(max(ys), 1e-9) * 1.1
    plot_w, plot_h = width - left - right, height - top - bottom

    def sx(v: float) -> float:
        return left + plot_w * v / x_hi

    def sy(v: float) -> float:
        return top + plot_h * (1 - v / y_hi)

    out.append(f'<path class="axis" d="M{left} {top}V{top + plot_h}H{left + plot_w}"/>')
    for k in range(5):
        v = y_hi * k / 4
        out.append(f'<text class="tick" x="{left - 4}" y="{sy(v) + 4:.1f}" text-anchor="end">'
                   f"{escape(y_format.format(v))}</text>")
        out.append(f'<path class="grid" d="M{left} {sy(v):.1f}H{left + plot_w}"/>')
    unit, scale = ("min", 60.0) if x_hi >= 120 else ("s", 1.0)
    digits = 0 if x_hi / scale >= 20 else 1
    for k in range(5):
        v = x_hi * k / 4
        out.append(f'<text class="tick" x="{sx(v):.1f}" y="{top + plot_h + 14}" text-anchor="middle">'
                   f"{v / scale:.{digits}f}</text>")
    out.append(f'<text class="tick" x="{left + plot_w}" y="{height - 2}" text-anchor="end">time ({unit})</text>')
    out.append(f'<text class="tick" x="4" y="{top - 6}">{escape(y_label)}</text>')
    legend_x = left + 7 * len(title) + 18
    for label, colour, points in series:
        if points:
            d = "".join(f"{'M' if k == 0 else 'L'}{sx(a):.1f} {sy(b):.1f}" for k, (a, b) in enumerate(points))
            out.append(f'<path class="line" stroke="{colour}" d="{d}"/>')
        out.append(f'<text class="legend" x="{legend_x}" y="16" fill="{colour}">{escape(label)}</text>')
        legend_x += 8 * len(label) + 20
    out.append("</svg>")
    return "".join(out)


def step_points(points: list[tuple[float, float | None]]) -> list[tuple[float, float]]:
    """A step line through (x, y) pairs, skipping leading Nones."""
    out: list[tuple[float, float]] = []
    for x, y in points:
        if y is None:
            continue
        if out:
            out.append((x, out[-1][1]))
        out.append((x, y))
    return out
