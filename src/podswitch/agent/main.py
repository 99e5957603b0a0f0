"""The agent: poll the controller for this switch's desired state, reconcile the kernel, report status.

One loop, two clocks:
- every `interval` seconds (or the backoff delay after a failure) ask the controller, with the ETag of
  the applied state: 200 -> reconcile the new state (226: the same, sent as a delta against the applied
  state, which the client applies and checks); 304 -> nothing to do; with push, each request waits at the
  controller for the next state;
- every `resync` seconds reconcile the cached last-good state again, in full, to repair drift (a new state
  is applied scoped to what changed since the last clean run, see `reconcile`). That costs the
  controller nothing and the kernel nothing when it is right (zero writes). It goes on while the controller
  is unreachable: an outage never tears anything down, the switch keeps forwarding as last programmed.
The push wait and `resync` follow the controller's hints (`sync` in the document, format 2) unless given
here: operators tune every agent in one place, and a controller can stretch them.
After each reconcile the agent reports its status: on its next desired-state request when that goes at once
(pushed) and the controller takes reports there (one request per change instead of two), else by a PUT of
its own; a status that could not be delivered is sent again with the next successful poll.

Shutdown (SIGTERM/SIGINT) just stops the loop: the kernel is left as it is, so a restarted agent finds it
right and changes nothing (hitless restart)."""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import logging
import os
import random
import threading
import time
from collections.abc import Callable, MutableMapping, Sequence
from typing import Any, Protocol, TypeVar, cast

from .. import __version__
from ..client import ApiError, Backoff, Client, Fetched, Unavailable, UnreadableState, status_header
from ..daemon import setup_logging, stop_on_signals
from ..fabric.state import FORMAT, MAX_LONG_POLL, DesiredState, SwitchState, Sync
from .reconcile import Reconciler, Result

log = logging.getLogger("podswitch.agent")
# Until the controller says otherwise (and with a controller of format 1, which says nothing).
DEFAULT_SYNC = Sync()


class _Reconciles(Protocol):
    def reconcile(self, desired: SwitchState, *, full: bool = True) -> Result: ...

    def close(self) -> None: ...


class SwitchLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """Every line names the switch (`switch=l1 ...`) and carries it as a record attribute too."""

    def process(self, msg: Any, kwargs: MutableMapping[str, Any]) -> tuple[Any, MutableMapping[str, Any]]:
        extra = dict(self.extra or {})
        kwargs["extra"] = {**extra, **kwargs.get("extra", {})}
        return f"switch={extra.get('switch')} {msg}", kwargs


# What a controller answers when it refuses the status report riding on a desired-state request (the token,
# the report itself, its size) rather than the request: the state must still come, without it.
REPORT_REFUSALS = frozenset({400, 401, 403, 413, 422, 431})
MAX_REPORTED_ERRORS = 100  # the controller bounds the list (1000); a broken kernel can produce thousands


def status_document(
    desired: DesiredState | None, result: Result | None, problems: Sequence[str] = ()
) -> dict[str, Any]:
    """The status report: what is applied (None before the first apply), its errors and link states, and
    `problems` that stop the agent from applying anything newer."""
    all_errors = [*problems, *(result.errors if result else [])]
    errors = all_errors[:MAX_REPORTED_ERRORS]
    if len(all_errors) > MAX_REPORTED_ERRORS:
        errors.append(f"... and {len(all_errors) - MAX_REPORTED_ERRORS} more errors (see the agent's log)")
    return {
        "applied_revision": desired.revision if desired else None,
        "etag": desired.etag if desired else None,
        "errors": errors,
        "links": dict(result.links) if result else {},
        "writes": result.writes if result else 0,
        "reconciled_at": dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "agent": {"version": __version__, "pid": os.getpid(), "state_format": FORMAT},
    }


STOP_TICK = 0.05  # s: how soon a request in flight notices a stop


class Stopped(Exception):
    """The agent was told to stop while a request was out."""


T = TypeVar("T")


def until_stopped(call: Callable[[], T], stop: threading.Event) -> T:
    """`call()`'s result, from a thread of its own, so that a long-poll never holds up a stop: when `stop`
    is set first, raise Stopped and leave the request to die with the process."""
    box: list[Any] = []

    def target() -> None:
        try:
            box.append((True, call()))
        except BaseException as exc:  # handed to the caller below
            box.append((False, exc))

    worker = threading.Thread(target=target, name="podswitch-agent-fetch", daemon=True)
    worker.start()
    # join() returns the moment the answer is in (waiting on `stop` instead would sleep up to a whole tick
    # past it, on the path of every pushed change); `stop` is looked at between ticks.
    while True:
        worker.join(STOP_TICK)
        if not worker.is_alive():
            break
        if stop.is_set():
            raise Stopped
    ok, value = box[0]
    if ok:
        return cast(T, value)
    raise value


def run(
    switch: str,
    netns: str | None,
    controllers: list[str],
    *,
    token: str | None = None,
    interval: float = 2.0,
    resync: float | None = 30.0,
    stop: threading.Event | None = None,
    backoff_base: float = 0.5,
    backoff_cap: float = 30.0,
    sleep: Callable[[float], None] | None = None,
    clock: Callable[[], float] = time.monotonic,
    rng: random.Random | None = None,
    reconciler: _Reconciles | None = None,
    client: Client | None = None,
    push: float | None = 0.0,
) -> None:
    """Run until `stop` is set. The keyword arguments after `backoff_cap` are seams for tests: `sleep` is
    called with every delay the loop wants to wait (default: wait on `stop`), `clock` is monotonic time.

    `push` > 0: once a state is applied, each request waits up to `push` seconds at the controller for the
    next one (long-poll), so a change arrives the moment it is compiled; `interval` then only paces requests
    to a controller that answers at once (one without push). `push` 0: poll every `interval`.
    `push` or `resync` None: as the controller's hints say (`DEFAULT_SYNC` until it says)."""
    stop = stop if stop is not None else threading.Event()
    rng = rng if rng is not None else random.Random()
    wait: Callable[[float], Any] = sleep if sleep is not None else stop.wait
    slog = SwitchLog(log, {"switch": switch})
    rec: _Reconciles = reconciler if reconciler is not None else Reconciler(netns)
    # retries=0: this loop paces its own retries (below); the client fails over to the next URL.
    cli = client if client is not None else Client(controllers, token=token, retries=0, user_agent="podswitch-agent")
    backoff = Backoff(backoff_base, backoff_cap, rng)
    applied: DesiredState | None = None

    def hints() -> Sync:
        return applied.sync if applied is not None and applied.sync is not None else DEFAULT_SYNC

    def push_for() -> float:
        # Bounded like the controller bounds it: a request asking longer would be refused (422).
        return min(push if push is not None else hints().long_poll, MAX_LONG_POLL)

    def resync_every() -> float:
        return resync if resync is not None else hints().resync

    # Local retries of a reconcile that had errors: soon at first, never more often than `interval`.
    repair = Backoff(max(interval, 0.001), max(resync_every(), interval), rng)

    etag: str | None = None
    last: Result | None = None
    unsent: dict[str, Any] | None = None
    carry = False  # send `unsent` along with the next request (the controller takes reports there)
    put_reports = False  # a controller refused a report riding on a request: PUT them from now on
    now = clock()
    # Agents restarted together (a rollout) must not hit the controller together: start at a random point.
    next_poll = now + rng.uniform(0.0, interval)
    next_resync = float("inf")

    def fetch(holding: str | None, report: str | None) -> Fetched:
        wait = push_for()
        # A change may come as a delta against what is applied (the client checks it against its ETag).
        if wait > 0 and holding is not None:
            return until_stopped(
                lambda: cli.desired_state(switch, holding, wait=wait, held=applied, status=report), stop
            )
        return cli.desired_state(switch, holding, held=applied, status=report)

    def apply(desired: DesiredState, why: str) -> None:
        nonlocal last, unsent, next_resync
        # A new state is applied scoped to what changed (the reads of everything else are most of a run);
        # the periodic resync, and any retry after an error, looks at everything.
        full = why == "resync"
        try:
            result = rec.reconcile(desired.state, full=full)
        except Exception as e:  # reconcile collects its own errors; this is a bug, not a reason to die
            slog.exception("reconcile crashed")
            result = Result(switch=switch, netns=netns, errors=[f"reconcile crashed: {e!r}"])
        last = result
        unsent = status_document(desired, result)
        if result.errors:
            delay = max(interval, repair.next())  # soon, but never back to back
            slog.warning("reconcile %s revision=%s %s; retry in %.1fs; first error: %s",
                         why, desired.revision, result.summary(), delay, result.errors[0])  # fmt: skip
        else:
            repair.reset()
            delay = resync_every()
            level = logging.INFO if result.writes or why != "resync" else logging.DEBUG
            slog.log(level, "reconcile %s revision=%s %s", why, desired.revision, result.summary())
            if result.scope != "full" and next_resync != float("inf"):
                return  # a scoped run repairs no drift: changes arriving often must not put the full run off
        next_resync = clock() + delay

    slog.info("agent starting netns=%s controllers=%s interval=%.1fs resync=%s push=%s",
              netns, ",".join(controllers), interval, _given(resync), _given(push))  # fmt: skip
    try:
        while not stop.is_set():
            now = clock()
            if applied is not None and now >= next_resync:
                apply(applied, "resync")
            if now >= next_poll:
                report: str | None = None
                try:
                    asked = clock()
                    sent = unsent if carry else None
                    report = status_header(sent) if sent is not None else None
                    fetched = fetch(etag if applied is not None else None, report)
                    if report is not None and fetched.report == "stored" and unsent is sent:
                        unsent = None
                    if fetched.desired is not None:  # 200, or 226 (a delta applied to what we hold)
                        changed = applied is None or fetched.desired.etag != applied.etag
                        if applied is not None and fetched.desired.sync != applied.sync:
                            slog.info("controller's sync hints now %s", fetched.desired.sync)
                        applied, etag = fetched.desired, fetched.etag
                        repair.cap = max(resync_every(), interval)
                        if changed or last is None or last.errors:
                            apply(applied, "new state")
                        elif next_resync > clock() + resync_every():
                            next_resync = clock() + resync_every()  # the controller shortened the period
                    if backoff.attempts:
                        slog.info("controller %s reachable again", cli.url)
                    backoff.reset()
                    # Pushed: ask again at once (the request waits at the controller). An answer that did
                    # not wait (a controller without push, or none yet applied) paces at `interval`.
                    waited = push_for()
                    pushed = fetched.desired is not None or clock() - asked >= min(waited / 2, 1.0)
                    at_once = waited > 0 and applied is not None and pushed
                    next_poll = clock() if at_once else clock() + interval
                    # The report rides on the next request when that goes now and the controller takes it
                    # there; otherwise it goes by itself, now.
                    carry = fetched.report is not None and at_once and not put_reports
                    if unsent is not None and not (carry and status_header(unsent) is not None):
                        try:
                            cli.report_status(switch, unsent)
                        except ApiError as e:
                            if e.retryable:
                                raise
                            # The controller rejects this report as such: sending it again cannot help.
                            slog.error("status report rejected, dropped: %s", e)
                        unsent = None
                except Stopped:
                    break
                except ApiError as e:
                    if report is not None and e.status in REPORT_REFUSALS:
                        slog.error("status report refused on the desired-state request; reports go by PUT "
                                   "from now on: %s", e)  # fmt: skip
                        put_reports, carry = True, False
                        next_poll = clock()  # the state, at once, without the report
                        continue
                    if isinstance(e, UnreadableState):
                        # Tell the operator (show switches) why this switch stays on its old state.
                        slog.error("%s", e)
                        with contextlib.suppress(ApiError):
                            cli.report_status(switch, status_document(applied, last, [str(e)]))
                    if not isinstance(e, Unavailable):
                        # The client failed over by itself; any other answer may be this controller's
                        # own (not caught up, another version): ask the next one too.
                        cli.rotate()
                    delay = backoff.next(e.retry_after)
                    slog.warning("controller failed (attempt %d): %s; next try in %.2fs on %s",
                                 backoff.attempts, e, delay, cli.url)  # fmt: skip
                    next_poll = clock() + delay
            if stop.is_set():
                break
            delay = max(0.0, min(next_poll, next_resync) - clock())
            wait(delay)
    finally:
        # Deliberately no teardown: the kernel keeps forwarding exactly as last programmed.
        if client is None:
            cli.close()
        if reconciler is None:
            rec.close()
        slog.info("agent stopped; kernel left as programmed")


def _given(value: float | None) -> str:
    return "controller's" if value is None else f"{value:g}s"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="podswitch-agent", description="podswitch switch agent")
    p.add_argument("--switch", required=True, help="this switch's name in the topology")
    p.add_argument("--netns", default=None, help="the switch's network namespace (default: the current one)")
    p.add_argument(
        "--controller",
        action="append",
        required=True,
        dest="controllers",
        help="controller base URL; repeat for several (tried in turn after failures)",
    )
    p.add_argument("--token", default=os.environ.get("PODSWITCH_TOKEN"), help="API token (or $PODSWITCH_TOKEN)")
    p.add_argument("--interval", type=float, default=2.0, help="seconds between polls (without push)")
    p.add_argument(
        "--push",
        type=float,
        default=None,
        help="seconds each request waits at the controller for a change (long-poll); 0 polls every --interval "
        "(default: as the controller says, 30)",
    )
    p.add_argument(
        "--resync",
        type=float,
        default=None,
        help="seconds between local drift repairs (default: as the controller says, 30)",
    )
    p.add_argument("--log-level", default="INFO")
    args = p.parse_args(argv)  # fmt: skip
    setup_logging(args.log_level)
    stop = stop_on_signals(log)
    run(args.switch, args.netns, args.controllers, token=args.token, interval=args.interval,
        resync=args.resync, stop=stop, push=args.push)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
