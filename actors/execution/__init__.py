"""Execution inside one account's actor: targets, stops, timeouts and a leader's fills
become orders under that account's own risk limits. Pure planning; the actor sends the
result through the idempotent `OrderManager` path."""

from actors.execution.planner import (
    Blocked,
    Cancel,
    LeaderFill,
    OrderIntent,
    plan_follow,
    plan_rebalance,
    plan_stops,
    plan_timeouts,
)
from actors.execution.risk import AccountView, OpenOrder, RiskLimits

__all__ = [
    "AccountView",
    "Blocked",
    "Cancel",
    "LeaderFill",
    "OpenOrder",
    "OrderIntent",
    "RiskLimits",
    "plan_follow",
    "plan_rebalance",
    "plan_stops",
    "plan_timeouts",
]
