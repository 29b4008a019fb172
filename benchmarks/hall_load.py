"""A hall of phones on talk mode's plain-HTTP audience path (audience/server.py), driven by Locust
used as a library (FastHttpUser, a LocalRunner): loopback only, bounded in phones and time, and it
stops by itself (a hard deadline kills everything it started). It prints figures; it asserts
nothing, but says plainly when a check fails (and exits 1 then).

Scenarios (several may be given; they run one after another on the same server):

  --storm [N]            N phones (default 500) open the page within 10 s (spawn rate N/10): GET
                         /join (Accept-Encoding: gzip, as a browser sends) and POST /api/join/token,
                         what the real page fetches. Before that, the page's HTML is parsed for
                         src=/href=/url(…) references that would make a browser fetch more (the
                         page is meant to be one file). Reports pages served, failures, p50/p95/max
                         of page+token time, bytes per phone as transferred (gzip body + headers).
  --steady [N] --seconds S
                         N phones (default 500), S seconds (default 120, from the first join):
                         each joins as above, then every 5 ± 1 s sends a real MNIST test digit
                         (pre-rendered before the run: 300 distinct PNGs, 300×300 RGBA, white
                         strokes on black) with a fresh send id made on the phone; a Send refused
                         as busy (429 "busy", 503) or without an answer is sent again with the SAME
                         send id, as audience/join.html does (at most 8 attempts; after the JSON
                         retry_after, else Retry-After, else the page's back-off). Reports Sends and
                         acknowledgements, Send→answer p50/p95/max (first attempt to final answer),
                         responses by status, digits/s, the server's CPU (its process and all its
                         children, the judging workers, from /proc) in cores, and a database
                         cross-check (read-only sqlite3 after the run): the talk's new rows of these
                         phones = the acknowledged distinct digit ids, and no send id stored twice.
                         Meanwhile, in a process of its own, the presenter's wall reads are timed
                         once a second (CrowdStore.count, latest(talk, 18), scoreboard: what the
                         Talk page reads per refresh); the goal is p95 ≤ 0.1 s per refresh.
                         A phone whose person reached the store's 30 digits per talk takes a new
                         token (hands the phone on), so a long run keeps its rate.
  --flood                one more client sends --flood-rate requests/s (default 200) for the whole
                         steady run, with forged person tokens (random 44 characters) and
                         valid-looking bodies (a real drawing). Reports how many were accepted (must
                         be 0) and their statuses. With --compare, the steady hall runs alone first
                         (same server, new phones), and the phones' p95 is shown with and without.
  --balancer [N]         the hall behind a balancer: deploy/local_hall.py starts PostgreSQL, N app
                         replicas (default 2) and Caddy in front, all on loopback; the phones go
                         through Caddy, the database checks read PostgreSQL, the CPU figures add
                         up every part (replicas with their workers, Caddy, PostgreSQL).
  --kill-replica-at T    with --balancer, during steady: SIGKILL the last replica (and its workers)
                         at T s; then probe the balancer every 50 ms for 10 s. Reports failed
                         probes, and the Sends that met the kill (retried, acknowledged, lost).
  --restart-postgres-at T [--postgres-down S]
                         with --balancer, during steady: stop PostgreSQL at T s, start it S s later
                         (default 5). Reports the Sends that met it; the database check says
                         whether anything acknowledged was lost.
  --kill-worker-at T     during steady, T s after it starts, SIGKILL one judging worker (a child of
                         the server whose command line runs multiprocessing's spawn_main; at the
                         first moment within 2 s when a phone's Send is in flight). Reports
                         that every acknowledged digit is in the database exactly once, how many
                         Sends needed a retry, how many gave up, and when new workers appeared.

    .venv/bin/python benchmarks/hall_load.py --storm                          # 500 phones
    .venv/bin/python benchmarks/hall_load.py --steady                         # 500 phones × 120 s
    .venv/bin/python benchmarks/hall_load.py --steady --flood --compare       # alone, then with 200 forged/s
    .venv/bin/python benchmarks/hall_load.py --steady --kill-worker-at 30
    .venv/bin/python benchmarks/hall_load.py --storm 100 --steady 50 --seconds 30 --flood --flood-rate 50 \\
        --kill-worker-at 10                                                   # a short smoke run
    .venv/bin/python benchmarks/hall_load.py --balancer --steady 500 --seconds 60   # 2 replicas, PostgreSQL
    .venv/bin/python benchmarks/hall_load.py --balancer --steady 500 --seconds 60 --kill-replica-at 20 \
        --restart-postgres-at 40
    .venv/bin/python benchmarks/hall_load.py --host http://127.0.0.1:8501 --db PATH --steady 50
                                                                              # a running talk server

Without --host it starts its own server (benchmarks/harness.py: `streamlit run streamlit_app.py`
in talk mode on a free loopback port, a fresh key, its own database in a temporary folder) and
always stops it. With --host (loopback only) the digits go into that server's current talk; --db
(its MNIST_CROWD_DB) enables the database checks and the wall timing, --pid its CPU figures
(found from the listening port when it is this user's process). Before any scenario one digit is
sent from a token of its own and answered (a worker has loaded the models), then 2 per worker at
once (every worker has judged one); they stay in the talk and are left out of every figure.

The machine has 2 cores, shared by the server, its two judging workers and this load generator
(one gevent loop): the report gives this process's CPU too, so a saturated client shows.

Client sockets get TCP_NODELAY, as a browser's do. The server's do not (see `_no_delay`): every
response after the first on a kept-alive connection waits ~40 ms for the client's delayed ACK.
The report measures that once at the start (fresh vs kept-alive connection) and it shows in the
token's and the forged Sends' times; phones meet it too, so it is left in the figures.

The phones are Locust users in hall_phones.py; what they record, the pace and bounds, and the
database cross-check are in hall_phase.py; what is printed is in hall_report.py.
"""

from __future__ import annotations

import argparse
import sys
import urllib.parse

# Only what parse_args needs comes before Locust: hall_phase imports nothing from the network side.
from hall_phase import DIGITS, MAX_FLOOD_RATE, MAX_PHONES, MAX_SECONDS


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--storm", type=int, nargs="?", const=500, metavar="N", help="N phones open the page within 10 s (500)")
    p.add_argument("--steady", type=int, nargs="?", const=500, metavar="N", help="N phones send a digit every 5 s (500)")
    p.add_argument("--seconds", type=float, default=120.0, help="steady run length, from the first join (120)")
    p.add_argument("--flood", action="store_true", help="with steady: one client sending forged-token Sends")
    p.add_argument("--flood-rate", type=float, default=200.0, metavar="R", help="forged Sends per second (200)")
    p.add_argument("--compare", action="store_true", help="with --flood: run the steady hall alone first")
    p.add_argument("--kill-worker-at", type=float, metavar="T", help="with steady: SIGKILL one judging worker at T s")
    p.add_argument("--balancer", type=int, nargs="?", const=2, metavar="N",
                   help="through Caddy in front of N replicas on PostgreSQL (2)")
    p.add_argument("--kill-replica-at", type=float, metavar="T", help="with --balancer: SIGKILL a replica at T s")
    p.add_argument("--restart-postgres-at", type=float, metavar="T", help="with --balancer: restart PostgreSQL at T s")
    p.add_argument("--postgres-down", type=float, default=5.0, metavar="S", help="how long PostgreSQL stays down (5)")
    p.add_argument("--host", metavar="URL", help="a running talk-mode server on loopback (default: start one)")
    p.add_argument("--db", help="with --host: its database file (MNIST_CROWD_DB), for the checks and the wall")
    p.add_argument("--pid", type=int, help="with --host: its process id (default: the process listening on its port)")
    p.add_argument("--digits", type=int, default=DIGITS, help=f"distinct pre-rendered drawings ({DIGITS})")
    p.add_argument("--no-locust-stats", action="store_true", help="leave out Locust's own stats tables")
    args = p.parse_args(argv)
    if (args.flood or args.kill_worker_at is not None) and args.steady is None:
        args.steady = 500
    if args.compare and not args.flood:
        p.error("--compare goes with --flood")
    if args.storm is None and args.steady is None:
        p.error("pick a scenario: --storm [N], --steady [N] (with --flood, --kill-worker-at T)")
    for name in ("storm", "steady"):
        n = getattr(args, name)
        if n is not None and not 1 <= n <= MAX_PHONES:
            p.error(f"--{name}: 1 to {MAX_PHONES} phones")
    if not 5 <= args.seconds <= MAX_SECONDS:
        p.error(f"--seconds: 5 to {MAX_SECONDS}")
    if not 0 < args.flood_rate <= MAX_FLOOD_RATE:
        p.error(f"--flood-rate: above 0, at most {MAX_FLOOD_RATE:.0f}")
    if args.kill_worker_at is not None and not 0 <= args.kill_worker_at < args.seconds:
        p.error("--kill-worker-at: within the steady run (0 ≤ T < --seconds)")
    if not 10 <= args.digits <= 3000:
        p.error("--digits: 10 to 3000")
    if args.host and urllib.parse.urlsplit(args.host).hostname not in ("127.0.0.1", "localhost", "::1"):
        p.error(f"--host must be a loopback address, not {args.host}")
    for name in ("kill_replica_at", "restart_postgres_at"):
        if getattr(args, name) is not None:
            if not args.balancer:
                p.error(f"--{name.replace('_', '-')} goes with --balancer")
            if args.steady is None:
                args.steady = 500
            if not 0 <= getattr(args, name) < args.seconds:
                p.error(f"--{name.replace('_', '-')}: within the steady run (0 ≤ T < --seconds)")
    if args.kill_replica_at is not None and args.balancer < 2:
        p.error("--kill-replica-at needs --balancer 2 or more: one replica must stay")
    if args.balancer and (args.host or args.kill_worker_at is not None):
        p.error("--balancer starts its own hall: not with --host or --kill-worker-at")
    if (args.db or args.pid) and not args.host:
        p.error("--db and --pid go with --host (a server this script starts has its own)")
    return args


ARGS = parse_args() if __name__ == "__main__" else None  # --help and mistakes before Locust's import

# Locust patches the standard library for gevent on import: only in this process, never in a
# module the app or the tests import (harness.py has no Locust in it).
import gzip  # noqa: E402
import json  # noqa: E402
import logging  # noqa: E402
import os  # noqa: E402
import resource  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

import gevent  # noqa: E402
import geventhttpclient.connectionpool  # noqa: E402
from locust.env import Environment  # noqa: E402


def _no_delay(pool, sock) -> None:
    """TCP_NODELAY on every client socket, as browsers set it (geventhttpclient writes a POST's head
    and body in two sends; with Nagle's algorithm the body could wait for the server's delayed ACK).

    The server side is another matter, measured here and left as it is, since phones meet it too:
    Streamlit pre-binds its listening socket with `socket.socket(family=family)` (proto 0), and
    asyncio on Python 3.11 sets TCP_NODELAY on accepted connections only when `sock.proto ==
    IPPROTO_TCP`; uvicorn writes a response's head and body in two sends, so on a kept-alive
    connection every response after the first waits for the client's delayed ACK, ~40 ms on Linux
    (curl on loopback: 0.5 ms to the first byte, 43 ms to the last)."""
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


geventhttpclient.connectionpool.ConnectionPool.after_connect = _no_delay

import hall_balancer  # noqa: E402
import hall_phones  # noqa: E402
import harness  # noqa: E402
from browser import page_references  # noqa: E402
from canvas_digits import Drawing, phone_drawings  # noqa: E402
from hall_phase import BROWSER, GRACE, RAMP, SEED, WARM_UP_SECONDS, Phase, Run, db_check, db_max_id  # noqa: E402
from hall_phones import Flooder, Phone, warm_up  # noqa: E402
from hall_report import final_table, locust_stats, report_steady, report_storm, say  # noqa: E402
from harness import spread  # noqa: E402

sys.path.insert(0, str(harness.ROOT))
from mnist_core.talk import audience  # noqa: E402

# ── running one phase with Locust ─────────────────────────────────────────────────────────────

def client_cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_phase(url: str, phase: Phase, server: harness.Server, db: Path | None, talk_id: int | None) -> Run:
    hall_phones.PHASE = phase
    classes = [Phone] + ([Flooder] if phase.flood_rate else [])
    env = Environment(user_classes=classes, host=url)
    runner = env.create_local_runner()
    timing_wall = phase.kind == "steady" and db is not None and talk_id is not None
    wall_proc, wall_out = start_wall_sampler(db, talk_id, phase.seconds) if timing_wall else (None, None)
    cpu0, client0 = cpu_now(server), client_cpu_seconds()
    phase.t0 = time.perf_counter()
    span = phase.seconds if phase.kind == "steady" else RAMP
    phase.send_until = phase.t0 + span
    phase.hard_end = phase.send_until + GRACE
    users = phase.phones + (1 if phase.flood_rate else 0)
    runner.start(users, spawn_rate=max(1.0, phase.phones / RAMP))
    killer = gevent.spawn(kill_worker, phase) if phase.kill_at is not None else None
    incidents = []
    if phase.replica_kill_at is not None:
        incidents.append(gevent.spawn(hall_balancer.kill_replica, phase, phase.replica_kill_at, -1))
    if phase.postgres_restart_at is not None:
        incidents.append(gevent.spawn(hall_balancer.restart_postgres, phase, phase.postgres_restart_at, phase.postgres_down))
    for _ in range(int((phase.hard_end - phase.t0) * 4) + 8):  # bounded: every 0.25 s until the hard end
        now = time.perf_counter()
        if now > phase.hard_end or (phase.started >= phase.phones and phase.done >= phase.phones and now >= phase.send_until
                                    and (not phase.flood_rate or phase.flood_ended)):
            break
        gevent.sleep(0.25)
    for record in phase.sends:
        if record.outcome == "in flight":
            record.outcome = "cut off"
    phase.over = True
    wall_s = time.perf_counter() - phase.t0
    cpu1, client1 = cpu_now(server), client_cpu_seconds()
    runner.quit()
    if killer is not None:
        killer.kill()
    gevent.joinall(incidents, timeout=30)  # a PostgreSQL restart is left to finish, not cut off
    wall = collect_wall(wall_proc, wall_out) if wall_proc is not None else []
    server_cpu = None if cpu0 is None or cpu1 is None else cpu1 - cpu0
    return Run(phase, wall_s, server_cpu, client1 - client0, env, wall)


def cpu_now(server: harness.Server) -> float | None:
    """CPU seconds so far of the server and its workers, or of every part of a --balancer hall."""
    return hall_balancer.cpu_seconds() if hall_balancer.HALL else harness.cpu_seconds(server.pid)


def start_wall_sampler(db: Path, talk_id: int, seconds: float) -> tuple[subprocess.Popen, str]:
    """`harness.py wall …` in a process of its own (SQLite's blocking reads would stall this
    process's event loop); its JSON samples go to the returned file."""
    handle, out = tempfile.mkstemp(prefix="hall-wall-", suffix=".json")
    os.close(handle)
    process = subprocess.Popen([sys.executable, str(Path(harness.__file__).resolve()), "wall", str(db), str(talk_id),
                                str(int(seconds)), out], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return process, out


def collect_wall(process: subprocess.Popen, out: str) -> list[dict]:
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
    try:
        wall = json.loads(Path(out).read_text())
    except (OSError, ValueError):
        wall = []
    for leftover in (out, out + ".tmp"):
        Path(leftover).unlink(missing_ok=True)
    return wall


def kill_worker(phase: Phase) -> None:
    """At phase.kill_at s: SIGKILL one judging worker; then note when the pool has new workers."""
    gevent.sleep(max(0.0, phase.t0 + phase.kill_at - time.perf_counter()))
    if not phase.server_pid:
        phase.kill = {"error": "no server pid: nothing killed"}
        return
    before = harness.worker_pids(phase.server_pid)
    if not before:
        phase.kill = {"error": "no judging worker found among the server's children: nothing killed"}
        return
    victim = before[0]
    waited_from = time.perf_counter()
    for _ in range(400):  # up to 2 s: kill while a Send is being judged, so the retry path is exercised
        if any(s.outcome == "in flight" for s in phase.sends[-200:]):
            break
        gevent.sleep(0.005)
    at = time.perf_counter()
    in_flight = sum(1 for s in phase.sends if s.outcome == "in flight")
    os.kill(victim, signal.SIGKILL)
    phase.kill = {"pid": victim, "at": at - phase.t0, "workers_before": before, "in_flight": in_flight,
                  "waited": at - waited_from}
    for _ in range(int(GRACE * 4)):  # bounded: watch for the replacement pool for at most GRACE s
        gevent.sleep(0.25)
        now = harness.worker_pids(phase.server_pid)
        fresh = [p for p in now if p not in before]
        if fresh and len(now) >= len(before):
            phase.kill.update(new_workers=fresh, new_after=time.perf_counter() - at)
            break
    answered_after = [s.ended for s in phase.sends if s.outcome == "ok" and s.ended and s.started >= at]
    if answered_after:
        phase.kill["first_new_answer_after"] = min(answered_after) - at



# ── main ──────────────────────────────────────────────────────────────────────────────────────

STARTED: list[harness.Server] = []


def hard_deadline(signum, frame) -> None:
    say("\nHARD DEADLINE reached: stopping everything this benchmark started.")
    for server in STARTED:
        harness.kill_now(server)
    hall_balancer.stop()
    os._exit(2)


def budget(args) -> float:
    seconds = 60 + WARM_UP_SECONDS + harness.HEALTH_SECONDS + 60 + (240 if args.balancer else 0)
    if args.storm is not None:
        seconds += RAMP + GRACE + 30
    if args.steady is not None:
        seconds += (args.seconds + GRACE + 30) * (2 if args.compare else 1)
    return seconds


def server_for(args) -> harness.Server | None:
    """The --host server (not ours: never stopped), or one of our own; None if neither answers."""
    if args.balancer:
        try:
            server = hall_balancer.start(args.balancer)
        except RuntimeError as exc:
            say(str(exc))
            return None
        say(f"hall: Caddy on {server.url} in front of {args.balancer} replicas "
            f"{' '.join(hall_balancer.HALL[0].replica_urls)}, PostgreSQL {server.db}; all healthy in "
            f"{server.started_in:.1f} s; logs in {hall_balancer.logs()}")
        return server
    if args.host:
        url = args.host.rstrip("/")
        if not harness.answers_health(url):
            say(f"--host {url}: /_stcore/health does not answer ok")
            return None
        pid = args.pid or harness.listening_pid(urllib.parse.urlsplit(url).port or 80)
        say(f"server: {url} (pid {pid or 'unknown'}; database {args.db or 'not given: no database checks, no wall timing'})")
        return harness.Server(url, pid or 0, Path(args.db) if args.db else None)
    try:
        server = harness.start_talk_server()
    except RuntimeError as exc:
        say(str(exc))
        return None
    STARTED.append(server)
    say(f"server: {server.url} (pid {server.pid}, talk mode, database {server.db}); health in {server.started_in:.1f} s")
    return server


def warm(server: harness.Server, drawings: list[Drawing]) -> int:
    """The warm-up (hall_phones.warm_up) and the server's kept-alive delay; the talk's id."""
    workers = harness.worker_pids(server.pid) if server.pid else []
    talk_id, warm_s, answer, rest_s = warm_up(server.url, drawings, len(workers) or os.cpu_count() or 2)
    say(f"warm-up: one digit answered in {warm_s:.1f} s (talk {talk_id}; ANN read {answer['answers']['ann']['digit']}, "
        f"CNN {answer['answers']['cnn']['digit']}, label {answer['label']}), {2 * max(1, len(workers) or os.cpu_count() or 2)} "
        f"more at once in {rest_s:.2f} s; judging workers {harness.worker_pids(server.pid) if server.pid else 'unknown'}")
    fresh, kept = harness.kept_alive_delay(server.url)
    say(f"server's response time on a fresh connection {fresh * 1000:.1f} ms, on a kept-alive one {kept * 1000:.1f} ms"
        + (" (the server's sockets lack TCP_NODELAY: later responses on a connection wait for the client's "
           "delayed ACK; see _no_delay in this file)" if kept - fresh > 0.02 else ""))
    return talk_id


def storm(args, server: harness.Server, drawings: list[Drawing]) -> tuple[dict, bool]:
    """The storm phase, after a look at the page's references; (its summary row, whether a check failed)."""
    _, headers, raw = harness.http_request(server.url + "/join", headers=BROWSER)
    plain = gzip.decompress(raw) if headers.get("content-encoding", headers.get("Content-Encoding", "")) == "gzip" else raw
    refs = page_references(plain.decode("utf-8", errors="replace"))
    run = run_phase(server.url, Phase("storm", "storm", args.storm, drawings=drawings, server_pid=server.pid), server, None, None)
    row = report_storm(run, refs, (len(plain), len(raw)))
    if not args.no_locust_stats:
        locust_stats(run.env)
    return row, bool(refs["requesting"])


def steady(args, server: harness.Server, talk_id: int, drawings: list[Drawing]) -> tuple[list[dict], bool]:
    """The steady phase (alone first with --compare); (their summary rows, whether a check failed)."""
    plans = [("steady alone", 0.0, None)] if args.compare else []
    label = ("steady" + (" + flood" if args.flood else "") + (" + kill" if args.kill_worker_at is not None else "")
             + (f" via Caddy × {args.balancer}" if args.balancer else "")
             + (" + replica killed" if args.kill_replica_at is not None else "")
             + (" + PostgreSQL restarted" if args.restart_postgres_at is not None else ""))
    plans.append((label, args.flood_rate if args.flood else 0.0, args.kill_worker_at))
    rows, failed, db = [], False, server.db
    for label, flood_rate, kill_at in plans:
        before = db_max_id(db) if db else None
        phase = Phase(label, "steady", args.steady, seconds=args.seconds, drawings=drawings,
                      flood_rate=flood_rate, kill_at=kill_at, server_pid=server.pid,
                      replica_kill_at=args.kill_replica_at, postgres_restart_at=args.restart_postgres_at,
                      postgres_down=args.postgres_down)
        run = run_phase(server.url, phase, server, db, talk_id)
        if db:
            run.db = db_check(db, talk_id, before, phase)
            failed |= not run.db["ok"]
        rows.append(report_steady(run, label))
        hall_balancer.report(phase, say)
        failed |= bool(phase.flood.get(200))
        if not args.no_locust_stats:
            locust_stats(run.env)
        if len(plans) > 1 and label == "steady alone":
            gevent.sleep(2)
    if args.compare:
        alone, flooded = rows[-2], rows[-1]
        say(f"\nsteady phones' Send → answer p95: {alone['p95']:.3f} s alone, {flooded['p95']:.3f} s with "
            f"{args.flood_rate:.0f} forged Sends/s (p50 {alone['p50']:.3f} → {flooded['p50']:.3f} s)")
    return rows, failed


def main(args) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    signal.signal(signal.SIGALRM, hard_deadline)
    signal.alarm(int(budget(args)))
    say(f"hall_load: hard deadline in {budget(args):.0f} s")
    t = time.perf_counter()
    drawings, skipped = phone_drawings(args.digits, SEED, audience.SEND_CANVAS)
    say(f"drawings: {len(drawings)} distinct MNIST test digits redrawn on a {audience.SEND_CANVAS} px canvas in "
        f"{time.perf_counter() - t:.1f} s ({skipped} skipped as no digit); PNG data URLs "
        f"{spread([len(d.png) for d in drawings], 'bytes', 1, 0)}")
    server = None
    try:
        server = server_for(args)
        if server is None:
            return 2
        try:
            talk_id = warm(server, drawings)
        except (RuntimeError, gevent.Timeout) as exc:
            say(f"warm-up failed (is the server in talk mode?): {exc}")
            return 2
        rows, failed = [], False
        if args.storm is not None:
            row, failed = storm(args, server, drawings)
            rows.append(row)
        if args.steady is not None:
            steady_rows, steady_failed = steady(args, server, talk_id, drawings)
            rows += steady_rows
            failed |= steady_failed
        final_table(rows)
        if failed:
            say("\nA CHECK FAILED (see above).")
        return 1 if failed else 0
    finally:
        if server is not None and server.process is not None:
            harness.stop_server(server)
        hall_balancer.stop()
        signal.alarm(0)


if __name__ == "__main__":
    sys.exit(main(ARGS))
