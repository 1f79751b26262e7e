"""The runtime: notices in, plans executed, states committed (DESIGN.md "Shape").

Data takes one road: a change notice is routed to its user's actor; the actor reads what it needs, asks
the core for plans, executes them, and commits the new states with the stream position that fed them.

    engine.py      Bridge: the runtime over any ports; start() / wait_idle() / stop(), run_users()
    supervisor.py  Supervisor: config -> adapters -> store -> Bridge -> ops server; SIGTERM/SIGINT
    router.py      notices -> the user's actor (pair index, OwnerId, one read for unknown records)
    actor.py       one task and coalescing queue per user, made on demand, ended when idle
    sync.py        what an actor does: change events applied onto stored records, mailbox sync
    reconcile.py   window reconcile, the unpaired pass (match_unpaired), periodic reconcile batching
    passes.py      plan -> guard_deletions -> execute -> one commit; conflict/refused/not-found handling
    executor.py    Plan -> port calls; Created placeholders, after_write, intents (R-MERGE-4)
    watermark.py   per-stream low watermarks: positions stored only past committed notices
    records.py     stored raw copies kept current (change events applied, written fields), pair keys
    metrics.py     what is measured; forwarded to the ops server's Prometheus sink
    memory.py      in-memory SalesforcePort and MailboxPort for unit tests
    commands.py    calbridge run | status | issues | sync-now | backfill

In-process (tests, tools):

    bridge = Bridge(salesforce, exchange, store, [UserBinding(user_id, mailbox, policy), ...])
    await bridge.start(); ...; await bridge.wait_idle(); await bridge.stop()

or from a configuration: `Supervisor(load_config(path)).start()` / `.stop()` / `.run()`.
"""

from bridge.runtime.engine import Bridge, BridgeSettings
from bridge.runtime.supervisor import Supervisor
from bridge.runtime.sync import UserBinding

__all__ = ["Bridge", "BridgeSettings", "Supervisor", "UserBinding"]
