from decimal import Decimal

import pytest

from services.orders.domain.commission import CommStatus, IllegalTransition, OrderState, Status, transition

P, S, F = Status.PENDING, Status.SUCCESSFUL, Status.FAILED
NA, CP, CS = CommStatus.NA, CommStatus.PENDING, CommStatus.SUCCESSFUL


def st(status: Status, comm: CommStatus, amount: str = "10.00") -> OrderState:
    return OrderState(status, comm, Decimal(amount))


@pytest.mark.parametrize(
    "start,target",
    [
        (st(P, NA), st(S, CP)),
        (st(P, NA), st(F, NA)),
        (st(S, CP), st(S, CS)),
        (st(P, NA), st(S, CS)),
        (st(S, CP), st(S, CP, "12.00")),
    ],
)
def test_forward_moves_are_allowed(start: OrderState, target: OrderState) -> None:
    assert transition(start, target) == target


@pytest.mark.parametrize(
    "start,target",
    [
        (st(S, CS), st(S, CP)),
        (st(S, CP), st(F, NA)),
        (st(F, NA), st(S, CP)),
        (st(S, CS), st(F, NA)),
        (st(F, NA), st(P, NA)),
        (st(S, CP), st(P, NA)),
    ],
)
def test_backward_and_sideways_moves_are_refused(start: OrderState, target: OrderState) -> None:
    with pytest.raises(IllegalTransition):
        transition(start, target)


@pytest.mark.parametrize("status,comm", [(P, CP), (F, CS), (S, NA), (P, CS)])
def test_inconsistent_states_are_refused(status: Status, comm: CommStatus) -> None:
    with pytest.raises(IllegalTransition):
        transition(st(P, NA), st(status, comm))


def test_same_state_is_a_no_op() -> None:
    assert transition(st(S, CP), st(S, CP)) is None


def test_paid_amount_is_frozen() -> None:
    with pytest.raises(IllegalTransition) as exc:
        transition(st(S, CS, "10.00"), st(S, CS, "11.00"))
    assert exc.value.field == "amount"


def test_negative_amount_refused() -> None:
    with pytest.raises(IllegalTransition):
        transition(st(S, CP), st(S, CS, "-1.00"))
