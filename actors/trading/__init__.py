"""One account's trading inside its actor: ledger, valuation, order tracking and the
trader that ties strategy, planner and venue together."""
