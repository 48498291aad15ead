"""Pure records and state machines of MIE: no I/O, so every rule here is unit-testable on plain dicts."""
