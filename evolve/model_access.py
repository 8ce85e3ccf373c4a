"""The one place that turns the run's gateway into what a sandbox mounts.

Every unit of work that calls the model — an evaluation's agent, the
parent agent on its own code, the diagnosis — gets a `ModelAccess` from
here: the gateway's socket, the backend its role uses, and a token issued
for that unit alone, which the gateway maps back to the run, node and
evaluation it is spent for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from evaluator.contract import ModelAccess
from evaluator.errors import EvaluatorError

if TYPE_CHECKING:
    from llm.gateway import Gateway


@dataclass
class GatewayIssuer:
    """Issues and revokes model access on one gateway, for one run (or none)."""

    gateway: Gateway
    run_id: int | None = None

    @property
    def socket_path(self) -> str:
        socket = self.gateway.config.socket_path
        if socket is None:
            raise EvaluatorError("the gateway listens on no Unix socket, and sandboxes can only reach a socket: "
                                 "set socket_path in its configuration")
        return str(socket)

    def grant(self, role: str, model: str, *, node_id: int | None, evaluation_id: int | None = None) -> ModelAccess:
        """Access to `model` for one unit of work in `role` (solve, self_improve, diagnosis)."""
        token = self.gateway.issue_token(run_id=self.run_id, node_id=node_id, evaluation_id=evaluation_id,
                                         purpose=role, model=model)  # the token buys this one model
        return ModelAccess(self.socket_path, model, token)

    def revoke(self, access: ModelAccess) -> None:
        """End the grant; the calls it made are in the archive when this returns."""
        self.gateway.revoke_token(access.token)
        self.gateway.flush()

    def for_evaluations(self, model: str, role: str = "solve") -> RoleIssuer:
        """What the evaluator asks for access per evaluation (`evaluator.contract.AccessIssuer`)."""
        return RoleIssuer(self, role, model)


@dataclass
class RoleIssuer:
    """A `GatewayIssuer` bound to one role and model: the evaluator's `AccessIssuer`."""

    issuer: GatewayIssuer
    role: str
    model: str

    def issue(self, *, node_id: int | None, evaluation_id: int | None) -> ModelAccess:
        return self.issuer.grant(self.role, self.model, node_id=node_id, evaluation_id=evaluation_id)

    def revoke(self, access: ModelAccess) -> None:
        self.issuer.revoke(access)
