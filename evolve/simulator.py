"""The policy simulator: every policy on the same synthetic ground truth.

A synthetic world is a lazily grown tree of agents. The k-th expansion
attempt of a given agent, what it yields and its result on a given task are
fixed by the world's seed, so every policy meets exactly the same children
and the same luck: outcomes are *paired* across policies, and a difference
between two policies is measured on the same worlds.

Each policy runs under its own conventions, as the engine runs it
(`evolve/engine.py`): an attempt is FAILED (no patch: not a node for HGM),
BROKEN (a patch that failed validation: evaluated, and failing, where HGM's
`invalid_children` is `evaluate`; counted as `pooled_failures()` failed
evaluations where it is `pool_as_failures`) or VALID; the budget counts the
task evaluations the engine charges (expansions are free: no policy's
conventions charge them, HGM's budget counts evaluations only, and the `dgm`
preset translates DGM's budget of generations into evaluations); when
`charges_root` is False the root is evaluated on every task up front,
outside the budget, as both anchors start from a fully evaluated seed agent.
Work runs on `workers` slots and finishes in the order it started.

What is compared is the true solve rate (averaged over the world's tasks) of
the agent each policy would export, by the same best-belief rule for all.
"""

from __future__ import annotations

import itertools
import math
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, fields, replace

import numpy as np

from evolve.final import best_belief
from evolve.policies import POLICIES, Budget, Evaluate, Expand, Policy, make_policy
from evolve.state import Kind, TreeState

Path = tuple[int, ...]


@dataclass(frozen=True)
class World:
    """The synthetic ground truth's knobs (`clade simulate --world KEY=VALUE`)."""

    seed: int = 0
    root_rate: float = 0.25  # the seed agent's solve rate on a task of average difficulty
    rate_noise: float = 0.05  # a child's own deviation from its lineage, not inherited by its children
    promise_noise: float = 0.03  # sd of the per-generation change: of the promise, or of the level itself
    inherited_promise: bool = True  # True: HGM's premise (improvement is heritable); False: drawn fresh per child
    no_patch_rate: float = 0.1  # an attempt leaves no patch: FAILED
    broken_rate: float = 0.1  # an attempt leaves a patch that fails validation: BROKEN
    difficulty_spread: float = 1.0  # sd of the tasks' difficulties on the logit scale (0: all tasks alike)
    tasks: int = 60  # as HGM's and DGM's SWE-bench subsets (small + medium)

    def __post_init__(self) -> None:
        for name in ("root_rate", "no_patch_rate", "broken_rate"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"world option {name} must be between 0 and 1, not {getattr(self, name)}")
        if self.no_patch_rate + self.broken_rate > 1.0:
            raise ValueError("world options no_patch_rate + broken_rate must not exceed 1")
        if min(self.rate_noise, self.promise_noise, self.difficulty_spread) < 0 or self.tasks < 1:
            raise ValueError("world noises and difficulty_spread must be >= 0, and tasks >= 1")


WORLD_OPTIONS = tuple(f.name for f in fields(World) if f.name != "seed")


def _logit(p: float) -> float:
    return math.log(p / (1.0 - p))


class GroundTruth:
    """Each agent: a heritable `lineage` level, its own solve rate (the lineage
    plus noise that children do not inherit), its promise (the inherited part
    of its children's improvement), what its attempt yielded, and its fixed
    outcome on every task."""

    def __init__(self, world: World) -> None:
        self.world = world
        self.difficulty = self._rng(2).normal(0.0, world.difficulty_spread, world.tasks)
        self.lineage: dict[Path, float] = {(): world.root_rate}
        self.rate: dict[Path, float] = {}
        self.true_rate: dict[Path, float] = {}
        self.promise: dict[Path, float] = {(): 0.0}
        self.kind: dict[Path, Kind] = {(): Kind.VALID}
        self.outcomes: dict[Path, np.ndarray] = {}
        self._settle((), world.root_rate, self._rng(0))

    def _rng(self, *key: int) -> np.random.Generator:
        return np.random.default_rng(np.random.SeedSequence(self.world.seed, spawn_key=key))

    def _settle(self, path: Path, rate: float, rng: np.random.Generator) -> None:
        """Per-task resolve probabilities sigmoid(logit(rate) - difficulty), and the draws they meet."""
        self.rate[path] = rate
        p = 1.0 / (1.0 + np.exp(-(_logit(rate) - self.difficulty)))
        self.true_rate[path] = float(p.mean())
        self.outcomes[path] = (rng.random(self.world.tasks) < p) & (self.kind[path] == Kind.VALID)

    def child(self, parent: Path, k: int) -> Path:
        path = (*parent, k)
        if path not in self.rate:
            w, rng = self.world, self._rng(0, *path)
            step = rng.normal(0.0, w.promise_noise)
            if w.inherited_promise:
                self.promise[path] = self.promise[parent] + step
                self.lineage[path] = self.lineage[parent] + self.promise[path]
            else:
                self.promise[path] = 0.0
                self.lineage[path] = self.lineage[parent] + step
            rate = float(np.clip(self.lineage[path] + rng.normal(0.0, w.rate_noise), 0.01, 0.95))
            u = rng.random()
            self.kind[path] = Kind.FAILED if u < w.no_patch_rate else \
                Kind.BROKEN if u < w.no_patch_rate + w.broken_rate else Kind.VALID
            self._settle(path, rate, rng)
        return path

    def resolves(self, path: Path, task: int) -> bool:
        """Fixed per (agent, task); a broken or failed child resolves nothing."""
        return bool(self.outcomes[path][task])


@dataclass
class Simulation:
    """One policy's run on one world: the search's state and where each node is in the truth."""

    state: TreeState
    truth: GroundTruth
    paths: dict[int, Path]
    charged: int = 0


@dataclass
class Outcome:
    policy: str
    exported_rate: float
    best_rate_in_tree: float
    agents: int  # valid nodes, the root included: what could be exported
    attempts: int  # expansions, whatever they yielded
    charged: int  # budget spent, as the policy's conventions count it
    stalled: bool  # the policy had nothing to do with budget left (the engine then ends the run)


def _expand(sim: Simulation, parent_id: int, children: dict[int, int]) -> int:
    node_id, k = len(sim.paths), children.get(parent_id, 0)
    sim.paths[node_id] = sim.truth.child(sim.paths[parent_id], k)  # the parent's k-th attempt, as in every policy's run
    children[parent_id] = k + 1
    sim.state.add_node(node_id, parent_id, kind=Kind.BUILDING)
    return node_id


def _finish(sim: Simulation, policy: Policy, work: tuple) -> None:
    """A unit of work ends: an expansion becomes what the world says (pooled as
    the engine pools it), an evaluation records the world's outcome."""
    if work[0] == "expand":
        kind = sim.truth.kind[sim.paths[work[1]]]
        sim.state.finish_node(work[1], kind)
        if kind == Kind.BROKEN and policy.pooled_failures():
            sim.state.pool_failures(work[1], policy.pooled_failures())
    else:
        _, node_id, task = work
        sim.state.record(node_id, task, sim.truth.resolves(sim.paths[node_id], int(task[1:])))


def run(policy: Policy, world: World, budget: int, seed: int = 0, workers: int = 2) -> Simulation:
    """Run `policy` until `budget` charged task evaluations are dispatched, then let
    the work under way finish (as the engine does)."""
    truth = GroundTruth(world)
    tasks = [f"t{i}" for i in range(world.tasks)]
    sim = Simulation(TreeState(tasks), truth, {0: ()})
    sim.state.add_node(0, None)
    if not policy.charges_root:  # the anchors' seed agent: fully evaluated before the search, not charged
        for task in tasks:
            sim.state.record(0, task, truth.resolves((), int(task[1:])))
    rng, children, pending = np.random.default_rng(seed), {}, deque()
    for _ in range(50 * budget + 1000):  # a policy that only gets failed attempts still stops
        action = None
        if len(pending) < workers and sim.charged < budget:
            action = policy.next_action(sim.state, rng, Budget(budget, sim.charged, workers))
        if isinstance(action, Expand):
            pending.append(("expand", _expand(sim, action.parent_id, children)))
        elif isinstance(action, Evaluate):
            sim.state.start(action.node_id, action.task_id)
            sim.charged += int(policy.charges_root or sim.state.index[action.node_id] != 0)
            pending.append(("evaluate", action.node_id, action.task_id))
        elif pending:
            _finish(sim, policy, pending.popleft())
        else:
            break
    while pending:
        _finish(sim, policy, pending.popleft())
    return sim


def simulate(policy: Policy, world: World, budget: int, seed: int = 0, workers: int = 2,
             label: str | None = None) -> Outcome:
    """`run`, then export by best belief and read the exported agent's true rate."""
    sim = run(policy, world, budget, seed, workers)
    state, truth = sim.state, sim.truth
    chosen = best_belief(state)
    exported = truth.true_rate[sim.paths[chosen.node_id]] if chosen else truth.true_rate[()]
    valid = [p for p in sim.paths.values() if truth.kind[p] == Kind.VALID]
    return Outcome(label or policy.name, exported, max(truth.true_rate[p] for p in valid), len(valid),
                   state.size - 1, sim.charged, sim.charged < budget)


# -- naming policies and worlds on the command line -------------------------------------------------
def parse_value(text: str) -> object:
    """null, true/false, a whole number, a number, else the text itself."""
    lowered = text.strip().lower()
    if lowered in ("null", "none"):
        return None
    if lowered in ("true", "false"):
        return lowered == "true"
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    return text.strip()


def parse_policy(spec: str) -> tuple[str, Policy]:
    """`name` or `name:key=value;key=value` -> (the spec as its label, the policy),
    validated by the policy factory so that a bad option is refused by name."""
    name, _, rest = spec.strip().partition(":")
    params = {}
    for item in filter(None, (p.strip() for p in rest.split(";"))):
        key, eq, value = item.partition("=")
        if not eq:
            raise ValueError(f"policy option {item!r} in {spec!r} is not KEY=VALUE")
        params[key.strip()] = parse_value(value)
    try:
        policy = make_policy(name.strip(), **params)
    except TypeError as exc:
        options = ", ".join(f for f in POLICIES[name.strip()].__dataclass_fields__ if f != "name")
        raise ValueError(f"{spec}: {exc}; options of {name.strip()}: {options}") from None
    except ValueError as exc:
        raise ValueError(f"{spec}: {exc}") from None
    return spec.strip(), policy


def parse_worlds(options: Sequence[str]) -> list[dict[str, object]]:
    """`KEY=VALUE[,VALUE...]` options -> one world per combination of the values given."""
    grid: dict[str, list[object]] = {}
    for option in options:
        key, eq, values = option.partition("=")
        key = key.strip()
        if not eq:
            raise ValueError(f"world option {option!r} is not KEY=VALUE")
        if key not in WORLD_OPTIONS:
            raise ValueError(f"unknown world option {key!r}: choose from {', '.join(WORLD_OPTIONS)}")
        kind = type(getattr(World(), key))
        grid[key] = [_typed(key, kind, v) for v in values.split(",") if v.strip()]
    worlds = [dict(zip(grid, combo)) for combo in itertools.product(*grid.values())]
    for w in worlds:
        World(**w)  # refuses out-of-range values now, not in a worker
    return worlds


def _typed(key: str, kind: type, text: str) -> object:
    value = parse_value(text)
    if kind is bool and isinstance(value, bool) or kind is int and type(value) is int:
        return value
    if kind is float and isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    raise ValueError(f"world option {key} takes a {kind.__name__}, not {text!r}")


def world_label(options: dict[str, object]) -> str:
    return " ".join(f"{k}={str(v).lower()}" for k, v in options.items()) or "default"


# -- paired comparison -----------------------------------------------------------------------------
# Two-sided 95 % quantiles of Student's t for 1..30 degrees of freedom; beyond, the
# Cornish-Fisher expansion around z (within 1e-4 of the exact value for df > 30).
T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145,
        2.131, 2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048,
        2.045, 2.042)
Z975 = 1.959964


def t975(df: int) -> float:
    if df < 1:
        return math.nan
    if df <= len(T975):
        return T975[df - 1]
    z = Z975
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def interval(values: Iterable[float]) -> tuple[float, float]:
    """(mean, half-width of its 95 % confidence interval): t(n-1) · sd / √n."""
    x = np.asarray(list(values), dtype=float)
    if len(x) < 2:
        return float(x.mean()) if len(x) else math.nan, math.nan
    return float(x.mean()), t975(len(x) - 1) * float(x.std(ddof=1)) / math.sqrt(len(x))


def paired_difference(values: Sequence[float], reference: Sequence[float]) -> tuple[float, float]:
    """Mean per-world difference and its 95 % interval: the worlds are shared, so their
    luck cancels in the difference instead of widening it."""
    if len(values) != len(reference):
        raise ValueError("a paired difference needs one reference value per world")
    return interval(np.asarray(values, dtype=float) - np.asarray(reference, dtype=float))


@dataclass(frozen=True)
class Cell:
    """One (world, budget, policy): its trees are simulated together, in one process."""

    world: dict[str, object]
    budget: int
    spec: str
    trees: int
    seed: int
    workers: int = 2


def _run_cell(cell: Cell) -> list[Outcome]:
    label, policy = parse_policy(cell.spec)
    return [simulate(policy, World(seed=cell.seed * 100_003 + t, **cell.world), cell.budget,
                     seed=cell.seed + t, workers=cell.workers, label=label) for t in range(cell.trees)]


def compare(specs: Sequence[str], trees: int, budgets: Sequence[int], seed: int = 0,
            worlds: Sequence[dict[str, object]] = ({},), reference: str | None = None, workers: int = 2,
            jobs: int = 1, progress: Callable[[], None] | None = None) -> list[dict]:
    """Per world, budget and policy: the exported agent's mean true rate with its 95 %
    interval, and the paired difference against `reference` (default: the first spec)."""
    reference = (reference or specs[0]).strip()
    specs = [s.strip() for s in specs]
    if reference not in specs:
        specs = [reference, *specs]
    cells = [Cell(dict(w), b, s, trees, seed, workers) for w in worlds for b in budgets for s in specs]
    results = _map(cells, jobs, progress)
    rows = []
    for cell, outcomes in zip(cells, results):
        ref = results[cells.index(replace(cell, spec=reference))]
        rows.append(_row(cell, outcomes, ref, reference))
    return rows


def _map(cells: list[Cell], jobs: int, progress: Callable[[], None] | None) -> list[list[Outcome]]:
    """Every cell's outcomes, in order; on `jobs` processes when more than one."""
    pool = ProcessPoolExecutor(max_workers=jobs) if jobs > 1 else None
    try:
        out = []
        for outcomes in (pool.map(_run_cell, cells) if pool else map(_run_cell, cells)):
            out.append(outcomes)
            if progress:
                progress()
        return out
    finally:
        if pool:
            pool.shutdown()


def _row(cell: Cell, outcomes: list[Outcome], ref: list[Outcome], reference: str) -> dict:
    exported = [o.exported_rate for o in outcomes]
    mean, half = interval(exported)
    diff, diff_half = paired_difference(exported, [o.exported_rate for o in ref])
    return {
        "world": world_label(cell.world), "world_options": cell.world, "budget": cell.budget,
        "policy": cell.spec, "trees": cell.trees,
        "exported_mean": _round(mean), "exported_ci95": _round(half),
        "reference": reference, "difference": _round(diff), "difference_ci95": _round(diff_half),
        "best_in_tree_mean": round(float(np.mean([o.best_rate_in_tree for o in outcomes])), 4),
        "agents_mean": round(float(np.mean([o.agents for o in outcomes])), 1),
        "attempts_mean": round(float(np.mean([o.attempts for o in outcomes])), 1),
        "stalled_share": round(float(np.mean([o.stalled for o in outcomes])), 3),
    }


def _round(x: float) -> float | None:
    """4 decimals; None for an interval that one tree cannot give (JSON has no NaN)."""
    return None if math.isnan(x) else round(x, 4)


def markdown(rows: Sequence[dict]) -> str:
    """The README's table: one line per (world, budget, policy)."""
    reference = rows[0]["reference"] if rows else ""
    lines = [f"| world | budget | policy | exported true rate (95 % CI) | Δ vs `{reference}` (95 % CI) "
             "| best in tree | agents | attempts | stalled |", "|---|---:|---|---|---|---:|---:|---:|---:|"]
    for r in rows:
        delta = "—" if r["policy"] == reference else _pm(r["difference"], r["difference_ci95"], "+")
        cells = [r["world"], str(r["budget"]), f"`{r['policy']}`", _pm(r["exported_mean"], r["exported_ci95"]), delta,
                 f"{r['best_in_tree_mean']:.3f}", f"{r['agents_mean']:.0f}", f"{r['attempts_mean']:.0f}",
                 f"{r['stalled_share']:.0%}"]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _pm(mean: float, half: float | None, sign: str = "") -> str:
    return f"{mean:{sign}.3f}" + ("" if half is None else f" ± {half:.3f}")
