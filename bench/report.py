#!/usr/bin/env python3
"""bench/report.py RESULTS_DIR OUT.md: BENCHMARKS.md from a bench run.

Every figure is the median over the runs; every ratio is taken within one
run (same machine state for both sides) and then the median of those is
shown.  bench/analysis.md, written by hand against the measured code, is
appended as the explanation of the figures.
"""

import glob
import json
import os
import statistics
import sys

PEERS = {"mbox": ["popa3d", "dovecot"], "maildir": ["dovecot", "courier"]}
SERVERS = {"mbox": ["pop3d", "popa3d", "dovecot"],
           "maildir": ["pop3d", "dovecot", "courier"]}
TCP = "pop3d--tcp"
MIB = 1024 * 1024

# (key, label, kind) in the order of the tables; kind: t (seconds), b
# (octets), k (KiB), c (CPU seconds)
FIGURES = [
    ("greeting", "connect → greeting", "t"),
    ("login", "login (empty maildrop: connect → STAT)", "t"),
    ("open", "first open (connect → STAT, less login)", "t"),
    ("open_cpu", "first open, server CPU (less login's)", "c"),
    ("list", "LIST", "t"),
    ("uidl", "UIDL", "t"),
    ("retr_one", "RETR all, one at a time", "t"),
    ("retr_pipe", "RETR all, pipelined", "t"),
    ("retr_cpu", "RETR all pipelined: server CPU (session)", "c"),
    ("top", "TOP n 0 all, pipelined", "t"),
    ("reopen", "reopen, unchanged (connect → STAT, less login)", "t"),
    ("reopen_app", "reopen after an append (less login)", "t"),
    ("dele", "DELE every other, pipelined", "t"),
    ("update", "UPDATE: QUIT → server gone", "t"),
    ("update_cpu", "UPDATE session, server CPU", "c"),
    ("update_w", "UPDATE session, octets given to write(2)", "b"),
    ("update_wb", "UPDATE session, octets written to disk", "b"),
    ("after_open", "open after UPDATE (less login)", "t"),
    ("rss_login", "peak RSS, empty maildrop", "k"),
    ("rss", "peak RSS, largest session", "k"),
    ("anon_login", "private memory (RssAnon), empty maildrop", "k"),
    ("anon", "private memory (RssAnon), largest session", "k"),
    ("file", "file-backed RSS (program, libraries), largest", "k"),
]


def load(res):
    meta = json.load(open(os.path.join(res, "meta.json")))
    data = {}
    for path in glob.glob(os.path.join(res, "*.json")):
        name = os.path.basename(path)[:-5]
        if name == "meta":
            continue
        parts = name.split("-")
        profile, run = parts[0], int(parts[1][3:])
        try:
            d = json.load(open(path))
        except ValueError:
            continue
        rest = "-".join(parts[2:])
        data.setdefault((profile, run), {})[rest] = d
    return meta, data


def ph(sess, name, field="time"):
    p = sess["phases"].get(name)
    return None if p is None else p[field]


def cpu(sess):
    return sess["server"]["utime"] + sess["server"]["stime"]


def med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def figures(full, login):
    """The figures of one server, one run."""
    ls = list(login["sessions"].values())
    lg = med([s["to_stat"] for s in ls])
    lcpu = med([cpu(s) for s in ls])
    s = full["sessions"]
    f = {
        "greeting": med([ph(x, "greeting") for x in ls]),
        "login": lg,
        "open": s["first"]["to_stat"] - lg,
        "open_cpu": cpu(s["first"]) - lcpu,
        "list": ph(s["first"], "list"),
        "uidl": ph(s["first"], "uidl"),
        "retr_one": ph(s["retr_one"], "retr"),
        "retr_pipe": ph(s["retr_pipelined"], "retr"),
        "retr_cpu": cpu(s["retr_pipelined"]),
        "retr_ccpu": ph(s["retr_pipelined"], "retr", "client_cpu"),
        "retr_octets": ph(s["retr_pipelined"], "retr", "octets"),
        "top": ph(s["top"], "top"),
        "reopen": s["reopen"]["to_stat"] - lg,
        "reopen_app": s["reopen_appended"]["to_stat"] - lg,
        "dele": ph(s["update"], "dele"),
        "update": s["update"]["to_exit"] - s["update"]["phases"]["quit"][
            "start"] if "quit" in s["update"]["phases"] else None,
        "update_cpu": cpu(s["update"]),
        "update_wb": s["update"]["server"]["write_bytes"],
        # wchar counts the socket too: what the client received is not
        # file output.
        "update_w": s["update"]["server"]["wchar"] - s["update"]["received"],
        "after_open": s["after_update"]["to_stat"] - lg,
        "rss_login": med([x["server"]["maxrss_kb"] for x in ls]),
        "rss": max(x["server"]["maxrss_kb"] for x in s.values()),
        "anon_login": med([x["server"].get("rssanon_kb") for x in ls]),
        "anon": max(x["server"].get("rssanon_kb", 0) for x in s.values()),
        "file": max(x["server"].get("rssfile_kb", 0) for x in s.values()),
        "errors": full["errors"] + login["errors"],
        "size_before": full.get("drop_size_before_update"),
        "size_after": full.get("drop_size_after_update"),
    }
    return f


def collect(data):
    """fig[(profile, fmt, server)][key] = list over runs; base[profile]..."""
    fig, base, ceil, errs = {}, {}, {}, {}
    for (profile, run), d in sorted(data.items()):
        ld = d.get("load")
        if ld is not None:
            base.setdefault(profile, {}).setdefault("_others", []).append(
                ld["others_cores"])
        b = d.get("baselines")
        if b is not None:
            for k, v in b.items():
                base.setdefault(profile, {}).setdefault(k, []).append(v)
        for fmt in ("mbox", "maildir"):
            c = d.get("ceiling-" + fmt)
            if c is not None:
                cs = c["sessions"]["retr_pipelined"]
                ceil.setdefault((profile, fmt), []).append(
                    (ph(cs, "retr"), ph(cs, "retr", "client_cpu"),
                     ph(cs, "retr", "octets")))
            for server in SERVERS[fmt] + [TCP]:
                full = d.get("%s-%s-full" % (server, fmt))
                login = d.get("%s-%s-login" % (server, fmt))
                if full is None or login is None:
                    continue
                f = figures(full, login)
                f["_run"] = run
                f["_ceiling"] = ceil.get((profile, fmt), [(None,)])[-1][0] \
                    if c is not None else None
                f["_cat"] = b["cat_mbox"] if fmt == "mbox" else \
                    b["cat_maildir"]
                f["_grep"] = b["grep_mbox"]
                key = (profile, fmt, server)
                for k, v in f.items():
                    fig.setdefault(key, {}).setdefault(k, []).append(v)
                for sess in list(full["sessions"].values()) + \
                        list(login["sessions"].values()):
                    errs.setdefault(key, []).extend(sess["error_list"])
    return fig, base, ceil, errs


def ratio(fig, a, b, key, bkey=None):
    """Median over runs of a[key] / b[bkey or key], same run."""
    xs = fig.get(a, {}).get(key, [])
    ys = fig.get(b, {}).get(bkey or key, []) if isinstance(b, tuple) \
        else b
    rs = [x / y for x, y in zip(xs, ys) if x is not None and y]
    if not rs or min(v for v in xs + list(ys) if v is not None) < 0:
        return None            # a figure within noise of zero
    return statistics.median(rs)


def fmt_val(v, kind):
    if v is None:
        return "–"
    if kind == "t" and v < 0:
        # A figure less the login median can dip below zero by noise.
        return "≈0"
    if kind == "b" and v < MIB:
        return "%.1f KiB" % (v / 1024)
    if kind == "t":
        return "%.1f ms" % (v * 1000) if v < 10 else "%.2f s" % v
    if kind == "c":
        return "%.1f ms" % (v * 1000)
    if kind == "b":
        return "%.1f MiB" % (v / MIB)
    if kind == "k":
        return "%d KiB" % v
    return str(v)


def fmt_ratio(r):
    if r is None:
        return "–"
    return "%.2f×" % r if r < 100 else "%.0f×" % r


def profile_desc(profile, base):
    n = {"small": "2,000 messages", "big": "20,000 messages",
         "huge": "one 100 MiB message"}.get(profile, profile)
    octets = med(base.get(profile, {}).get("mbox_octets", [])) or 0
    return "%s, mbox %.1f MiB" % (n, octets / MIB)


def table(out, fig, base, profile, fmt):
    servers = [s for s in SERVERS[fmt] if (profile, fmt, s) in fig]
    if not servers:
        return
    peers = [s for s in PEERS[fmt] if s in servers]
    cat = "cat_mbox" if fmt == "mbox" else "cat_maildir"
    bl = base[profile]
    head = ["figure"] + servers + ["pop3d ÷ %s" % p for p in peers] + \
        ["%s ÷ cat" % s for s in servers]
    if fmt == "mbox":
        head += ["pop3d ÷ grep"]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "---|" * len(head))
    for key, label, kind in FIGURES:
        row = [label]
        for s in servers:
            row.append(fmt_val(med(fig[(profile, fmt, s)].get(key, [])),
                               kind))
        for p in peers:
            row.append(fmt_ratio(ratio(fig, (profile, fmt, "pop3d"),
                                       (profile, fmt, p), key)))
        for s in servers:
            row.append(fmt_ratio(ratio(fig, (profile, fmt, s), bl[cat], key))
                       if kind == "t" else "")
        if fmt == "mbox":
            row.append(fmt_ratio(ratio(fig, (profile, fmt, "pop3d"),
                                       bl["grep_mbox"], key))
                       if kind == "t" else "")
        out.append("| " + " | ".join(row) + " |")
    out.append("")


def verdict(ok, text):
    return ("met" if ok else "**missed**") + " — " + text


def targets(fig, base, ceil, profiles):
    """The issue's targets, each with its verdict and margin."""
    rows = []

    def f(profile, fmt, server, key):
        return med(fig.get((profile, fmt, server), {}).get(key, []))

    def pop(p, fmt, other, key):
        return ratio(fig, (p, fmt, "pop3d"), (p, fmt, other), key)

    for p in profiles:
        r = ratio(fig, (p, "mbox", "pop3d"), base[p]["cat_mbox"], "open")
        if r is not None:
            rows.append(("first open of the mbox ≤ 2× `cat` (%s)" % p,
                         verdict(r <= 2, "%.2f× cat (%s vs %s)" % (
                             r, fmt_val(f(p, "mbox", "pop3d", "open"), "t"),
                             fmt_val(med(base[p]["cat_mbox"]), "t")))))
    for p in profiles:
        for peer in PEERS["mbox"]:
            r = pop(p, "mbox", peer, "open")
            if r is not None:
                rows.append(("first open of the mbox faster than %s (%s)" % (
                    peer, p), verdict(r < 1, "%.2f× %s's time (%s vs %s)" % (
                        r, peer, fmt_val(f(p, "mbox", "pop3d", "open"), "t"),
                        fmt_val(f(p, "mbox", peer, "open"), "t")))))
    if "big" in profiles:
        for key, what in (("reopen", "unchanged"),
                          ("reopen_app", "appended-to")):
            r = pop("big", "mbox", "dovecot", key)
            if r is not None:
                rows.append(("reopen of the %s 500 MB mbox faster than "
                             "Dovecot with its index" % what,
                             verdict(r < 1, "%.2f× Dovecot's time (%s vs "
                                     "%s)" % (r, fmt_val(f(
                                         "big", "mbox", "pop3d", key), "t"),
                                         fmt_val(f("big", "mbox", "dovecot",
                                                   key), "t")))))
    for p in profiles:
        r = pop(p, "mbox", "popa3d", "retr_one")
        if r is not None:
            rows.append(("RETR of everything one at a time faster than "
                         "popa3d (%s)" % p,
                         verdict(r < 1, "%.2f× popa3d's time (%s vs %s)" % (
                             r, fmt_val(f(p, "mbox", "pop3d", "retr_one"),
                                        "t"),
                             fmt_val(f(p, "mbox", "popa3d", "retr_one"),
                                     "t")))))
    for p in profiles:
        for fmt in ("mbox", "maildir"):
            xs = fig.get((p, fmt, "pop3d"), {})
            rs = [a / c for a, c in zip(xs.get("retr_pipe", []),
                                        xs.get("_ceiling", [])) if a and c]
            if rs:
                r = statistics.median(rs)
                rows.append(("RETR pipelined ≤ 1.5× the client's ceiling "
                             "(%s, %s)" % (p, fmt),
                             verdict(r <= 1.5, "%.2f× the ceiling" % r)))
    for p in profiles:
        r = pop(p, "mbox", "popa3d", "update")
        if r is not None:
            rows.append(("UPDATE after deleting half ≤ 1.5× popa3d's "
                         "in-place rewrite (%s)" % p,
                         verdict(r <= 1.5, "%.2f× popa3d's time (%s vs %s); "
                                 "written: pop3d %s, popa3d %s" % (
                                     r, fmt_val(f(p, "mbox", "pop3d",
                                                  "update"), "t"),
                                     fmt_val(f(p, "mbox", "popa3d",
                                               "update"), "t"),
                                     fmt_val(f(p, "mbox", "pop3d",
                                               "update_w"), "b"),
                                     fmt_val(f(p, "mbox", "popa3d",
                                               "update_w"), "b")))))
    if "big" in profiles:
        for fmt in ("mbox", "maildir"):
            v = f("big", fmt, "pop3d", "rss")
            e = f("big", fmt, "pop3d", "rss_login")
            a = f("big", fmt, "pop3d", "anon")
            if v is not None:
                rows.append(("peak RSS of a session at 20,000 messages ≤ "
                             "1.5 MB (%s)" % fmt,
                             verdict(v <= 1536, "%d KiB peak RSS (%d KiB "
                                     "over an empty maildrop); private "
                                     "memory %d KiB, %s" % (
                                         v, v - e, a,
                                         "within 1.5 MB" if a <= 1536
                                         else "also over 1.5 MB"))))
        for peer in PEERS["maildir"]:
            r = pop("big", "maildir", peer, "open")
            if r is not None:
                rows.append(("Maildir first open of 20,000 files faster "
                             "than %s" % peer,
                             verdict(r < 1, "%.2f× %s's time (%s vs %s)" % (
                                 r, peer, fmt_val(f("big", "maildir",
                                                    "pop3d", "open"), "t"),
                                 fmt_val(f("big", "maildir", peer, "open"),
                                         "t")))))
    return rows


def main():
    res, dest = sys.argv[1], sys.argv[2]
    meta, data = load(res)
    fig, base, ceil, errs = collect(data)
    profiles = [p for p in meta["profiles"] if p in base]
    m, v = meta["machine"], meta["versions"]
    o = []
    o.append("# pop3d benchmarks\n")
    o.append("Written by `make bench` (bench/bench.py, bench/report.py) "
             "from the run of %s (%d s); raw results in "
             "`bench/out/results/%s/` (not in git). Figures are medians of "
             "the runs; ratios are taken within each run, then the median "
             "of them is shown. All runs are warm-cache: every file was "
             "read just before (`drop_caches` %s here, but the figures "
             "compare CPU and system-call work, not the disk).\n" % (
                 meta["started"], meta["seconds"], meta["started"],
                 m["drop_caches"]))
    o.append("## Machine and versions\n")
    o.append("- %d CPUs: %s; %.1f GiB memory; Debian %s; kernel %s" % (
        m["nproc"], m["cpu"], m["mem_gib"], m["debian"], v["kernel"]))
    o.append("- file system of the maildrops: `%s` (rotational: %s, as "
             "the virtual disk reports it)" % (
                 " ".join(m["fs"].split()), m["rotational"] or "?"))
    o.append("- pop3d %s; built with %s, the Makefile's CFLAGS (-O2 -g)" % (
        v["pop3d"], v["cc"]))
    o.append("- Dovecot %s (dovecot-pop3d, installed); popa3d %s and "
             "courier-pop %s (unpacked from Debian's packages, see below)" % (
                 v.get("dovecot"), v.get("popa3d"), v.get("courier-pop")))
    o.append("- libc %s, libsodium %s, coreutils %s, grep %s" % (
        v["libc"], v["libsodium"], v["coreutils"], v["grep"]))
    o.append("- runs: %s; generator seed %d\n" % (
        ", ".join("%s %d" % (p, n) for p, n in meta["runs"].items()),
        meta["seed"]))
    o.append(open(os.path.join(os.path.dirname(__file__),
                               "method.md")).read())
    o.append("## Exact commands\n")
    o.append("The client's command line for each server in the first run "
             "(paths below the repository; the `login` scenario runs the "
             "same server on an empty maildrop):\n")
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    first = profiles[0] if profiles else ""
    for path in sorted(glob.glob(os.path.join(res, "%s-run0-*.cmd" % first))):
        o.append("    " + open(path).read().strip().replace(top + "/", ""))
    o.append("")
    o.append("## Targets (issue 6)\n")
    o.append("| target | result |")
    o.append("|---|---|")
    for t, r in targets(fig, base, ceil, profiles):
        o.append("| %s | %s |" % (t, r))
    o.append("")
    o.append("## Baselines\n")
    o.append("| profile | `cat` mbox | `grep -c '^From '` mbox (count) | "
             "`cat` of the Maildir files | mbox read rate | other "
             "processes during the runs |")
    o.append("|---|---|---|---|---|---|")
    for p in profiles:
        b = base[p]
        oth = b.get("_others", [])
        o.append("| %s | %s | %s (%d) | %s | %.0f MiB/s | %s |" % (
            profile_desc(p, base), fmt_val(med(b["cat_mbox"]), "t"),
            fmt_val(med(b["grep_mbox"]), "t"), b["grep_count"][0],
            fmt_val(med(b["cat_maildir"]), "t"),
            med(b["mbox_octets"]) / MIB / med(b["cat_mbox"]),
            "%.2f–%.2f cores" % (min(oth), max(oth)) if oth else "?"))
    o.append("")
    o.append("## The client's ceiling\n")
    o.append("The pipelined-RETR session replayed from a file by `cat` "
             "(recorded from pop3d in the same run) through the same "
             "socketpair and the same parsing and checking: no server can "
             "be timed faster than this.  \"client CPU\" is the share of "
             "the phase the client was on the CPU; well under 100% means "
             "it waited for the server.\n")
    o.append("| profile | format | ceiling | rate | client CPU | pop3d | "
             "popa3d | Dovecot | Courier |")
    o.append("|---|---|---|---|---|---|---|---|---|")
    for p in profiles:
        for fmt in ("mbox", "maildir"):
            c = ceil.get((p, fmt))
            if not c:
                continue
            t = med([x[0] for x in c])
            cc = med([x[1] for x in c])
            octets = c[0][2]
            row = [p, fmt, fmt_val(t, "t"), "%.0f MiB/s" % (
                octets / MIB / t), "%.0f%%" % (100 * cc / t)]
            for s in ("pop3d", "popa3d", "dovecot", "courier"):
                x = fig.get((p, fmt, s))
                if x is None:
                    row.append("–")
                    continue
                tt = med(x["retr_pipe"])
                ccpu = med(x["retr_ccpu"])
                row.append("%s (%.0f%% client CPU)" % (
                    fmt_val(tt, "t"), 100 * ccpu / tt))
            o.append("| " + " | ".join(row) + " |")
    o.append("")
    for p in profiles:
        for fmt in ("mbox", "maildir"):
            if not any((p, fmt, s) in fig for s in SERVERS[fmt]):
                continue
            o.append("## %s, %s (%s)\n" % (p, fmt, profile_desc(p, base)))
            table(o, fig, base, p, fmt)
            x = fig.get((p, fmt, "pop3d"), {})
            if fmt == "mbox" and x.get("size_before"):
                o.append("mbox size before UPDATE %.1f MiB, after %.1f MiB "
                         "(pop3d)." % (med(x["size_before"]) / MIB,
                                       med(x["size_after"]) / MIB))
                o.append("")
    o.append("## pop3d over loopback TCP\n")
    o.append("Every row above gives the server a socketpair, as stunnel's "
             "`exec` does.  Here pop3d's fd 0 is an accepted loopback TCP "
             "socket instead, as inetd, xinetd, tcpserver and systemd give "
             "it.\n")
    o.append("| profile | format | figure | socketpair (median) | TCP "
             "(first run) | TCP ÷ socketpair, first run |")
    o.append("|---|---|---|---|---|---|")
    for p in profiles:
        for fmt in ("mbox", "maildir"):
            if (p, fmt, TCP) not in fig:
                continue
            for key, label, kind in FIGURES:
                if key not in ("retr_one", "retr_pipe", "top", "list",
                               "uidl", "dele", "open"):
                    continue
                a = med(fig[(p, fmt, "pop3d")][key])
                b = med(fig[(p, fmt, TCP)][key])
                o.append("| %s | %s | %s | %s | %s | %s |" % (
                    p, fmt, label, fmt_val(a, kind), fmt_val(b, kind),
                    fmt_ratio(ratio(fig, (p, fmt, TCP), (p, fmt, "pop3d"),
                                    key))))
    o.append("")
    o.append("## Verification\n")
    o.append("Checked in every session of every run (bench/popbench.c): "
             "message counts against the maildrop; every RETR body, after "
             "dot-unstuffing, octet for octet against the original (found "
             "by its Message-ID); TOP n 0 against the original's header; "
             "LIST sizes and the `+OK n octets` of RETR against the octets "
             "received; STAT's total against LIST; UIDLs unique, and "
             "unchanged across sessions, after new mail and after UPDATE; "
             "after UPDATE exactly the even-numbered messages left, whole.\n")
    o.append("| profile | format | server | deviations | first ones |")
    o.append("|---|---|---|---|---|")
    for (p, fmt, s), e in sorted(errs.items()):
        n = sum(fig[(p, fmt, s)]["errors"])
        first = "; ".join(sorted(set(x.split(": ", 1)[-1] for x in e))[:4])
        o.append("| %s | %s | %s | %d | %s |" % (p, fmt, s, n,
                                                 first.replace("|", "\\|")))
    o.append("")
    an = os.path.join(os.path.dirname(__file__), "analysis.md")
    if os.path.exists(an):
        o.append(open(an).read())
    with open(dest, "w") as f:
        f.write("\n".join(o).rstrip() + "\n")
    print("report: wrote %s" % dest)


if __name__ == "__main__":
    main()
