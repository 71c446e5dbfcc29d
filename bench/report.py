#!/usr/bin/env python3
"""The table of bench/run.sh: reads its raw lines (RESULT from p11_bench,
OSSL from openssl speed -mr, FSYNC from fsync_rate, CPU samples of the
enclave and arcad, LOAD, MACHINE) and prints ops/s, latency and the ratios
of issue 7, with each target marked met / NOT met; --json prints the same
as one JSON object. Asserts nothing: a benchmark, not a test."""
import json
import sys

WORKLOADS = [
    ("ecdsa", "ECDSA P-256 sign"),
    ("rsa", "RSA-2048 PKCS#1 sign"),
    ("ed25519", "Ed25519 sign"),
    ("aesgcm", "AES-256-GCM 4 KiB"),
    ("hmac", "HMAC-SHA-256 64 B"),
    ("ecgen", "EC P-256 keygen (token)"),
]


def parse(path):
    d = {"cells": {}, "openssl": {}, "cpu": {}, "machine": {}, "load": {}, "fsync": None, "loads_during": []}
    clk = 100.0
    begins = {}
    for line in open(path, encoding="utf-8", errors="replace"):
        f = line.split()
        if not f:
            continue
        if f[0] == "RESULT" and len(f) == 10:
            tag, w, t = f[1], f[2], int(f[3])
            d["cells"][(tag, w, t)] = {
                "ops": int(f[4]), "seconds": float(f[5]), "ops_per_s": float(f[6]),
                "p50_us": float(f[7]), "p99_us": float(f[8]), "failed": f[9] != "0"}
        elif f[0] == "OSSL" and len(f) == 3:
            n = int(f[1])
            p = f[2].split(":")
            if p[0] == "F4" and p[2] == "256":
                d["openssl"][("ecdsa", n)] = float(p[3])
            elif p[0] == "F2" and p[2] == "2048":
                d["openssl"][("rsa", n)] = float(p[3])
            elif p[0] == "F6" and p[3] == "Ed25519":
                d["openssl"][("ed25519", n)] = float(p[4])
            elif p[0] == "F" and p[2] == "AES-256-GCM":
                d["openssl"][("aesgcm", n)] = float(p[3]) / 4096.0
        elif f[0] == "FSYNC" and len(f) == 6:
            d["fsync"] = {"syncs": int(f[1]), "per_s": float(f[3]), "p50_us": float(f[4]), "p99_us": float(f[5])}
        elif f[0] == "CLK_TCK":
            clk = float(f[1])
        elif f[0] == "CPU" and len(f) == 9:
            key = (f[2], f[3], int(f[4]))
            vals = (float(f[5]), float(f[6]), float(f[7]))
            d["loads_during"].append(float(f[8]))
            if f[1] == "begin":
                begins[key] = vals
            elif key in begins:
                b = begins[key]
                el = vals[2] - b[2]
                d["cpu"][key] = {"enclave_s": (vals[0] - b[0]) / clk, "arcad_s": (vals[1] - b[1]) / clk,
                                 "wall_s": el}
        elif f[0] == "LOAD":
            d["load"][f[1]] = " ".join(f[2:5])
        elif f[0] == "MACHINE":
            d["machine"][f[1]] = " ".join(f[2:])
        elif f[0] == "ARCA_STORE":
            d["machine"]["arca_store_kib"] = f[1]
    return d


def ops(d, tag, w, t):
    c = d["cells"].get((tag, w, t))
    return c["ops_per_s"] if c and not c["failed"] else None


def ratio(a, b):
    return a / b if a is not None and b else None


def targets(d):
    a2 = lambda w: ops(d, "arca", w, 2)
    a1 = lambda w: ops(d, "arca", w, 1)
    s2 = lambda w: ops(d, "softhsm2", w, 2)
    o2 = lambda w: d["openssl"].get((w, 2))
    out = [
        ("ECDSA P-256, 2 threads >= 0.6x raw OpenSSL 2 cores", ratio(a2("ecdsa"), o2("ecdsa")), 0.6),
        ("ECDSA P-256, 2 threads >= 2x SoftHSM2 2 threads", ratio(a2("ecdsa"), s2("ecdsa")), 2.0),
        ("RSA-2048 sign, 2 threads >= 0.9x raw OpenSSL 2 cores", ratio(a2("rsa"), o2("rsa")), 0.9),
        ("Ed25519 sign, 2 threads >= 3x SoftHSM2 2 threads", ratio(a2("ed25519"), s2("ed25519")), 3.0),
        ("AES-256-GCM 4 KiB, 2 threads >= 1x SoftHSM2", ratio(a2("aesgcm"), s2("aesgcm")), 1.0),
        ("HMAC-SHA-256 64 B, 2 threads >= 1x SoftHSM2", ratio(a2("hmac"), s2("hmac")), 1.0),
        ("ECDSA P-256: 2 threads >= 1.7x 1 thread", ratio(a2("ecdsa"), a1("ecdsa")), 1.7),
        ("EC P-256 keygen (token), 2 threads >= 1x SoftHSM2", ratio(a2("ecgen"), s2("ecgen")), 1.0),
    ]
    res = []
    for name, val, need in out:
        res.append({"target": name, "value": val, "need": need, "met": val is not None and val >= need})
    for w, label in WORKLOADS:
        c = d["cells"].get(("arca", w, 1))
        val = c["p99_us"] / c["p50_us"] if c and c["p50_us"] > 0 and not c["failed"] else None
        res.append({"target": "p99 <= 3x p50 at 1 thread: " + label, "value": val, "need": 3.0,
                    "met": val is not None and val <= 3.0, "lower_is_better": True})
    p1, p2 = ops(d, "arca-proc1", "ecdsa", 1), ops(d, "arca-proc2", "ecdsa", 1)
    both = p1 + p2 if p1 is not None and p2 is not None else None
    val = ratio(both, a2("ecdsa"))
    res.append({"target": "two processes together >= one process with 2 threads (ECDSA)", "value": val,
                "need": 1.0, "met": val is not None and val >= 1.0})
    return res, both


def fmt(v, digits=0):
    if v is None:
        return "-"
    if digits == 0:
        return f"{v:,.0f}"
    return f"{v:.{digits}f}"


def main():
    args = sys.argv[1:]
    as_json = "--json" in args
    path = [a for a in args if a != "--json"][0]
    d = parse(path)
    tg, both = targets(d)
    fs = d["fsync"]
    rows = []
    for w, label in WORKLOADS:
        a1c, a2c = d["cells"].get(("arca", w, 1)), d["cells"].get(("arca", w, 2))
        cpu2 = d["cpu"].get(("arca", w, 2))
        row = {
            "workload": w, "label": label,
            "openssl_1core": d["openssl"].get((w, 1)), "openssl_2cores": d["openssl"].get((w, 2)),
            "softhsm2_1t": ops(d, "softhsm2", w, 1), "softhsm2_2t": ops(d, "softhsm2", w, 2),
            "arca_1t": ops(d, "arca", w, 1), "arca_2t": ops(d, "arca", w, 2),
            "arca_1t_p50_us": a1c["p50_us"] if a1c else None, "arca_1t_p99_us": a1c["p99_us"] if a1c else None,
            "arca_2t_p50_us": a2c["p50_us"] if a2c else None, "arca_2t_p99_us": a2c["p99_us"] if a2c else None,
        }
        row["arca_over_openssl_2cores"] = ratio(row["arca_2t"], row["openssl_2cores"])
        row["arca_over_softhsm2"] = ratio(row["arca_2t"], row["softhsm2_2t"])
        row["arca_2t_over_1t"] = ratio(row["arca_2t"], row["arca_1t"])
        row["arca_p99_over_p50_1t"] = ratio(row["arca_1t_p99_us"], row["arca_1t_p50_us"])
        for t, cpu, cell in ((1, d["cpu"].get(("arca", w, 1)), a1c), (2, cpu2, a2c)):
            if cpu and cell and cell["ops"]:
                row[f"enclave_cpu_us_per_op_{t}t"] = cpu["enclave_s"] / cell["ops"] * 1e6
                row[f"enclave_cpu_cores_{t}t"] = cpu["enclave_s"] / cpu["wall_s"] if cpu["wall_s"] > 0 else None
                row[f"arcad_cpu_us_per_op_{t}t"] = cpu["arcad_s"] / cell["ops"] * 1e6
        rows.append(row)
    loads = d["loads_during"]
    summary = {
        "machine": d["machine"], "load_start": d["load"].get("start"), "load_end": d["load"].get("end"),
        "load1_during_arca_cells": [min(loads), max(loads)] if loads else None,
        "fsync": fs, "workloads": rows, "two_processes_ecdsa_ops_per_s": both, "targets": tg,
        "failed_cells": [f"{k[0]} {k[1]} {k[2]}" for k, c in d["cells"].items() if c["failed"]],
    }
    if as_json:
        json.dump(summary, sys.stdout, indent=1, default=str)
        print()
        return
    m = d["machine"]
    print(f"machine: {m.get('cores', '?')} cores, {m.get('cpu', '?')}; {m.get('openssl', '?')}; "
          f"SoftHSM2 {m.get('softhsm2', '?')}; state on {m.get('fs', '?')}")
    print(f"load average (1/5/15 min): start {summary['load_start']}, end {summary['load_end']}"
          + (f"; 1-min load during the Arca cells {loads and min(loads)}..{loads and max(loads)}" if loads else ""))
    if fs:
        print(f"fsync: {fs['per_s']:,.0f} synced 4 KiB writes/s (p50 {fs['p50_us']:,.0f} us, p99 {fs['p99_us']:,.0f} us)"
              f" -> at 2 syncs per LMDB commit, at most ~{fs['per_s'] / 2:,.0f} serial commits/s")
    print()
    hdr = ["workload", "OpenSSL 1c", "OpenSSL 2c", "SoftHSM2 1t", "SoftHSM2 2t", "Arca 1t", "Arca 2t",
           "Arca 1t p50/p99 us", "Arca 2t p50/p99 us", "Arca/OSSL-2c", "Arca/SoftHSM2", "2t/1t", "p99/p50 1t",
           "enclave CPU us/op 1t / 2t", "arcad CPU us/op 1t / 2t"]
    lines = [hdr]
    for r in rows:
        lines.append([
            r["label"], fmt(r["openssl_1core"]), fmt(r["openssl_2cores"]), fmt(r["softhsm2_1t"]),
            fmt(r["softhsm2_2t"]), fmt(r["arca_1t"]), fmt(r["arca_2t"]),
            f"{fmt(r['arca_1t_p50_us'])} / {fmt(r['arca_1t_p99_us'])}",
            f"{fmt(r['arca_2t_p50_us'])} / {fmt(r['arca_2t_p99_us'])}",
            fmt(r["arca_over_openssl_2cores"], 3), fmt(r["arca_over_softhsm2"], 2), fmt(r["arca_2t_over_1t"], 2),
            fmt(r["arca_p99_over_p50_1t"], 2),
            f"{fmt(r.get('enclave_cpu_us_per_op_1t'))} / {fmt(r.get('enclave_cpu_us_per_op_2t'))}",
            f"{fmt(r.get('arcad_cpu_us_per_op_1t'))} / {fmt(r.get('arcad_cpu_us_per_op_2t'))}",
        ])
    print("| " + " | ".join(lines[0]) + " |")
    print("|" + "|".join("---" for _ in lines[0]) + "|")
    for l in lines[1:]:
        print("| " + " | ".join(l) + " |")
    print()
    print("ops/s; 1t/2t = threads, each its own session; 1c/2c = openssl speed -multi 1/2; "
          "ratios use the 2-thread / 2-core figures")
    if both is not None:
        print(f"two processes, one thread each, same Arca token, ECDSA P-256: {both:,.0f} ops/s together "
              f"(one process with 2 threads: {fmt(ops(d, 'arca', 'ecdsa', 2))})")
    print()
    for t in tg:
        mark = "met" if t["met"] else "NOT met"
        cmp_ = "<=" if t.get("lower_is_better") else ">="
        print(f"  [{mark:7}] {t['target']}: {fmt(t['value'], 3)} (need {cmp_} {t['need']})")
    if summary["failed_cells"]:
        print("cells with errors: " + ", ".join(summary["failed_cells"]))


if __name__ == "__main__":
    main()
