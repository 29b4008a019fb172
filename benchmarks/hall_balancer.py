"""hall_load.py --balancer: the hall through Caddy in front of app replicas on one PostgreSQL
(deploy/local_hall.py, what `make hall` starts), and two incidents on purpose: a replica SIGKILLed
mid-run, PostgreSQL restarted mid-run. Imported after Locust has patched the standard library, so
the sleeps, the HTTP probe and the subprocesses here yield to the phones."""

from __future__ import annotations

import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import harness
from hall_phase import Phase
from harness import ROOT, spread

sys.path.insert(0, str(ROOT))
from deploy.local_hall import LocalHall  # noqa: E402

HALL: list[LocalHall] = []  # the running hall, stopped by stop() (and by hall_load's hard deadline)
PROBE_EVERY = 0.05  # s between probe requests through the balancer after an incident


def start(replicas: int) -> harness.Server:
    hall = LocalHall(replicas=replicas, port=0)
    HALL[:] = [hall]
    t = time.perf_counter()
    hall.start()
    # process None: hall_load does not stop it as its own server; stop() does. pid: the first
    # replica's (for its judging workers); CPU figures come from pids(), every part of the hall.
    return harness.Server(hall.balancer_url, hall.replicas[0].pid, hall.crowd_db, None, None,
                          hall.log_path("caddy"), time.perf_counter() - t)


def stop() -> None:
    for hall in HALL:
        hall.stop()
    HALL.clear()
    LAST_CPU.clear()


def pids() -> list[int]:
    """Every process of the hall whose CPU counts: the replicas (their judging workers are their
    children), Caddy and PostgreSQL's postmaster (its backends are its children)."""
    if not HALL:
        return []
    hall = HALL[0]
    found = [p.pid for p in [*hall.replicas, hall.caddy] if p is not None and p.poll() is None]
    if hall.postgres is not None:
        pidfile = hall.postgres.data / "postmaster.pid"
        if pidfile.exists():
            found.append(int(pidfile.read_text().split()[0]))
    return found


LAST_CPU: dict[int, float] = {}  # pid → its last reading: a replica killed since counts up to then


def cpu_seconds() -> float | None:
    """CPU seconds so far of every part of the hall, those that died since included (as last read)."""
    for pid in pids():
        reading = harness.cpu_seconds(pid)
        if reading is not None:
            LAST_CPU[pid] = reading
    return sum(LAST_CPU.values()) if LAST_CPU else None


def probe(phase: Phase, name: str, seconds: float) -> None:
    """GET /robots.txt through the balancer (the audience path, round robin) every PROBE_EVERY s
    for `seconds`: which requests failed, and when the last one did."""
    url = HALL[0].balancer_url + "/robots.txt"
    record = phase.incidents[name]
    record["probe"] = []
    end = time.perf_counter() + seconds
    while time.perf_counter() < end and not phase.over:
        t = time.perf_counter() - phase.t0
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            status = exc.code
        except OSError:
            status = "conn"
        record["probe"].append((t, status))
        time.sleep(PROBE_EVERY)


def kill_replica(phase: Phase, at: float, index: int) -> None:
    """At `at` s: SIGKILL replica `index` with its workers; then probe the balancer for 10 s."""
    time.sleep(max(0.0, phase.t0 + at - time.perf_counter()))
    index %= len(HALL[0].replicas)
    cpu_seconds()  # its CPU until now still counts
    t = time.perf_counter()
    HALL[0].kill_replica(index)
    phase.incidents["replica"] = {"at": t - phase.t0, "index": index}
    probe(phase, "replica", 10.0)


def restart_postgres(phase: Phase, at: float, down: float) -> None:
    """At `at` s: stop PostgreSQL (fast: its connections are cut), keep it down `down` s, start it."""
    time.sleep(max(0.0, phase.t0 + at - time.perf_counter()))
    hall = HALL[0]
    t = time.perf_counter()
    hall.postgres.stop()
    stopped = time.perf_counter()
    phase.incidents["postgres"] = {"at": t - phase.t0, "stopped_in": stopped - t}
    time.sleep(down)
    hall.postgres.start()
    phase.incidents["postgres"]["up_at"] = time.perf_counter() - phase.t0
    probe(phase, "postgres", 5.0)


def report(phase: Phase, say) -> None:
    """What the incidents did to the phones."""
    for name, incident in phase.incidents.items():
        at = incident["at"]
        failed = [(t, s) for t, s in incident.get("probe", []) if s != 200]
        if name == "replica":
            say(f"replica {incident['index']} SIGKILLed at {at:.2f} s: probes through the balancer after it "
                f"{len(incident.get('probe', []))}, failed {len(failed)}"
                + (f", the last {failed[-1][0] - at:.2f} s after the kill ({failed[-1][1]})" if failed else
                   " (the balancer sent none to the dead replica, or retried it on the other)"))
            start = at
        else:
            say(f"PostgreSQL stopped at {at:.2f} s (in {incident['stopped_in']:.2f} s), up again at "
                f"{incident['up_at']:.2f} s")
            start = at
        around = [s for s in phase.sends if s.started <= phase.t0 + start + 10 and (s.ended or 1e18) >= phase.t0 + start]
        statuses = {}
        for send in around:
            for status in send.statuses:
                statuses[status] = statuses.get(status, 0) + 1
        say(f"  Sends meeting it (in flight from then to 10 s later): {len(around)}, acknowledged "
            f"{sum(1 for s in around if s.outcome == 'ok')}, retried {sum(1 for s in around if len(s.statuses) > 1)}, "
            f"gave up {sum(1 for s in around if s.outcome in ('gave up', 'cut off'))}; attempts by status {statuses}; "
            f"their Send → answer {spread([s.seconds for s in around if s.outcome == 'ok'])}")


def logs() -> Path | None:
    return HALL[0].folder if HALL else None
