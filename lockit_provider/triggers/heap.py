"""Keep CPython's full garbage collections from holding the triggerer's event loop.

A full collection walks every object the process holds. In a trigger runner that is Airflow's whole
start-up heap (about 200,000 objects: 0.17-0.23 s per collection on a 2-core machine), and hundreds
of polling sensors make full collections come every 20-40 s: each one is a "blocked" warning from the
triggerer. ``gc.freeze()`` moves the objects alive now (modules, classes, Airflow's and this
provider's state) out of the collector's sight, so later full collections walk only what the triggers
created since: milliseconds. Frozen objects are still freed by reference counting; only a reference
cycle among them that becomes garbage later is never collected.

It happens once per trigger-runner process, the first time a LockitNetwork trigger runs there (never
in a task, a test or ``airflow dags test``), unless ``[lockit] triggerer_gc_freeze`` is off.
"""

from __future__ import annotations

import gc
import logging

from lockit_provider import compat

log = logging.getLogger(__name__)
CONFIG_SECTION, CONFIG_OPTION = "lockit", "triggerer_gc_freeze"
_decided: list[bool] = []  # once per process: whether the heap was frozen


def freeze_startup_heap() -> bool:
    """Freeze the objects alive now, once per process, in a trigger runner when allowed; tell if it did."""
    if _decided:
        return _decided[0]
    frozen = compat.in_trigger_runner() and _allowed()
    _decided.append(frozen)
    if frozen:
        gc.freeze()  # O(1): it moves the collector's lists, it does not walk them
        log.info(
            "Froze %d start-up objects out of the garbage collector's full passes "
            "([%s] %s = False turns this off)",
            gc.get_freeze_count(),
            CONFIG_SECTION,
            CONFIG_OPTION,
        )
    return frozen


def _allowed() -> bool:
    from airflow.configuration import conf

    return conf.getboolean(CONFIG_SECTION, CONFIG_OPTION, fallback=True)
