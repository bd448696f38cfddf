"""Production mess, injected on purpose and labelled: what each defect is, which rows get one, and how.

:mod:`.catalog` declares the defect types as data (read by the injector, the data
dictionary, ``validate`` and ``reconcile``); :mod:`.select` decides which rows and
files get one, as pure functions of (seed, part, config); :mod:`.inject` applies
them to a part's merged columns and writes the labels. Nothing here imports numba.
"""
