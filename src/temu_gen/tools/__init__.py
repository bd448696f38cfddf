"""Commands that read a committed run: ``validate``, ``reconcile``, ``show`` and ``runs``.

Each module's ``main(argv) -> int`` is dispatched by :mod:`temu_gen.cli` (``TOOLS``);
:mod:`.runref` finds a run and :mod:`.views` opens its files in DuckDB. Invariant: these commands only read. They
never write, lock or repair a run, so they are safe to point at a run another process
is writing (they refuse it until it is committed, except ``runs``, which reports it).
"""
