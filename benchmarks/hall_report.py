"""What benchmarks/hall_load.py prints: each phase's figures (storm, steady with its flood, its
killed worker, the presenter's wall and the database cross-check), Locust's own tables, and the
summary table. No Locust import: its Environment's stats are read as plain attributes."""

from __future__ import annotations

import sys
import time
from collections import Counter

from hall_phase import EVERY, JITTER, RAMP, Phase, Run
from harness import ROOT, percentile, spread, table

sys.path.insert(0, str(ROOT))
from mnist_core.talk import crowd  # noqa: E402


def say(*parts) -> None:
    print(*parts, flush=True)


def status_text(counter: Counter) -> str:
    return ", ".join(f"{k}: {v}" for k, v in sorted(counter.items(), key=lambda kv: (-kv[1], str(kv[0])))) or "—"


def cores(run: Run) -> str:
    own = f"this client {run.client_cpu:.1f} s = {run.client_cpu / run.wall_s:.2f} cores"
    if run.server_cpu is None:
        return f"server CPU: unknown (no pid); {own}"
    return (f"server CPU (process + judging workers): {run.server_cpu:.1f} s over {run.wall_s:.1f} s = "
            f"{run.server_cpu / run.wall_s:.2f} cores; {own}")


def report_storm(run: Run, refs: dict, page_size: tuple[int, int]) -> dict:
    phase = run.phase
    joins = phase.joins
    ok = [j for j in joins if j.ok]
    pages = [j for j in joins if j.page_status == 200]
    say(f"\n== storm: {phase.phones} phones open /join within {RAMP:.0f} s (spawn rate {phase.phones / RAMP:.0f}/s) ==")
    plain, gz = page_size
    say(f"the page: {plain:,} bytes, {gz:,} as gzip; references that make a browser fetch more: "
        f"{len(refs['requesting'])} ({len(refs['found'])} src/href/url() found"
        + (": " + ", ".join(f"<{t} {a}={v[:30]!r}>" for t, a, v in refs["found"]) if refs["found"] else "")
        + f"); its script fetches {', '.join(refs['script_paths']) or 'nothing'}")
    for t, a, v in refs["requesting"]:
        say(f"  WOULD FETCH: <{t} {a}={v!r}>")
    failures = Counter()
    for j in joins:
        if j.page_status != 200:
            failures[f"page {j.page_status}"] += 1
        elif j.token_status != 200:
            failures[f"token {j.token_status}"] += 1
    say(f"phones that started: {len(joins)} of {phase.phones}; pages served: {len(pages)}; joined (page + token): "
        f"{len(ok)}; failures: {sum(failures.values())} ({status_text(failures)})")
    say(f"responses: {status_text(Counter({f'{k[0]} {k[1]}': v for k, v in phase.statuses.items()}))}")
    say(f"page + token p50 / p95 / max: {spread([j.total_s for j in ok])}  "
        f"(page {spread([j.page_s for j in pages])}; token {spread([j.token_s for j in ok])})")
    tokens_retried = sum(1 for j in joins if j.token_attempts > 1)
    if tokens_retried:
        say(f"token needed more than one request: {tokens_retried} phones")
    wire = [j.page_wire + j.token_wire for j in ok]
    encodings = Counter(j.page_encoding or "identity" for j in pages)
    if wire:
        j = ok[0]
        say(f"bytes per phone received (Accept-Encoding: gzip): {percentile(wire, 50):,.0f} (page {j.page_wire:,} "
            f"with headers, {status_text(encodings)}; token {j.token_wire:,} with headers; the page decoded "
            f"{j.page_plain:,})")
    say(cores(run))
    return {"scenario": f"storm {phase.phones}", "phones": phase.phones, "ok": len(ok), "fail": sum(failures.values()),
            "p50": percentile([j.total_s for j in ok], 50), "p95": percentile([j.total_s for j in ok], 95),
            "max": percentile([j.total_s for j in ok], 100), "bytes": percentile(wire, 50) if wire else None,
            "server_cores": None if run.server_cpu is None else run.server_cpu / run.wall_s}


def report_steady(run: Run, label: str) -> dict:
    """Print a steady phase's figures; its row of the summary table."""
    phase = run.phase
    sends = phase.sends
    acked = [s for s in sends if s.outcome == "ok"]
    times = [s.seconds for s in acked]
    outcomes = Counter(s.outcome for s in sends)
    retried = [s for s in sends if len(s.statuses) > 1]
    first = min((s.started for s in sends), default=phase.t0)
    last = max((s.ended for s in acked), default=first)
    rate = len({s.digit_id for s in acked}) / (last - first) if last > first else float("nan")
    say(f"\n== {label}: {phase.phones} phones × {phase.seconds:.0f} s, a digit every {EVERY:.0f} ± {JITTER:.0f} s"
        + (f", + forged Sends at {phase.flood_rate:.0f}/s" if phase.flood_rate else "")
        + (f", one judging worker killed at {phase.kill_at:.0f} s" if phase.kill_at is not None else "") + " ==")
    say_joins(phase)
    say(f"Sends: {len(sends)} started, {len(acked)} acknowledged ({len({s.digit_id for s in acked})} distinct digit ids); "
        f"outcomes: {status_text(outcomes)}")
    say(f"Send → answer p50 / p95 / max: {spread(times)} (first attempt to final answer, retries included)")
    say(f"Sends that needed more than one request: {len(retried)} (what came back before the last: "
        f"{status_text(Counter(str(st) for s in sends for st in s.statuses[:-1]))}); answers marked retry "
        f"(first attempt already stored): {sum(1 for s in acked if s.retry_answer)}")
    say(f"phone responses by endpoint and status: {status_text(Counter({f'{k[0]} {k[1]}': v for k, v in phase.statuses.items()}))}")
    say(f"digits/s served: {rate:.1f} (distinct acknowledged digits from the first Send to the last answer, "
        f"{last - first:.1f} s); offered: {len(sends) / max(1e-9, phase.seconds):.1f} Sends/s")
    say(cores(run))
    row = {"scenario": label, "phones": phase.phones, "sends": len(sends), "acked": len(acked),
           "p50": percentile(times, 50), "p95": percentile(times, 95), "max": percentile(times, 100),
           "retried": len(retried), "gave_up": outcomes.get("gave up", 0) + outcomes.get("cut off", 0),
           "errors": len(sends) - len(acked), "rate": rate,
           "server_cores": None if run.server_cpu is None else run.server_cpu / run.wall_s}
    if run.wall:
        row["wall_p95"] = report_wall(run.wall)
    if run.db is not None:
        row["db"] = report_db(run.db)
    if phase.flood_rate:
        row["flood_accepted"] = report_flood(phase)
    if phase.kill_at is not None:
        report_kill(phase, run.db)
    return row


def say_joins(phase: Phase) -> None:
    joins_ok = sum(1 for j in phase.joins if j.ok)
    failures = Counter(str(j.page_status if j.page_status != 200 else j.token_status) for j in phase.joins if not j.ok)
    say(f"phones joined: {joins_ok} of {phase.phones}"
        + (f" (join failures: {status_text(failures)})" if joins_ok < len(phase.joins) else "")
        + (f"; {phase.token_swaps} phones handed on after {crowd.MAX_DIGITS_PER_PERSON} digits (new token)" if phase.token_swaps else ""))


def report_wall(wall: list[dict]) -> float:
    """The presenter's wall reads timed meanwhile; their p95 per refresh."""
    down = [s["t"] for s in wall if s.get("unavailable")]
    wall = [s for s in wall if not s.get("unavailable")]
    if down:
        say(f"presenter's wall: the database did not answer in {len(down)} refreshes "
            f"(from {min(down):.0f} s to {max(down):.0f} s); the Talk page says so and goes on")
    if not wall:
        return float("nan")
    per = {k: [s[k] for s in wall] for k in ("count_s", "latest_s", "scoreboard_s")}
    refresh = [s["count_s"] + s["latest_s"] + s["scoreboard_s"] for s in wall]
    say(f"presenter's wall reads, {len(wall)} samples once a second (in their own process), p50 / p95 / max: "
        f"count {spread(per['count_s'], 'ms', 1000, 1)}; latest 18 {spread(per['latest_s'], 'ms', 1000, 1)}; "
        f"scoreboard {spread(per['scoreboard_s'], 'ms', 1000, 1)}; one refresh {spread(refresh, 'ms', 1000, 1)} "
        f"({'meets' if percentile(refresh, 95) <= 0.1 else 'MISSES'} the ≤ 100 ms goal; the talk held "
        f"{wall[0]['count']} → {wall[-1]['count']} digits)")
    return percentile(refresh, 95)


def report_db(d: dict) -> str:
    """The database cross-check (hall_phase.db_check); "OK" or "FAILED"."""
    verdict = "OK" if d["ok"] else "FAILED"
    say(f"database cross-check ({verdict}): rows of these phones {d['rows']} = acknowledged distinct digit ids "
        f"{d['acked_ids']}: {'yes' if d['rows'] == d['acked_ids'] and not d['missing_n'] else 'NO'}; acknowledged "
        f"but not stored: {d['missing_n']}{' ' + str(d['missing']) if d['missing_n'] else ''}; stored but never "
        f"acknowledged: {d['unacked_n']}; stored row ≠ the phone's Send (person, send id, label): {d['mismatched']}; "
        f"send id stored twice: {d['dup_pairs']} (person, send id) pairs, {d['dup_send_ids']} send ids; one Send "
        f"answered with two digit ids: {d['ids_per_send_gt1']}"
        + (f"; rows of other people meanwhile: {d['other_rows']}" if d["other_rows"] else ""))
    return verdict


def report_flood(phase: Phase) -> int:
    """The forged Sends; how many were accepted (must be 0)."""
    span = (phase.flood_ended or time.perf_counter()) - phase.flood_started
    accepted = phase.flood.get(200, 0)
    say(f"flood: {phase.flood_sent} forged Sends in {span:.1f} s = {phase.flood_sent / max(1e-9, span):.0f}/s "
        f"(asked {phase.flood_rate:.0f}/s); accepted: {accepted} ({'OK' if not accepted else 'FAILED: must be 0'}); "
        f"statuses: {status_text(phase.flood)}; their time p50 / p95 / max {spread(phase.flood_times, 'ms', 1000, 1)}")
    return accepted


def report_kill(phase: Phase, db: dict | None) -> None:
    k = phase.kill
    if "error" in k:
        say(f"kill: {k['error']}")
        return
    say(f"kill: SIGKILL worker {k['pid']} at {k['at']:.2f} s (workers {k['workers_before']}; {k['in_flight']} "
        f"Sends in flight, as the phones see it, after waiting {k['waited']:.2f} s for one); new workers {k.get('new_workers', 'not seen')}"
        + (f" {k['new_after']:.1f} s later" if "new_after" in k else "")
        + (f"; first answer to a Send started after the kill: {k['first_new_answer_after']:.1f} s later"
           if "first_new_answer_after" in k else ""))
    around = [s for s in phase.sends if s.started <= phase.t0 + k["at"] + 1 and (s.ended or 1e18) >= phase.t0 + k["at"]]
    say(f"  Sends in flight around the kill: {len(around)}, of which acknowledged {sum(1 for s in around if s.outcome == 'ok')}, "
        f"with a retry {sum(1 for s in around if len(s.statuses) > 1)}, gave up {sum(1 for s in around if s.outcome in ('gave up', 'cut off'))}; "
        f"their Send → answer {spread([s.seconds for s in around if s.outcome == 'ok'])}")
    if db is not None:
        say(f"  every acknowledged digit in the database exactly once: {'yes' if db['ok'] else 'NO'}")


def locust_stats(env) -> None:
    """Locust's own table of requests (a locust.env.Environment's stats) and its most frequent errors."""
    rows = []
    for entry in sorted(env.stats.entries.values(), key=lambda e: e.name):
        if not entry.num_requests:
            continue
        rows.append([entry.name, entry.num_requests, entry.num_failures, f"{entry.get_response_time_percentile(0.5):.0f}",
                     f"{entry.get_response_time_percentile(0.95):.0f}", f"{entry.max_response_time:.0f}",
                     f"{entry.avg_content_length:,.0f}"])
    say(table(["Locust: request", "n", "fail", "p50 ms", "p95 ms", "max ms", "avg bytes"], rows))
    errors = sorted(env.stats.errors.values(), key=lambda e: -e.occurrences)[:8]
    for e in errors:
        say(f"  {e.occurrences:6d} × {e.method} {e.name}: {str(e.error)[:100]}")


def final_table(rows: list[dict]) -> None:
    def f(v, fmt):
        return "—" if v is None or (isinstance(v, float) and v != v) else format(v, fmt)

    out = []
    for r in rows:
        if r["scenario"].startswith("storm"):
            out.append([r["scenario"], r["phones"], f"{r['ok']} joined", r["fail"], f(r["p50"], ".3f"), f(r["p95"], ".3f"),
                        f(r["max"], ".3f"), "—", "—", f(r["server_cores"], ".2f"), "—",
                        f"{f(r['bytes'], ',.0f')} B/phone"])
        else:
            extra = []
            if "flood_accepted" in r:
                extra.append(f"forged accepted {r['flood_accepted']}")
            if "db" in r:
                extra.append(f"db {r['db']}")
            out.append([r["scenario"], r["phones"], f"{r['acked']}/{r['sends']}", r["errors"], f(r["p50"], ".3f"),
                        f(r["p95"], ".3f"), f(r["max"], ".3f"), f"{r['retried']}/{r['gave_up']}", f(r["rate"], ".1f"),
                        f(r["server_cores"], ".2f"), f(r.get("wall_p95"), ".4f"), "; ".join(extra) or "—"])
    say("\n" + table(["scenario", "phones", "ok", "errors", "p50 s", "p95 s", "max s", "retried/gave up", "digits/s",
                      "server cores", "wall p95 s", "checks"], out, title="== summary =="))

