"""The API's response bodies, as pydantic models: they are the OpenAPI
document's schemas, and schemathesis checks every response against them.

Field names follow `archive.serialize` (the CLI's --json), so the CLI and
the API print the same names. Request bodies: a run's configuration is
`evolve.config.RunConfig` itself.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field

RunStatusName = Literal["created", "running", "paused", "finished", "failed", "cancelled", "interrupted"]
NodeStatusName = Literal["proposed", "building", "invalid", "valid"]
# `tampered`: the grader caught the code under test forging its grade; a
# failure in every count, with its evidence in the evaluation's details.
OutcomeName = Literal["resolved", "unresolved", "error", "timeout", "tampered"]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
    version: str


class ErrorItem(BaseModel):
    loc: list[str | int] = Field(description="where: FastAPI's location of a refused input (body, query, path "
                                             "first); empty for an error that is not about one input")
    msg: str = Field(description="what went wrong and what to do")
    type: str = Field(description="the kind: value_error, missing, ... for a 422; unauthorized, forbidden, "
                                  "not_found, conflict, too_large, too_many_streams, unavailable otherwise")
    field: str = Field(description="the dotted path of a refused input (budget.task_evaluations); empty otherwise")


class ErrorOut(BaseModel):
    """Every error, whatever its status (api/errors.py): a 422 lists each refused field, any other
    status is one item."""

    detail: list[ErrorItem]


class RunSummary(BaseModel):
    id: int
    name: str
    status: RunStatusName
    policy: str | None = Field(description="the search policy of the run's configuration")
    nodes: int
    evaluations: int = Field(description="evaluations started (the budget counts these)")
    llm_calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    best_node_id: int | None = Field(description="the agent the run ships, chosen when it finishes")
    engine_alive: bool = Field(description="a process is driving the run now")
    created_at: str | None
    started_at: str | None
    finished_at: str | None


class RunPage(BaseModel):
    total: int = Field(description="runs in the archive")
    offset: int
    limit: int
    runs: list[RunSummary] = Field(description="oldest first")


class Budget(BaseModel):
    task_evaluations: int | None
    evaluations_spent: int
    expansions: int | None
    expansions_spent: int
    tokens: int | None
    tokens_spent: int
    usd: float | None
    usd_spent: float
    wall_seconds: float | None
    elapsed_seconds: float | None


class UnderWay(BaseModel):
    expansions: list[int] = Field(description="ids of nodes being built")
    evaluations: list[int] = Field(description="ids of evaluations running")
    evaluating_nodes: list[int] = Field(description="ids of nodes with an evaluation running")


class NodeScore(BaseModel):
    id: int
    own_resolved: int
    own_total: int
    score: float | None


class OutcomeCounts(BaseModel):
    """Finished evaluations by outcome; every one but resolved is a failure."""

    resolved: int
    unresolved: int
    error: int
    timeout: int
    tampered: int = Field(description="grades the grader refused: the code under test forged them")


class SearchConventions(BaseModel):
    policy: str | None
    conventions: dict[str, Any] = Field(description="the rules the policy ran under (evolve.policies: conventions())")


class RunDetail(RunSummary):
    search: SearchConventions | None = Field(
        description="the policy and conventions the driver announced when it last started; null before it started")
    budget: Budget
    under_way: UnderWay
    nodes_by_status: dict[str, int]
    evaluations_by_outcome: OutcomeCounts
    best_node: NodeScore | None
    leader: NodeScore | None = Field(description="the final-agent rule applied to the tree as it is now")
    last_event_seq: int
    config: dict[str, Any]


class RunAction(BaseModel):
    run: RunSummary
    message: str


class TreeOut(BaseModel):
    """The whole tree in columns: element i of every list describes one node;
    breadth-first order, so every parent comes before its children."""

    run_id: int
    count: int
    best_node_id: int | None
    id: list[int]
    parent_id: list[int | None]
    status: list[NodeStatusName]
    depth: list[int]
    own_resolved: list[int]
    own_total: list[int]
    clade_resolved: list[int] = Field(description="own results pooled with every descendant's")
    clade_total: list[int]
    own_tampered: list[int] = Field(description="own evaluations whose grade was refused (failures, in own_total)")
    clade_tampered: list[int] = Field(description="own_tampered pooled with every descendant's")
    score: list[float | None] = Field(description="own_resolved / own_total")
    cmp: list[float | None] = Field(description="CMP estimate: clade_resolved / clade_total")


class TreeNodeOut(BaseModel):
    id: int
    parent_id: int | None
    status: NodeStatusName
    depth: int
    children: int
    own_resolved: int
    own_total: int
    clade_resolved: int
    clade_total: int
    own_tampered: int
    clade_tampered: int
    score: float | None
    cmp: float | None
    tokens: int = Field(description="model tokens spent for the node: its expansion and its evaluations")
    cost_usd: float


NodeSort = Literal["tree", "id", "score", "cmp", "evaluations", "tokens", "cost", "status", "depth", "children"]


class NodePage(BaseModel):
    run_id: int
    total: int
    offset: int
    limit: int
    sort: NodeSort = Field(description="tree: breadth-first (parents first); evaluations: own_total")
    order: Literal["asc", "desc"]
    nodes: list[TreeNodeOut]


class CompareCell(BaseModel):
    evaluation_id: int
    outcome: OutcomeName | None = Field(description="null while it runs")


class CompareRow(BaseModel):
    task_id: str
    cells: list[list[CompareCell]] = Field(description="one list per compared node (in `nodes` order): that "
                                                       "node's evaluations of the task, oldest first")


class CompareNode(BaseModel):
    id: int
    parent_id: int | None
    status: NodeStatusName
    own_resolved: int
    own_total: int
    score: float | None


class CompareOut(BaseModel):
    run_id: int
    a: int
    b: int
    nodes: list[CompareNode] = Field(description="the matrix's columns: a, b, then any `more`")
    diff: str | None = Field(description="the unified diff from a's code to b's; null when one has no code")
    diff_truncated: bool
    diff_note: str | None = Field(description="why there is no diff")
    tasks: list[CompareRow] = Field(description="every task any compared node was evaluated on, by task id")


class LogFile(BaseModel):
    name: str
    bytes: int


class EvaluationRow(BaseModel):
    id: int
    run_id: int
    node_id: int
    task_id: str
    attempt: int
    outcome: OutcomeName | None = Field(description="null while it runs; only resolved is a success")
    reason: str | None
    duration_s: float | None
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float
    details: dict[str, Any] | None = Field(
        description="what the agent and the grader reported; `tampering` ({rule, detail}, or null) is the "
                    "evidence of a refused grade, `set_aside` the test set-up files the patch changed "
                    "and the grader did not use")
    created_at: str | None
    finished_at: str | None


class EvaluationOut(EvaluationRow):
    logs: list[LogFile]


class EvaluationPage(BaseModel):
    run_id: int
    total: int = Field(description="the run's evaluations (with the outcome asked for, if one was)")
    offset: int
    limit: int
    evaluations: list[EvaluationRow]


class Validation(BaseModel):
    passed: bool | None = Field(description="null while the node is being built")
    stage: str | None = Field(description="where the expansion ended: diagnosis, self_improve, patch, compile, tests, contract")
    reason: str | None


class Usage(BaseModel):
    calls: int
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float


class NodeDetail(BaseModel):
    id: int
    run_id: int
    parent_id: int | None
    commit: str | None
    status: NodeStatusName
    entry_task: str | None = Field(description="the failure the expansion learned from")
    proposal: dict[str, Any] | None
    failure_reason: str | None
    own_resolved: int
    own_total: int
    own_tampered: int = Field(description="own evaluations whose grade was refused (failures, in own_total)")
    score: float | None
    clade_resolved: int
    clade_total: int
    clade_tampered: int
    cmp: float | None
    children: list[int]
    ancestors: list[int] = Field(description="root first")
    diff: str | None = Field(description="the change against the parent (the whole seed for a root)")
    diff_truncated: bool
    validation: Validation
    logs: list[LogFile]
    evaluations: list[EvaluationOut]
    usage: Usage
    created_at: str | None
    updated_at: str | None


class EventOut(BaseModel):
    seq: int
    kind: str
    payload: dict[str, Any]
    created_at: str | None


class StreamEnd(BaseModel):
    """The data of the stream's last event (`event: end`): the run has stopped for good."""

    status: RunStatusName
    last_seq: int


# One server-sent event as Open API 3.1 describes the items of a text/event-stream:
# its id is the event's seq; its data is JSON, an EventOut (or, for `event: end`, a StreamEnd).
SSE_EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "description": "the event's seq (send it back as Last-Event-ID)"},
        "event": {"type": "string", "enum": ["message", "end"]},
        "retry": {"type": "integer"},
        "data": {
            "type": "string",
            "contentMediaType": "application/json",
            "contentSchema": {"anyOf": [{"$ref": "#/components/schemas/EventOut"},
                                        {"$ref": "#/components/schemas/StreamEnd"}]},
        },
    },
}


class EventList(BaseModel):
    run_id: int
    events: list[EventOut]
    last_seq: int = Field(description="resume with ?after=last_seq")


class TimelinePoint(BaseModel):
    t: float = Field(description="seconds since the run started")
    evaluations: int = Field(description="evaluations finished")
    resolved: int
    tampered: int = Field(description="evaluations finished with a refused grade (failures)")
    best_node_id: int | None
    best_score: float | None
    tokens: int
    cost_usd: float


class Timeline(BaseModel):
    run_id: int
    started_at: str | None
    points: list[TimelinePoint]
