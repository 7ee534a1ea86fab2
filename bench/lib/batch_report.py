#!/usr/bin/env python3
"""Turns the JSON lines written by batch_memory.sh into bench/results/batch-memory.md.

  batch_report.py RESULTS.jsonl > batch-memory.md

Records: {"kind":"meta",...}, {"kind":"wrk","server","scenario" (get-alone | batch | get),
...wrk figures}, {"kind":"server","server","idle_rss_mb","peak_rss_mb",...}.
"""
import json
import sys

PEAK_RSS_TARGET_MB = 512
GET_P99_TARGET_MS = 50


def fmt(value, digits=0):
    if value is None:
        return "n/a"
    return f"{value:,.{digits}f}"


def main():
    records = [json.loads(line) for line in open(sys.argv[1]) if line.strip()]
    meta = {}
    wrk = {}
    servers = []
    for r in records:
        if r["kind"] == "meta":
            meta.update({k: v for k, v in r.items() if k != "kind"})
        elif r["kind"] == "wrk":
            wrk[(r["server"], r["scenario"])] = r
        elif r["kind"] == "server":
            servers.append(r)

    out = []
    w = out.append
    w("# $batch memory under load")
    w("")
    w(f"{meta['date']}, commit `{meta['commit']}`{' (with uncommitted changes)' if meta['dirty'] else ''}, "
      f"{meta['cpus']} CPUs, {meta['mem']}, {meta['kernel']}, load average before the run {meta['loadavg']}. "
      f"Arguments: `{meta['args'] or '(none)'}`.")
    w("")
    w(f"{meta['profiles']:,} profiles (`bench/lib/gen_profiles.py`, loaded with `graphsec import`), one "
      f"server at a time on the same data directory, started with `--auth off --rate-limit 0` on 127.0.0.1. "
      f"For {meta['duration']} s, `wrk -t{meta['threads']} -c<batch clients>` (`bench/wrk/batch.lua`) sends "
      f"`POST /beta/$batch` with {meta['items']} x `GET /security/userSecurityProfiles?$top={meta['top']}` "
      f"while one more connection (`wrk -t1 -c1`, `bench/wrk/scenario.lua`) reads profiles by id at random. "
      f"Peak RSS is the server's `VmHWM` after the load; \"GET alone\" is the same GET client for "
      f"{meta['get_alone']} s on the idle server just before. After the load one batch is checked: every "
      f"item must be a full page.")
    w("")
    w("| server | batch clients | idle RSS MiB | peak RSS MiB | batches | batches/s | batch p50 s | batch max s | MB per answer "
      "| GET alone p99 ms | GET req/s | GET p50 ms | GET p99 ms | GET max ms | errors (batch / GET) |")
    w("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    for s in servers:
        name = s["server"]
        b = wrk.get((name, "batch"), {})
        g = wrk.get((name, "get"), {})
        alone = wrk.get((name, "get-alone"), {})
        mb_per = b.get("bytes", 0) / b["requests"] / 1e6 if b.get("requests") else None

        def errors(r):
            return sum(r.get(k, 0) for k in ("bad_status", "connect_err", "read_err", "write_err", "timeouts"))

        w(f"| {name} | {s.get('clients', meta['clients'])} | {fmt(s['idle_rss_mb'])} | **{fmt(s['peak_rss_mb'])}** | {fmt(b.get('requests'))} "
          f"| {fmt(b.get('rps'), 2)} | {fmt(b.get('p50_ms', 0) / 1000, 2)} | {fmt(b.get('max_ms', 0) / 1000, 2)} "
          f"| {fmt(mb_per, 1)} | {fmt(alone.get('p99_ms'), 2)} | {fmt(g.get('rps'))} | {fmt(g.get('p50_ms'), 2)} "
          f"| **{fmt(g.get('p99_ms'), 2)}** | {fmt(g.get('max_ms'), 1)} | {errors(b)} / {errors(g)} |")
    w("")
    w("Check batch right after the load:")
    w("")
    for s in servers:
        if s.get("check_error"):
            w(f"- {s['server']}: failed after {s['check_seconds']:.2f} s: `{s['check_error']}`.")
            continue
        w(f"- {s['server']}: {s['check_full_items']} of {meta['items']} items full pages, "
          f"{s['check_bytes'] / 1e6:.1f} MB in {s['check_seconds']:.2f} s.")
    w("")
    main_rows = [s for s in servers if s.get("clients", meta["clients"]) == meta["clients"]]
    last = main_rows[-1] if main_rows else None
    if last:
        g = wrk.get((last["server"], "get"), {})
        peak_ok = last["peak_rss_mb"] < PEAK_RSS_TARGET_MB
        p99_ok = g.get("p99_ms", float("inf")) < GET_P99_TARGET_MS
        w(f"Targets for {last['server']}: peak RSS under {PEAK_RSS_TARGET_MB} MiB: "
          f"**{'met' if peak_ok else 'missed'}** ({fmt(last['peak_rss_mb'])} MiB); concurrent GET p99 under "
          f"{GET_P99_TARGET_MS} ms: **{'met' if p99_ok else 'missed'}** ({fmt(g.get('p99_ms'), 2)} ms).")
        w("")
    w("wrk's own output is in `batch-memory-raw.log` next to this file, the records in `batch-memory.jsonl`.")
    print("\n".join(out))


if __name__ == "__main__":
    sys.exit(main())
