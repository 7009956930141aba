#!/usr/bin/env python3
"""bench/bench.py: `make bench`: pop3d against Dovecot, popa3d and Courier.

Steps: install or unpack the peers (setup), generate the maildrops
(bench/gen.py, reused when present), then, inside a private mount
namespace, for each profile and run: time the physical baselines (cat,
grep) and every server through bench/out/popbench on a fresh copy of the
same maildrop.  Raw results go to bench/out/results/, the summary to
BENCHMARKS.md (bench/report.py).

Environment: BENCH_PROFILES (small big huge), BENCH_RUNS (runs per
profile, default 5 for small and 3 otherwise), BENCH_SEED (1939).  Only a
run of all three profiles rewrites BENCHMARKS.md; a partial one writes
bench/out/BENCHMARKS-PROFILES.md.

The namespace: popa3d checks passwords through PAM against /etc/shadow,
chroots its pre-login child to /var/lib/popa3d and reads /var/mail/USER.
Rather than add users, directories or a spool file to this machine, the
benchmark runs in `unshare -m`, where /etc/passwd, /etc/group and
/etc/shadow are bind-mounted copies with the benchmark's users added,
/var/lib and /etc/pam.d are overlays (for /var/lib/popa3d and popa3d's
PAM file) and /var/mail is bench/out/work/spool.  Nothing of it outlives
the run.
"""

import json
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import time

TOP = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(TOP, "bench")
OUT = os.path.join(BENCH, "out")
DATA = os.path.join(OUT, "data")
PEERS = os.path.join(OUT, "peers")
WORK = os.path.join(OUT, "work")
NS = os.path.join(OUT, "ns")
POPBENCH = os.path.join(OUT, "popbench")
POP3D = os.path.join(TOP, "pop3d")
DOVECOT_POP3 = "/usr/lib/dovecot/pop3"
POPA3D = os.path.join(PEERS, "root/usr/sbin/popa3d")
COURIER = os.path.join(PEERS, "root/usr/lib/courier/courier/courierpop3d")

# The benchmark's users, only inside the namespace.
BENCH_USER, BENCH_UID = "pop3bench", 60999
EMPTY_USER, EMPTY_UID = "pop3empty", 61000
POPA3D_UID = 60998
PASSWORD = "bench"

PEER_DEBS = ["popa3d", "courier-pop", "courier-base"]
APT_PKGS = ["dovecot-pop3d", "courier-authlib", "libcourier-unicode4",
            "libidn12"]

SERVERS = {"mbox": ["pop3d", "popa3d", "dovecot"],
           "maildir": ["pop3d", "dovecot", "courier"]}


def log(msg):
    print("bench: " + msg, flush=True)


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, **kw)


def out(cmd):
    try:
        return subprocess.run(cmd, check=True, capture_output=True,
                              text=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return ""


# ---- setup: peers ----

def installed(pkg):
    return "install ok installed" in out(
        ["dpkg-query", "-W", "-f=${Status}", pkg])


def setup():
    if os.geteuid() != 0:
        sys.exit("bench: must run as root (popa3d and pop3d's privilege "
                 "separation need it)")
    missing = [p for p in APT_PKGS if not installed(p)]
    if missing:
        log("installing " + " ".join(missing))
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "--no-install-recommends"]
        if subprocess.run(cmd + missing, env=env).returncode != 0:
            run(["apt-get", "update"], env=env)
            run(cmd + missing, env=env)
        # A package's postinst may have started its daemon: stop it.
        subprocess.run(["service", "dovecot", "stop"],
                       capture_output=True)
    debs = os.path.join(PEERS, "debs")
    root = os.path.join(PEERS, "root")
    if not (os.path.exists(POPA3D) and os.path.exists(COURIER)):
        # popa3d and courier-pop both provide and conflict with
        # pop3-server, and with dovecot-pop3d: unpack them, don't install.
        shutil.rmtree(debs, ignore_errors=True)
        os.makedirs(debs)
        log("apt-get download " + " ".join(PEER_DEBS))
        if subprocess.run(["apt-get", "download"] + PEER_DEBS,
                          cwd=debs).returncode != 0:
            run(["apt-get", "update"])
            run(["apt-get", "download"] + PEER_DEBS, cwd=debs)
        os.makedirs(root, exist_ok=True)
        for f in sorted(os.listdir(debs)):
            run(["dpkg-deb", "-x", os.path.join(debs, f), root])


def versions():
    v = {
        "pop3d": out([POP3D, "-V"]) + " (git " + out(
            ["git", "-C", TOP, "describe", "--always", "--dirty"]) + ")",
        "dovecot": out(["dpkg-query", "-W", "-f=${Version}",
                        "dovecot-pop3d"]),
        "kernel": os.uname().release,
        "libc": out(["dpkg-query", "-W", "-f=${Version}", "libc6"]),
        "libsodium": out(["dpkg-query", "-W", "-f=${Version}",
                          "libsodium23"]),
        "cc": out(["cc", "--version"]).split("\n")[0],
        "coreutils": out(["dpkg-query", "-W", "-f=${Version}", "coreutils"]),
        "grep": out(["dpkg-query", "-W", "-f=${Version}", "grep"]),
    }
    for f in os.listdir(os.path.join(PEERS, "debs")):
        name, ver = f.split("_")[:2]
        v[name] = ver
    return v


def machine():
    model = ""
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem = f.readline().split()[1]
    src = out(["findmnt", "-n", "-o", "SOURCE,FSTYPE,OPTIONS", "-T", OUT])
    dev = os.path.basename(src.split()[0]) if src else ""
    rot = out(["cat", "/sys/block/%s/queue/rotational" % dev])
    drop = "works"
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("1\n")
    except OSError as e:
        drop = "fails (%s)" % e.strerror
    return {"nproc": os.cpu_count(), "cpu": model,
            "mem_gib": round(int(mem) / 1048576, 1), "fs": src,
            "rotational": rot, "drop_caches": drop,
            "debian": out(["cat", "/etc/debian_version"])}


# ---- the namespace ----

def enter_namespace():
    if os.environ.get("POP3D_BENCH_NS") == "1":
        return
    env = dict(os.environ, POP3D_BENCH_NS="1")
    os.execvpe("unshare", ["unshare", "-m", "--propagation", "private",
                           sys.executable, os.path.abspath(__file__)] +
               sys.argv[1:], env)


def overlay(target, name):
    up = os.path.join(NS, name, "up")
    wk = os.path.join(NS, name, "work")
    shutil.rmtree(os.path.join(NS, name), ignore_errors=True)
    os.makedirs(up)
    os.makedirs(wk)
    run(["mount", "-t", "overlay", "overlay", "-o",
         "lowerdir=%s,upperdir=%s,workdir=%s" % (target, up, wk), target])


def bind(src, target):
    run(["mount", "--bind", src, target])


def crypt_sha512(password):
    # A cheap hash (1000 rounds, the minimum) so that login cost is small.
    h = out(["openssl", "passwd", "-6", "-salt", "benchsalt", password])
    if not h.startswith("$6$"):
        sys.exit("bench: openssl passwd -6 failed")
    return h


def setup_namespace():
    etc = os.path.join(NS, "etc")
    shutil.rmtree(etc, ignore_errors=True)
    os.makedirs(etc)
    hashed = crypt_sha512(PASSWORD)
    add = {
        "passwd": ["popa3d:x:%d:%d::/nonexistent:/usr/sbin/nologin" % (
            POPA3D_UID, POPA3D_UID),
            "%s:x:%d:%d::%s:/bin/sh" % (BENCH_USER, BENCH_UID, BENCH_UID,
                                        WORK),
            "%s:x:%d:%d::%s:/bin/sh" % (EMPTY_USER, EMPTY_UID, EMPTY_UID,
                                        WORK)],
        "group": ["popa3d:x:%d:" % POPA3D_UID,
                  "%s:x:%d:" % (BENCH_USER, BENCH_UID),
                  "%s:x:%d:" % (EMPTY_USER, EMPTY_UID)],
        "shadow": ["popa3d:*:19000:0:99999:7:::",
                   "%s:%s:19000:0:99999:7:::" % (BENCH_USER, hashed),
                   "%s:%s:19000:0:99999:7:::" % (EMPTY_USER, hashed)],
    }
    for name, lines in add.items():
        path = os.path.join(etc, name)
        with open("/etc/" + name) as f:
            old = [x for x in f.read().splitlines()
                   if x.split(":")[0] not in ("popa3d", BENCH_USER,
                                              EMPTY_USER)]
        with open(path, "w") as f:
            f.write("\n".join(old + lines) + "\n")
        os.chmod(path, 0o640 if name == "shadow" else 0o644)
        bind(path, "/etc/" + name)
    overlay("/var/lib", "varlib")
    os.makedirs("/var/lib/popa3d", exist_ok=True)
    overlay("/etc/pam.d", "pamd")
    shutil.copy(os.path.join(PEERS, "root/etc/pam.d/popa3d"),
                "/etc/pam.d/popa3d")
    spool = os.path.join(WORK, "spool")
    os.makedirs(spool, exist_ok=True)
    os.chmod(spool, 0o1777)
    bind(spool, "/var/mail")


# ---- baselines ----

def timed(cmd, reps, capture=False):
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        if capture:
            r = subprocess.run(cmd, stdout=subprocess.PIPE)
        else:
            r = subprocess.run(cmd, stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
        if r.returncode not in (0, 1):
            sys.exit("bench: %s failed" % cmd)
    return statistics.median(times), r.stdout


def baselines(profile):
    """cat and grep of the pristine files, per file, start-up taken out.

    A small file is read several times in one process (`cat f f f ...`),
    so that the few milliseconds of exec jitter on a shared machine do not
    swamp a 3 ms read; the same command on an empty file is subtracted."""
    d = os.path.join(DATA, profile)
    empty = os.path.join(WORK, "empty-file")
    open(empty, "w").close()
    nodir = os.path.join(WORK, "empty-dir")
    os.makedirs(nodir, exist_ok=True)
    mbox = os.path.join(d, "mbox")
    md = os.path.join(d, "maildir")
    size = os.path.getsize(mbox)
    k = max(1, (256 * 1024 * 1024) // size)
    reps = 7
    b = {"mbox_octets": size, "copies": k}
    # Warm the page cache; every figure in the run is warm-cache.
    timed(["cat", mbox], 1)
    t0, _ = timed(["cat"] + [empty] * k, reps)
    t, _ = timed(["cat"] + [mbox] * k, reps)
    b["cat_mbox"] = (t - t0) / k
    b["exec_cat"] = t0
    # GNU grep stops at the first match when its output is /dev/null:
    # its count goes into a pipe here.
    pat = ["grep", "-c", "^From "]
    t0, _ = timed(pat + [empty] * k, reps, True)
    t, o = timed(pat + [mbox] * k, reps, True)
    b["grep_mbox"] = (t - t0) / k
    b["grep_count"] = int(o.decode().split()[-1].split(":")[-1])
    loop = "for i in $(seq %d); do find \"$1\" -type f -exec cat {} +; done" % k
    timed(["sh", "-c", loop, "sh", md], 1)
    t0, _ = timed(["sh", "-c", loop, "sh", nodir], reps)
    t, _ = timed(["sh", "-c", loop, "sh", md], reps)
    b["cat_maildir"] = (t - t0) / k
    return b


# ---- servers ----

def chown_tree(path, uid):
    run(["chown", "-R", "%d:%d" % (uid, uid), path])


def dovecot_conf(w, fmt, drop, uid):
    conf = os.path.join(w, "dovecot.conf")
    if fmt == "mbox":
        loc = "mbox:%s/mail:INBOX=%s:INDEX=%s/index" % (w, drop, w)
        os.makedirs(os.path.join(w, "mail"), exist_ok=True)
    else:
        loc = "maildir:%s:INDEX=%s/index" % (drop, w)
    with open(conf, "w") as f:
        f.write("""# bench/bench.py: Dovecot's pop3, preauthenticated, run directly.
protocols = pop3
ssl = no
log_path = /dev/stderr
base_dir = %s/run
mail_location = %s
first_valid_uid = %d
# Dovecot's own I/O tuning for POP3: no \\Seen flags written back (pop3d
# writes none either).
pop3_no_flag_updates = yes
""" % (w, loc, uid))
    os.makedirs(os.path.join(w, "run"), exist_ok=True)
    return conf


def prepare(server, fmt, profile, empty=False):
    """A fresh work copy for server; returns (drop path, popbench args)."""
    d = os.path.join(DATA, profile)
    uid = EMPTY_UID if empty else BENCH_UID
    user = EMPTY_USER if empty else BENCH_USER
    w = os.path.join(WORK, "%s-%s%s" % (server, fmt, "-empty" if empty
                                        else ""))
    shutil.rmtree(w, ignore_errors=True)
    os.makedirs(w)
    if server == "popa3d":
        drop = os.path.join(WORK, "spool", user)
    elif fmt == "mbox":
        drop = os.path.join(w, "mbox")
    else:
        drop = os.path.join(w, "Maildir")
    if fmt == "mbox":
        if os.path.exists(drop):
            os.unlink(drop)
        if empty:
            open(drop, "w").close()
        else:
            run(["cp", os.path.join(d, "mbox"), drop])
        os.chmod(drop, 0o600)
        run(["chown", "%d:%d" % (uid, uid), drop])
    else:
        if empty:
            for s in ("new", "cur", "tmp"):
                os.makedirs(os.path.join(drop, s))
        else:
            run(["cp", "-r", os.path.join(d, "maildir"), drop])
    chown_tree(w, uid)
    # Clean pages: the servers' writes then show in /proc/PID/io
    # (write_bytes counts pages made dirty) and writeback of the copy does
    # not land inside a timed phase.
    os.sync()
    common = ["--stderr=" + os.path.join(w, "server.log"),
              "--owner=%d:%d" % (uid, uid)]
    if server == "pop3d":
        pw = os.path.join(w, "passwd")
        with open(pw, "w") as f:
            f.write("%s:%s:%d:%d::%s::mail=%s:%s\n" % (
                user, HASH, uid, uid, w, fmt, drop))
        os.chmod(pw, 0o600)
        os.chown(pw, 0, 0)
        args = common + ["--user=" + user, "--pass=" + PASSWORD, "--",
                         POP3D, "-f", pw, "--fail-delay=0", "--log=stderr"]
    elif server == "popa3d":
        args = common + ["--user=" + user, "--pass=" + PASSWORD, "--",
                         POPA3D]
    elif server == "dovecot":
        conf = dovecot_conf(w, fmt, drop, uid)
        chown_tree(w, uid)
        args = common + ["--no-greeting", "--uid=%d" % uid,
                         "--gid=%d" % uid, "--env=USER=" + user,
                         "--env=HOME=" + w, "--env=PATH=/usr/bin:/bin",
                         "--", DOVECOT_POP3, "-c", conf]
    else:
        args = common + ["--uid=%d" % uid, "--gid=%d" % uid,
                         "--env=AUTHENTICATED=" + user, "--env=HOME=" + w,
                         "--env=TCPREMOTEIP=127.0.0.1",
                         "--env=PATH=/usr/bin:/bin", "--", COURIER, drop]
    return drop, args


def popbench(args, label, res_dir, name):
    cmd = [POPBENCH, "--label=" + label] + args
    r = subprocess.run(cmd, stdout=subprocess.PIPE)
    path = os.path.join(res_dir, name + ".json")
    with open(path, "wb") as f:
        f.write(r.stdout)
    with open(os.path.join(res_dir, name + ".cmd"), "w") as f:
        f.write(" ".join(cmd) + "\n")
    try:
        return json.loads(r.stdout)
    except ValueError:
        sys.exit("bench: popbench gave no result for %s (exit %d); see %s"
                 % (name, r.returncode, path))


def data_args(profile, fmt, drop):
    d = os.path.join(DATA, profile)
    return ["--format=" + fmt, "--drop=" + drop,
            "--append-src=" + os.path.join(
                d, "append.mbox" if fmt == "mbox" else "append.maildir"),
            "--blob=" + os.path.join(d, "blob." + fmt),
            "--manifest=" + os.path.join(d, "manifest"),
            "--seed=%d" % SEED]


def one_server(server, fmt, profile, res_dir, tag, extra=()):
    label = server + "".join(extra)
    _, eargs = prepare(server, fmt, profile, empty=True)
    login = popbench(["--scenario=login", "--reps=5"] + list(extra) + eargs,
                     label, res_dir, "%s-%s-%s-login" % (tag, label, fmt))
    drop, args = prepare(server, fmt, profile)
    rec = []
    if server == "pop3d" and not extra:
        rec = ["--record=" + os.path.join(WORK, "record-%s" % fmt)]
    full = popbench(["--scenario=full"] + list(extra) + rec +
                    data_args(profile, fmt, drop) + args, label, res_dir,
                    "%s-%s-%s-full" % (tag, label, fmt))
    s = full["sessions"]
    errs = full["errors"] + login["errors"]
    log("  %-8s %-7s open %.3f s, retr1 %.3f s, retrP %.3f s, update %.3f s,"
        " rss %d KiB, %d deviations" % (
            label, fmt, s["first"]["to_stat"],
            s["retr_one"]["phases"].get("retr", {}).get("time", -1),
            s["retr_pipelined"]["phases"].get("retr", {}).get("time", -1),
            s["update"]["phases"].get("quit", {}).get("time", -1),
            max(x["server"]["maxrss_kb"] for x in s.values()), errs))
    if errs:
        for x in list(s.values()) + list(login["sessions"].values()):
            for e in x["error_list"][:3]:
                log("    " + e)
    return server == "pop3d" and not extra


def ceiling(fmt, profile, res_dir, tag):
    rec = os.path.join(WORK, "record-%s" % fmt)
    args = ["--scenario=replay", "--user=x", "--pass=x"] + \
        data_args(profile, fmt, "/nonexistent") + ["--", "/bin/cat", rec]
    popbench(args, "client-ceiling", res_dir,
             "%s-ceiling-%s" % (tag, fmt))


def cpu_busy():
    """(busy jiffies of the whole machine, CPU seconds of our children)."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:]]
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (sum(v) - v[3] - v[4]) / os.sysconf("SC_CLK_TCK"), \
        ru.ru_utime + ru.ru_stime


def bench_profile(profile, runs, res_dir):
    log("profile %s: %d runs" % (profile, runs))
    for r in range(runs):
        busy0, ours0, t0 = cpu_busy() + (time.time(),)
        tag = "%s-run%d" % (profile, r)
        b = baselines(profile)
        with open(os.path.join(res_dir, tag + "-baselines.json"), "w") as f:
            json.dump(b, f)
        log(" run %d: cat %.4f s, grep -c %.4f s (%d From_ lines), cat "
            "Maildir %.4f s" % (r, b["cat_mbox"], b["grep_mbox"],
                                b["grep_count"], b["cat_maildir"]))
        for fmt in ("mbox", "maildir"):
            for server in SERVERS[fmt]:
                if one_server(server, fmt, profile, res_dir, tag):
                    ceiling(fmt, profile, res_dir, tag)
            # pop3d over loopback TCP (fd 0 an accepted socket, as inetd
            # gives it), beside the socketpair of every other row: once
            # per profile, its effect is far larger than the noise.
            if profile != "big" and r == 0:
                one_server("pop3d", fmt, profile, res_dir, tag, ("--tcp",))
        busy1, ours1, t1 = cpu_busy() + (time.time(),)
        load = {"seconds": t1 - t0, "busy_cpu": busy1 - busy0,
                "our_cpu": ours1 - ours0,
                "others_cores": max(0.0, (busy1 - busy0 - (ours1 - ours0)) /
                                    (t1 - t0))}
        with open(os.path.join(res_dir, tag + "-load.json"), "w") as f:
            json.dump(load, f)
        log(" run %d: %.0f s; other processes used %.2f cores meanwhile" % (
            r, load["seconds"], load["others_cores"]))


ALL_PROFILES = ["small", "big", "huge"]
SEED = int(os.environ.get("BENCH_SEED", "1939"))
HASH = ""


def main():
    global HASH
    profiles = (os.environ.get("BENCH_PROFILES") or
                " ".join(ALL_PROFILES)).split()
    for p in profiles:
        if p not in ALL_PROFILES:
            sys.exit("bench: unknown profile %s (%s)" % (
                p, " ".join(ALL_PROFILES)))
    if os.environ.get("POP3D_BENCH_NS") != "1":
        setup()
        run([sys.executable, os.path.join(BENCH, "gen.py"), "--out", DATA,
             "--seed", str(SEED)] + profiles)
        enter_namespace()
    # Other work on the machine disturbs the timings: take precedence.
    os.nice(-10)
    os.makedirs(WORK, exist_ok=True)
    setup_namespace()
    HASH = subprocess.run([POP3D, "--hash", "--hash-ops=1", "--hash-mem=8"],
                          input=PASSWORD + "\n", capture_output=True,
                          text=True, check=True).stdout.strip()
    stamp = time.strftime("%Y%m%d-%H%M%S")
    res_dir = os.path.join(OUT, "results", stamp)
    os.makedirs(res_dir)
    meta = {"machine": machine(), "versions": versions(), "seed": SEED,
            "profiles": profiles, "started": stamp,
            "hostname": socket.gethostname()}
    t0 = time.time()
    for p in profiles:
        runs = int(os.environ.get("BENCH_RUNS") or
                   ("5" if p == "small" else "3"))
        meta.setdefault("runs", {})[p] = runs
        bench_profile(p, runs, res_dir)
    meta["seconds"] = round(time.time() - t0)
    with open(os.path.join(res_dir, "meta.json"), "w") as f:
        json.dump(meta, f, indent=1)
    log("results in %s (%d s)" % (res_dir, meta["seconds"]))
    # The work copies take gigabytes: keep only the results.
    for name in os.listdir(WORK):
        path = os.path.join(WORK, name)
        if name == "spool":
            for f in os.listdir(path):
                os.unlink(os.path.join(path, f))
        elif os.path.isdir(path):
            shutil.rmtree(path)
        else:
            os.unlink(path)
    # Only a run of every profile replaces BENCHMARKS.md.
    if sorted(profiles) == sorted(ALL_PROFILES):
        dest = os.path.join(TOP, "BENCHMARKS.md")
    else:
        dest = os.path.join(OUT, "BENCHMARKS-%s.md" % "-".join(profiles))
    run([sys.executable, os.path.join(BENCH, "report.py"), res_dir, dest])


if __name__ == "__main__":
    main()
