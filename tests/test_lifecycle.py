"""The lifecycle table itself: every state is reachable and every non-terminal state can move on."""
from temu_gen.lifecycle import TERMINAL, TRANSITIONS, transition_rows


def test_every_state_is_reachable_and_live():
    for variant, table in TRANSITIONS.items():
        states = {"new"} | set(table.values())
        reach = {"new"}
        while True:
            more = {b for (a, _), b in table.items() if a in reach} - reach
            if not more:
                break
            reach |= more
        assert reach == states, variant
        leaving = {a for (a, _) in table}
        for s in states - leaving:
            assert s in TERMINAL[variant], f"{variant}: {s} is a dead end but not terminal"


def test_rows_for_the_dictionary():
    rows = transition_rows()
    assert ("prepaid", "new", "order_placed", "placed") in rows and len(rows) == sum(map(len, TRANSITIONS.values()))
