#!/usr/bin/env python3
"""Records and reports bench/pg_side_by_side.sh.

  pg_report.py --record graphsec MODE ROUND INSTANCES GS_TICKS PG_TICKS CLK_TCK "WRK A" ["WRK B"]
      prints one JSON line for a graphsec run (the wrk result lines are "key=value ...")
  pg_report.py --report RESULTS.jsonl --scripts DIR --output FILE.md
      writes the Markdown report: medians over the rounds, graphsec / pgbench ratios, one
      instance against two, CPU per request
"""
import argparse
import json
import statistics
import sys
from pathlib import Path

TARGETS = {"get": 0.85, "patch": 0.6, "post": 0.6, "list": 0.6}
LABELS = {
    "get": ("GET by id", "SELECT by key"),
    "patch": ("PATCH (Prefer: return=minimal)", "single-row UPDATE"),
    "post": ("POST (Prefer: return=minimal)", "single-row INSERT"),
    "list": ("$filter=userPrincipalName eq (indexed)", "the same SELECT"),
}


def parse_wrk(line):
    return {k: float(v) for k, v in (pair.split("=") for pair in line.split())}


def record(args):
    mode, rnd, instances, gs_ticks, pg_ticks, clk = args[:6]
    lines = [parse_wrk(line) for line in args[6:] if line.strip()]
    requests = sum(r["requests"] for r in lines)
    rps = sum(r["rps"] for r in lines)
    bad = sum(r["bad_status"] + r["connect_err"] + r["read_err"] + r["write_err"] + r["timeouts"] for r in lines)
    clk = float(clk)
    per_request = lambda ticks: (int(ticks) / clk) / requests * 1e6 if requests else None
    print(json.dumps({
        "kind": "graphsec", "mode": mode, "round": int(rnd), "instances": int(instances), "rps": rps,
        "requests": requests, "errors": bad, "p50_ms": max(r["p50_ms"] for r in lines),
        "p99_ms": max(r["p99_ms"] for r in lines),
        "graphsec_cpu_us": per_request(gs_ticks), "postgres_cpu_us": per_request(pg_ticks),
    }))


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(value, digits=0):
    return "–" if value is None else f"{value:,.{digits}f}"


def report(path, scripts, output):
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    meta = {}
    for r in rows:
        if r["kind"] == "meta":
            meta.update(r)
    gs = [r for r in rows if r["kind"] == "graphsec"]
    pb = [r for r in rows if r["kind"] == "pgbench"]
    out = ["# graphsec on PostgreSQL against PostgreSQL's own limit", ""]
    out.append(
        f"PostgreSQL {meta.get('pg_version')} on 127.0.0.1, settings left at the server's defaults: "
        f"synchronous_commit = {meta.get('synchronous_commit')}, shared_buffers = {meta.get('shared_buffers')}, "
        f"fsync = {meta.get('fsync')}. {meta.get('profiles')} profiles in one tenant; graphsec {meta.get('commit')} "
        f"({meta.get('build')} build, local auth, --rate-limit 0, --log-level warn, --database-pool-size {meta.get('pool_size')}) under wrk with "
        f"{meta.get('connections')} connections; pgbench -M prepared with {meta.get('clients')} clients on the "
        f"same schema. {meta.get('rounds')} interleaved rounds of {meta.get('duration')} s each; medians. "
        f"{meta.get('cores')} cores shared by wrk, graphsec, pgbench and PostgreSQL."
    )
    out.append("")
    out.append(
        f"Load average before: {meta.get('loadavg')}, after: {meta.get('loadavg_after')}. Busiest processes "
        f"before the run: {meta.get('busy_before')}."
    )
    out += ["", "## Side by side", "",
            "| graphsec | req/s | pgbench | tps | ratio | target | rounds (ratio) |", "|---|---:|---|---:|---:|---:|---|"]
    for mode, (left, right) in LABELS.items():
        mine = {r["round"]: r["rps"] for r in gs if r["mode"] == mode and r["instances"] == 1}
        theirs = {r["round"]: r["tps"] for r in pb if r["mode"] == mode}
        if not mine or not theirs:
            continue
        g, p = median(mine.values()), median(theirs.values())
        per_round = ", ".join(f"{mine[k] / theirs[k]:.2f}" for k in sorted(mine) if k in theirs)
        ratio = g / p if g and p else None
        mark = "" if ratio is None else (" ✓" if ratio >= TARGETS[mode] else " ✗")
        out.append(f"| {left} | {fmt(g)} | {right} | {fmt(p)} | {fmt(ratio, 2)}{mark} | {TARGETS[mode]} | {per_round} |")
    out += ["", "## One instance against two", "",
            "The same wrk load, all on one instance or split in half across two instances of the same database.", "",
            "| scenario | instances | req/s | p50 ms | p99 ms | errors | graphsec CPU µs/req | PostgreSQL CPU µs/req |",
            "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for mode in LABELS:
        for n in (1, 2):
            sel = [r for r in gs if r["mode"] == mode and r["instances"] == n]
            if not sel:
                continue
            out.append(
                f"| {LABELS[mode][0]} | {n} | {fmt(median(r['rps'] for r in sel))} | "
                f"{fmt(median(r['p50_ms'] for r in sel), 2)} | {fmt(median(r['p99_ms'] for r in sel), 2)} | "
                f"{sum(int(r['errors']) for r in sel)} | {fmt(median(r['graphsec_cpu_us'] for r in sel))} | "
                f"{fmt(median(r['postgres_cpu_us'] for r in sel))} |"
            )
    out += ["", "CPU per request: user + system time of the graphsec process(es) and of their PostgreSQL backends "
            "(/proc/PID/stat before and after the measured run) divided by the requests wrk completed.", ""]
    out += ["## The statements", ""]
    if meta.get("graphsec_list_sql"):
        out += ["graphsec's list statement, as its backend reported it:", "", "```sql", meta["graphsec_list_sql"].strip(), "```", ""]
    for mode in LABELS:
        script = Path(scripts) / f"{mode}.sql"
        if script.exists():
            text = script.read_text().strip()
            if len(text) > 1500:
                text = text[:1500] + " …"
            out += [f"pgbench, {LABELS[mode][1]} (`{mode}.sql`):", "", "```sql", text, "```", ""]
    Path(output).write_text("\n".join(out) + "\n")
    print("\n".join(out))


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--record", nargs="+")
    p.add_argument("--report")
    p.add_argument("--scripts")
    p.add_argument("--output")
    a = p.parse_args()
    if a.record:
        record(a.record[1:])
    elif a.report:
        report(a.report, a.scripts, a.output)
    else:
        p.error("--record or --report")


if __name__ == "__main__":
    sys.exit(main())
