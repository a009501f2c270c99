"""Order status and commission status, exactly as the partner dashboard defines them.

- status PENDING: waiting for the provider's confirmation; commission N/A.
- status FAILED: terminal; commission N/A.
- status SUCCESSFUL: commission PENDING (counts in Commission Pending) until the provider
  confirms it, then SUCCESSFUL (moves to Commission Paid).

Providers describe the state of an order as of their event sequence number; applying
the highest sequence seen, and only forward moves, gives the same result as applying
every update in the provider's order, whatever order they arrive in.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

from shared.errors import Conflict, ErrorCode


class Status(StrEnum):
    PENDING = "PENDING"
    SUCCESSFUL = "SUCCESSFUL"
    FAILED = "FAILED"


class CommStatus(StrEnum):
    NA = "N/A"
    PENDING = "PENDING"
    SUCCESSFUL = "SUCCESSFUL"


class IllegalTransition(Conflict):
    """A move the commission rules forbid; answered 409 and nothing changes."""

    def __init__(self, message: str, field: str = "commStatus") -> None:
        super().__init__(ErrorCode.ILLEGAL_TRANSITION, message, field)


@dataclass(frozen=True)
class OrderState:
    status: Status
    comm_status: CommStatus
    amount: Decimal


def comm_status_for(status: Status) -> CommStatus:
    """The commission status an order enters when its status becomes `status`."""
    return CommStatus.PENDING if status is Status.SUCCESSFUL else CommStatus.NA


def check_consistent(status: Status, comm: CommStatus) -> None:
    if status is not Status.SUCCESSFUL and comm is not CommStatus.NA:
        raise IllegalTransition(f"commission status must be N/A while the order is {status.value}")
    if status is Status.SUCCESSFUL and comm is CommStatus.NA:
        raise IllegalTransition("a successful order's commission is PENDING or SUCCESSFUL, not N/A")


# Forward moves only: (status, comm) pairs reachable from each state.
_REACHABLE: dict[tuple[Status, CommStatus], frozenset[tuple[Status, CommStatus]]] = {
    (Status.PENDING, CommStatus.NA): frozenset(
        {
            (Status.PENDING, CommStatus.NA),
            (Status.FAILED, CommStatus.NA),
            (Status.SUCCESSFUL, CommStatus.PENDING),
            (Status.SUCCESSFUL, CommStatus.SUCCESSFUL),
        }
    ),
    (Status.SUCCESSFUL, CommStatus.PENDING): frozenset(
        {
            (Status.SUCCESSFUL, CommStatus.PENDING),
            (Status.SUCCESSFUL, CommStatus.SUCCESSFUL),
        }
    ),
    (Status.SUCCESSFUL, CommStatus.SUCCESSFUL): frozenset({(Status.SUCCESSFUL, CommStatus.SUCCESSFUL)}),
    (Status.FAILED, CommStatus.NA): frozenset({(Status.FAILED, CommStatus.NA)}),
}


def transition(current: OrderState, target: OrderState) -> OrderState | None:
    """The new state, None when nothing changes; raises IllegalTransition when not allowed."""
    check_consistent(target.status, target.comm_status)
    if target.amount < 0:
        raise IllegalTransition("commission amount must not be negative", field="amount")
    if (target.status, target.comm_status) not in _REACHABLE[(current.status, current.comm_status)]:
        raise IllegalTransition(
            f"cannot move an order from {current.status.value}/{current.comm_status.value} "
            f"to {target.status.value}/{target.comm_status.value}"
        )
    if current.comm_status is CommStatus.SUCCESSFUL and target.amount != current.amount:
        raise IllegalTransition("a paid commission's amount cannot change", field="amount")
    if target == current:
        return None
    return target
