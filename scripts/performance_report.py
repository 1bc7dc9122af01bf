"""Turns the benchmark output in DIR into docs/performance.md (printed on stdout)."""

import datetime
import json
import os
import platform
import re
import subprocess
import sys

out = sys.argv[1]
text = open(os.path.join(out, "criterion.txt"), encoding="utf-8").read()

UNITS = {"ns": 1e-3, "µs": 1.0, "us": 1.0, "ms": 1e3, "s": 1e6}


def to_us(value, unit):
    return float(value) * UNITS[unit]


# criterion: "name\n   time:   [low unit mid unit high unit]" (name may share the line).
medians = {}
for match in re.finditer(r"^(\S+)\s*\n?\s*time:\s+\[([\d.]+) (\S+) ([\d.]+) (\S+) ([\d.]+) (\S+)\]", text, re.M):
    medians[match.group(1)] = to_us(match.group(4), match.group(5))
percentiles = {
    m.group(1): (float(m.group(2)), float(m.group(3)))
    for m in re.finditer(r"PERCENTILES (\S+): p50 ([\d.]+) us, p99 ([\d.]+) us", text)
}


def cpu():
    for line in open("/proc/cpuinfo", encoding="utf-8"):
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def mem_gib():
    for line in open("/proc/meminfo", encoding="utf-8"):
        if line.startswith("MemTotal"):
            return int(line.split()[1]) / 1024 / 1024
    return 0


rustc = subprocess.run(["rustc", "--version"], capture_output=True, text=True).stdout.strip()


def row(name, target, value, unit="µs", ok=None):
    if value is None:
        return f"| {name} | {target} | not measured | |"
    verdict = "" if ok is None else ("PASS" if ok else "MISS")
    return f"| {name} | {target} | {value:,.2f} {unit} | {verdict} |"


def med(key):
    return medians.get(key)


trivial = med("sandbox/trivial_run")
sync_calls = med("sandbox/sync_host_calls_1000")
awaited = med("sandbox/awaited_host_calls_1000")
denied = med("sandbox/denied_host_calls_1000")
parallel = med("sandbox/parallel_trivial_runs_64")
p_trivial = percentiles.get("trivial_run")
p_inst = percentiles.get("instantiate")
p_gate = percentiles.get("decide_50_rules_http_allowed_last")

lines = [
    "# Performance",
    "",
    "Measured by `just bench` (`scripts/bench.sh`): criterion benches in `host/benches/`,",
    "release build, plus p50/p99 over 2,000 single runs for the headline numbers.",
    "Runs vary by about ±10% on this machine; targets are from the issues.",
    "",
    f"- Date: {datetime.date.today().isoformat()}",
    f"- Machine: {os.cpu_count()} cores, {cpu()}, {mem_gib():.0f} GiB RAM, Linux {platform.release()}",
    f"- Toolchain: {rustc}",
    "",
    "## Sandbox",
    "",
    "| benchmark | target | measured | |",
    "|---|---|---|---|",
    row("fresh instantiate alone, p50", "—", p_inst and p_inst[0]),
    row("fresh instantiate alone, p99", "—", p_inst and p_inst[1]),
    row("instantiate + `return 1+1` + drop, p50", "≤ 100 µs", p_trivial and p_trivial[0], ok=p_trivial and p_trivial[0] <= 100),
    row("instantiate + `return 1+1` + drop, p99", "≤ 400 µs", p_trivial and p_trivial[1], ok=p_trivial and p_trivial[1] <= 400),
    row("instantiate + `return 1+1` + drop, criterion mean", "—", trivial),
    row("1,000 sync host calls (`log.writeSync`, allowed) in one run", "—", sync_calls and sync_calls / 1000, unit="ms"),
    row("one sync host call, gated (derived)", "≤ 4 µs",
        sync_calls and trivial and (sync_calls - trivial) / 1000, ok=sync_calls and trivial and (sync_calls - trivial) / 1000 <= 4),
    row("one sync host call, gated and audited (JSONL + database index) (derived)", "—",
        med("sandbox/sync_host_calls_1000_audited") and trivial and (med("sandbox/sync_host_calls_1000_audited") - trivial) / 1000),
    row("one awaited host call, gated (derived)", "≤ 5 µs", awaited and trivial and (awaited - trivial) / 1000,
        ok=bool(awaited and trivial) and (awaited - trivial) / 1000 <= 5),
    row("one denied host call caught in JS (derived)", "—", denied and trivial and (denied - trivial) / 1000),
    row("64 concurrent trivial runs", "—", parallel and parallel / 1000, unit="ms"),
    row("throughput, fresh runs per second (64 concurrent)", "—", parallel and 64 / (parallel / 1e6), unit="runs/s"),
    "",
    "## Gate",
    "",
    "| benchmark | target | measured | |",
    "|---|---|---|---|",
    row("decision, 50-rule policy, http call allowed by the last rule, p50", "≤ 2 µs", p_gate and p_gate[0], ok=p_gate and p_gate[0] <= 2),
    row("decision, 50-rule policy, http call allowed by the last rule, p99", "—", p_gate and p_gate[1]),
    row("decision, 50-rule policy, http call no rule allows (default deny), p50", "≤ 2 µs",
        percentiles.get("decide_50_rules_http_default_deny") and percentiles["decide_50_rules_http_default_deny"][0],
        ok=percentiles.get("decide_50_rules_http_default_deny") is not None and percentiles["decide_50_rules_http_default_deny"][0] <= 2),
    row("decision, 50-rule policy, fs call allowed", "≤ 2 µs", med("gate/decide_50_rules_fs_allowed"),
        ok=med("gate/decide_50_rules_fs_allowed") is not None and med("gate/decide_50_rules_fs_allowed") <= 2),
    row("decision, 50-rule policy, fs call denied", "≤ 2 µs", med("gate/decide_50_rules_fs_denied"),
        ok=med("gate/decide_50_rules_fs_denied") is not None and med("gate/decide_50_rules_fs_denied") <= 2),
    row("grant fingerprint (SHA-256 of canonical scope)", "—", med("gate/fingerprint")),
]

fetch_1 = med("http/guest_gate_fetch_1")
fetch_10 = med("http/guest_gate_fetch_10")
http_trivial = med("http/guest_trivial_run")
direct = med("http/direct_reqwest")
per_fetch = fetch_1 and fetch_10 and (fetch_10 - fetch_1) / 9
lines += [
    "",
    "## http.fetch through guest + gate vs reqwest directly",
    "",
    "A loopback HTTP/1.1 server with keep-alive answers a 17-byte JSON body; both sides",
    "reuse their connection (`host/benches/http_fetch.rs`).",
    "",
    "| benchmark | target | measured | |",
    "|---|---|---|---|",
    row("run with one `await http.fetch` (instantiate + gate + tool + request)", "—", fetch_1),
    row("run with ten `await http.fetch`", "—", fetch_10),
    row("trivial run in the same process, for reference", "—", http_trivial),
    row("one request, reqwest directly", "—", direct),
    row("one fetch inside a run (derived: (10 − 1) / 9)", "—", per_fetch),
    row("ratio: one fetch inside a run / reqwest directly", "—", per_fetch and direct and per_fetch / direct, unit="×"),
    row("ratio: whole one-fetch run / reqwest directly", "—", fetch_1 and direct and fetch_1 / direct, unit="×"),
]

tool_trivial = med("tools/trivial_run")
tool_1 = med("tools/run_with_1_tool_call")
tool_100 = med("tools/run_with_100_tool_calls")
tool_js = med("tools/run_with_1_js_tool_call")
tool_py = med("tools/run_with_1_python_tool_call")
lines += [
    "",
    "## Tool components (host/benches/tool_call.rs)",
    "",
    "A script calls an example tool through the gate: each call is a fresh instance of the",
    "tool from its snapshot, the arguments and result converted JSON ⇄ WIT, and the gate's",
    "decision. The Rust tool is 98 KB, the JavaScript one 1.2 MB (QuickJS pre-initialised",
    "with its source), the Python one 18 MB (CPython's snapshot).",
    "",
    "| benchmark | target | measured | |",
    "|---|---|---|---|",
    row("trivial run in the same process, for reference", "—", tool_trivial),
    row("run with one Rust tool call (`textkit.slugify`)", "—", tool_1),
    row("one Rust tool call (derived: run − trivial)", "—", tool_1 and tool_trivial and tool_1 - tool_trivial),
    row("run with 100 Rust tool calls", "—", tool_100 and tool_100 / 1000, unit="ms"),
    row("one Rust tool call among 100 (derived)", "—", tool_100 and tool_trivial and (tool_100 - tool_trivial) / 100),
    row("run with one JavaScript tool call (`mdkit.headings`)", "—", tool_js),
    row("run with one Python tool call (`csvstats.summarize`)", "—", tool_py and tool_py / 1000, unit="ms"),
]

load = {}
load_path = os.path.join(out, "load.txt")
if os.path.exists(load_path):
    for match in re.finditer(r"^LOAD (\S+) ([\d.]+) (\S+)", open(load_path, encoding="utf-8").read(), re.M):
        load[match.group(1)] = float(match.group(2))
if load:
    per_instance = load.get("rss_per_live_instance")
    runs_s = load.get("throughput")
    lines += [
        "",
        "## Load and soak",
        "",
        "`host/benches/load.rs`: 1,000 runs at once, each waiting 1.5 s in a host call (so all",
        "are live together); fresh trivial runs with 64 in flight; 100,000 sequential runs.",
        "",
        "| benchmark | target | measured | |",
        "|---|---|---|---|",
        row("1,000 concurrent runs completed", "1,000", load.get("concurrent_1000_ok"), unit="runs",
            ok=load.get("concurrent_1000_ok") == 1000),
        row("… wall time for all 1,000", "—", load.get("concurrent_1000_elapsed"), unit="ms"),
        row("RSS per live instance", "≤ 300 KiB", per_instance, unit="KiB", ok=per_instance is not None and per_instance <= 300),
        row("throughput, fresh runs per second (2 cores)", "≥ 5,000", runs_s, unit="runs/s", ok=runs_s is not None and runs_s >= 5000),
        row("soak: RSS after 1,000 runs", "flat", load.get("soak_rss_start"), unit="KiB"),
        row("soak: RSS after 50,000 runs", "flat", load.get("soak_rss_middle"), unit="KiB"),
        row("soak: RSS after 100,000 runs", "flat", load.get("soak_rss_end"), unit="KiB",
            ok=load.get("soak_rss_end") is not None and load["soak_rss_end"] <= load["soak_rss_start"] * 1.05 + 1024),
    ]

clam_start_path = os.path.join(out, "clam_start.txt")
if os.path.exists(clam_start_path):
    rows = {}
    for line in open(clam_start_path, encoding="utf-8"):
        m = re.match(r"CLAMSTART (.+?)\s+(source|bytecode)\s+median\s+([\d.]+) µs\s+p99\s+([\d.]+) µs", line)
        if m:
            rows.setdefault(m.group(1).strip(), {})[m.group(2)] = (float(m.group(3)), float(m.group(4)))
    lines += [
        "",
        "## Saved clams start faster (host/benches/clam_start.rs)",
        "",
        "A saved clam runs from QuickJS bytecode compiled once by the guest and cached",
        "(`$CLAMBOT_HOME/cache/bytecode/`, keyed by guest build and script hash); a new",
        "script is parsed and compiled on every run. Fresh instance per run, median / p99 µs.",
        "",
        "| script | from source | from bytecode | speed-up |",
        "|---|---|---|---|",
    ]
    for name, r in rows.items():
        if "source" in r and "bytecode" in r:
            (s50, s99), (b50, b99) = r["source"], r["bytecode"]
            lines.append(f"| {name} | {s50:.1f} / {s99:.1f} | {b50:.1f} / {b99:.1f} | {s50 / b50:.1f}× |")

compare_path = os.path.join(out, "compare.json")
if os.path.exists(compare_path):
    compare = json.load(open(compare_path, encoding="utf-8"))
    results = compare.get("results", {})
    runtimes = [r for r in ("clambot_inprocess", "clambot_process", "node_process", "amla_inprocess")
                if r in results]
    workloads = sorted({w for r in runtimes for w in results[r]})
    lines += [
        "",
        "## Side by side (scripts/compare.py)",
        "",
        "Median / p99 in ms for the same scripts, each runtime as a user would run it:",
        "clambot in-process (a fresh sandbox instance per run, through the gate;",
        "host/benches/compare.rs), `clambot run` as a whole process, a fresh `node`",
        "process, and amla-sandbox in one Python process. The last column is",
        "node's median over clambot in-process.",
        f"Machine: {compare.get('machine', {})}.",
        "",
        "| workload | " + " | ".join(runtimes) + " | node ÷ clambot in-process |",
        "|---|" + "---|" * (len(runtimes) + 1),
    ]
    for w in workloads:
        cells = []
        for r in runtimes:
            x = results[r].get(w, {})
            if "median_ms" in x:
                mark = "" if x.get("ok", True) else " (wrong result)"
                cells.append(f"{x['median_ms']:.3f} / {x.get('p99_ms', 0):.3f}{mark}")
            else:
                cells.append(str(x.get("error", x.get("note", "—")))[:60])
        inproc = results.get("clambot_inprocess", {}).get(w, {}).get("median_ms")
        node = results.get("node_process", {}).get(w, {}).get("median_ms")
        ratio = f"{node / inproc:.2f}" if inproc and node else "—"
        lines.append(f"| {w} | " + " | ".join(cells) + f" | {ratio} |")

process = os.path.join(out, "process.json")
if os.path.exists(process):
    result = json.load(open(process, encoding="utf-8"))["results"][0]
    times = sorted(result["times"])
    p50 = times[len(times) // 2] * 1e3
    lines += [
        "",
        "## Whole process",
        "",
        "| benchmark | target | measured | |",
        "|---|---|---|---|",
        row("`clambot run clams/hello/clam.js`, warm cache, median of 50", "≤ 15 ms", p50, unit="ms", ok=p50 <= 15),
    ]

lines += [
    "",
    "## What the numbers rest on",
    "",
    "- The guest is pre-initialised at build time (QuickJS runtime and prelude in the",
    "  snapshot), instantiated from an `InstancePre` with the pooling allocator and",
    "  copy-on-write memory images.",
    "- A finished run's memory slot is reset by rewriting only the pages it dirtied",
    "  (`PAGEMAP_SCAN`, Linux 6.7+), keeping up to 1 MiB resident per slot: page faults",
    "  and unmapping were over half of a trivial run before (168 µs → 60 µs). The price",
    "  is up to 1 MiB of RSS per warm, idle slot.",
    "- The gate looks only at the rules naming the call's function (an index built at",
    "  load), in one pass; it matches every rule's path globs in one `GlobSet` pass per",
    "  path and parses a request URL once per call (2.35 µs → 1.2 µs for the 50-rule",
    "  decision; default deny 2.3 µs → 1.4 µs).",
    "- The audit index rows of a run are written in one SQLite transaction at its end",
    "  (the JSONL line is still written as each call happens): a transaction per call",
    "  made an audited host call 43 µs; batched it is about 13 µs.",
    "- `GateSetup::deny_all` (used by the instantiate probe) keeps grants in memory; it",
    "  briefly opened an in-memory SQLite database and instantiate-alone went from 20 µs",
    "  to 790 µs until the benchmark caught it.",
    "- Saved clams run from QuickJS bytecode compiled once by the guest (`compile` /",
    "  `run-compiled` exports, global code through QuickJS's C API so semantics and error",
    "  positions match a source run): parsing a 3 KB script was ~350 µs of its ~490 µs.",
    "- Host functions in the JS prelude pass arguments with `apply` instead of rest and",
    "  spread: no array per call; a gated sync call 3.2 → 2.4 µs, awaited 5.1 → 4.3 µs.",
    "- Tried and not taken: the guest at opt-level 3 (5–7% on the string and JSON",
    "  workloads for a 26% larger component). QuickJS in the guest is 2.5–3× slower than",
    "  node on those (an interpreter against a JIT) and within 0.75–1.05× of amla-sandbox's",
    "  QuickJS; a perf profile of string_loop is flat inside the guest's own code.",
]
if per_instance is not None and per_instance > 300:
    lines.append(
        f"- RSS per live instance ({per_instance:.0f} KiB) misses the 300 KiB target by "
        f"{(per_instance / 300 - 1) * 100:.0f}%: each waiting run holds the guest pages it "
        "touched (QuickJS's heap for the run) and its async fiber stack. How that "
        "splits between the two is not measured yet; that is the next step."
    )
lines.append("")
print("\n".join(lines))
