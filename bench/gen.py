#!/usr/bin/env python3
"""bench/gen.py: make the benchmark's maildrops, deterministically.

For one profile it writes, under OUT/PROFILE/:
  mbox            the messages as a Unix mailbox (LF line ends, each message
                  followed by one empty line, body "From " lines after an
                  empty line escaped as ">From ", as Debian's MDAs write them)
  maildir/        the same messages as Maildir files in new/ (not escaped)
  append.mbox     a few more messages, to append between sessions (an MDA)
  append.maildir/ the same few as Maildir files
  blob.mbox       every message's content as an mbox server must send it
  blob.maildir    every message's content as a Maildir server must send it
  manifest        one line per message: seq set mbox_off mbox_len
                  maildir_off maildir_len maildir_name  (set 0 = initial,
                  1 = appended; offsets into the blobs)
  STAMP           generator version, seed and profile; a matching STAMP
                  means the data is reused as it is

Every message carries "Message-ID: <bench-SEED-SEQ@...>", which is how the
client finds the original of whatever a server sends.
"""

import argparse
import base64
import os
import random
import shutil
import sys
import time

GEN_VERSION = 3

KIB = 1024
MIB = 1024 * 1024

# name: (messages, target octets, appended messages, size mix)
# A size mix is a list of (weight, low, high): sizes are log-uniform in
# [low, high); the samples are then scaled so the total hits the target.
PROFILES = {
    "small": (2000, 20 * MIB, 20, [
        (85.0, 2 * KIB, 10 * KIB),
        (13.4, 10 * KIB, 50 * KIB),
        (1.5, 50 * KIB, 500 * KIB),
        (0.1, 1 * MIB, 4 * MIB),
    ]),
    "big": (20000, 500 * MIB, 200, [
        (77.0, 2 * KIB, 10 * KIB),
        (17.7, 10 * KIB, 50 * KIB),
        (5.0, 50 * KIB, 500 * KIB),
        (0.3, 1 * MIB, 5 * MIB),
    ]),
    "huge": (1, 100 * MIB, 1, None),
}

SYLLABLES = ("ka ri to ne sa mu lo vi de pa ga ru mi te so na be ko ji "
             "ha el an or is ul em ti ob ex ad").split()
DOMAINS = ["example.org", "example.net", "mail.example.com", "lists.example.org",
           "corp.example", "news.example.net"]
EPOCH = 1764000000  # first message's delivery time


def words(rnd, n):
    out = []
    for _ in range(n):
        out.append("".join(rnd.choice(SYLLABLES)
                           for _ in range(rnd.randint(1, 4))))
    return out


class Text:
    """Lines of prose, drawn from a pool so that 500 MB stays quick."""

    def __init__(self, rnd):
        self.rnd = rnd
        vocab = words(rnd, 3000)
        self.pool = []
        for _ in range(4000):
            line = []
            width = rnd.randint(38, 76)
            while sum(len(w) + 1 for w in line) < width:
                line.append(rnd.choice(vocab))
            s = " ".join(line)
            if rnd.random() < 0.1:
                s = s[0].upper() + s[1:] + "."
            self.pool.append(s)

    def body(self, size, seq):
        """About size octets of paragraphs, as (mbox, maildir) line lists.

        Besides prose: lines that start with a dot (a lone "." and ".."
        too), "From " lines that start a paragraph (escaped in the mbox,
        as MDAs do) and, in one message in seven, rarely, a "From " line
        inside a paragraph, which no MDA escapes and which must not split
        the message (RFC 4155: a separator follows an empty line)."""
        rnd = self.rnd
        mb, md = [], []
        total = 0
        while total < size:
            if mb:
                mb.append("")
                md.append("")
                total += 1
            for i in range(rnd.randint(2, 9)):
                r = rnd.random()
                if i == 0 and rnd.random() < 0.02:
                    s = "From %s, as promised, the notes follow." % \
                        rnd.choice(DOMAINS)
                    mb.append(">" + s)
                    md.append(s)
                    total += len(s) + 1
                    continue
                if r < 0.015:
                    s = "." + rnd.choice(self.pool)
                elif r < 0.017:
                    s = "."
                elif r < 0.018:
                    s = ".."
                elif i > 0 and r < 0.0185 and seq % 7 == 3:
                    s = "From the archive: " + rnd.choice(self.pool)
                else:
                    s = rnd.choice(self.pool)
                mb.append(s)
                md.append(s)
                total += len(s) + 1
        return mb, md


def headers(rnd, seq, seed, t, multipart, boundary):
    dom = rnd.choice(DOMAINS)
    sender = "user%d@%s" % (rnd.randint(1, 400), dom)
    qid = "%X" % rnd.getrandbits(40)
    date = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime(t))
    h = [
        "Return-Path: <%s>" % sender,
        "X-Original-To: bench@bench.example",
        "Delivered-To: bench@bench.example",
        "Received: from mx%d.%s (mx%d.%s [192.0.2.%d])" % (
            seq % 9, dom, seq % 9, dom, seq % 250 + 1),
        "\tby mx.bench.example (Postfix) with ESMTPS id %s" % qid,
        "\tfor <bench@bench.example>; %s" % date,
    ]
    if rnd.random() < 0.6:
        sig = base64.b64encode(rnd.randbytes(192)).decode()
        h.append("DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; "
                 "d=%s; s=sel1;" % dom)
        h.append("\th=from:to:subject:date:message-id; bh=%s;" %
                 base64.b64encode(rnd.randbytes(32)).decode())
        for i in range(0, len(sig), 70):
            h.append("\t" + ("b=" if i == 0 else "") + sig[i:i + 70])
    h += [
        "Message-ID: <bench-%d-%d@%s>" % (seed, seq, dom),
        "From: User %d <%s>" % (seq % 400, sender),
        "To: Bench <bench@bench.example>",
        "Subject: %s" % " ".join(words(rnd, rnd.randint(2, 8))),
        "Date: %s" % date,
        "MIME-Version: 1.0",
    ]
    if multipart:
        h.append('Content-Type: multipart/mixed; boundary="%s"' % boundary)
    else:
        h.append("Content-Type: text/plain; charset=utf-8")
        h.append("Content-Transfer-Encoding: 8bit")
    return h


def message(rnd, text, seq, seed, size, t):
    """One message of about size octets: (mbox content, maildir content)."""
    multipart = size >= 50 * KIB
    boundary = "=_bench_%d_%x" % (seq, rnd.getrandbits(32))
    h = headers(rnd, seq, seed, t, multipart, boundary)
    hlen = sum(len(x) + 1 for x in h) + 1
    if not multipart:
        mb, md = text.body(max(size - hlen, 80), seq)
    else:
        tb, td = text.body(rnd.randint(600, 3000), seq)
        pre = ["This is a multi-part message in MIME format.", "",
               "--" + boundary,
               "Content-Type: text/plain; charset=utf-8", ""]
        att = max(size - hlen - sum(len(x) + 1 for x in tb) - 400, 1000)
        raw = rnd.randbytes(att * 3 // 4)
        b64 = base64.encodebytes(raw).decode().rstrip("\n").split("\n")
        mid = ["", "--" + boundary,
               "Content-Type: application/octet-stream; name=\"f%d.bin\"" % seq,
               "Content-Transfer-Encoding: base64",
               "Content-Disposition: attachment; filename=\"f%d.bin\"" % seq,
               ""]
        end = ["", "--" + boundary + "--"]
        mb = pre + tb + mid + b64 + end
        md = pre + td + mid + b64 + end
    head = "\n".join(h) + "\n\n"
    return (head + "\n".join(mb) + "\n").encode(), \
        (head + "\n".join(md) + "\n").encode()


def sizes(rnd, n, target, mix):
    if mix is None:
        return [target] * n
    total_w = sum(w for w, _, _ in mix)
    out = []
    for _ in range(n):
        x = rnd.random() * total_w
        for w, lo, hi in mix:
            if x < w:
                break
            x -= w
        out.append(lo * (hi / lo) ** rnd.random())
    k = target / sum(out)
    return [max(int(s * k), 1200) for s in out]


def maildir_name(seq, t):
    return "%d.V801I%xM%06d.bench.example" % (t, 0x40000 + seq, seq % 1000000)


def generate(profile, out, seed):
    n, target, nappend, mix = PROFILES[profile]
    rnd = random.Random("%d/%s" % (seed, profile))
    text = Text(rnd)
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    for d in ("maildir/new", "maildir/cur", "maildir/tmp", "append.maildir"):
        os.makedirs(os.path.join(tmp, d))
    sz = sizes(rnd, n, target, mix) + sizes(rnd, nappend, 4 * KIB * nappend,
                                             [(1, 2 * KIB, 8 * KIB)])
    files = {name: open(os.path.join(tmp, name), "wb") for name in
             ("mbox", "append.mbox", "blob.mbox", "blob.maildir", "manifest")}
    off_mb = off_md = 0
    for seq in range(n + nappend):
        t = EPOCH + seq * 37
        mb, md = message(rnd, text, seq, seed, sz[seq], t)
        appended = seq >= n
        sender = "user%d@%s" % (seq % 400, DOMAINS[seq % len(DOMAINS)])
        from_ = "From %s %s\n" % (sender, time.asctime(time.gmtime(t)))
        f = files["append.mbox" if appended else "mbox"]
        f.write(from_.encode() + mb + b"\n")
        name = maildir_name(seq, t)
        sub = "append.maildir" if appended else "maildir/new"
        with open(os.path.join(tmp, sub, name), "wb") as g:
            g.write(md)
        files["blob.mbox"].write(mb)
        files["blob.maildir"].write(md)
        files["manifest"].write(("%d %d %d %d %d %d %s\n" % (
            seq, int(appended), off_mb, len(mb), off_md, len(md),
            name)).encode())
        off_mb += len(mb)
        off_md += len(md)
    for f in files.values():
        f.close()
    with open(os.path.join(tmp, "STAMP"), "w") as f:
        f.write(stamp(profile, seed))
    shutil.rmtree(out, ignore_errors=True)
    os.rename(tmp, out)


def stamp(profile, seed):
    return "gen %d seed %d profile %s\n" % (GEN_VERSION, seed, profile)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=1939)
    ap.add_argument("profiles", nargs="+", choices=sorted(PROFILES))
    a = ap.parse_args()
    for p in a.profiles:
        out = os.path.join(a.out, p)
        try:
            with open(os.path.join(out, "STAMP")) as f:
                if f.read() == stamp(p, a.seed):
                    print("gen: %s: reusing %s" % (p, out))
                    continue
        except OSError:
            pass
        t0 = time.time()
        print("gen: %s: generating into %s ..." % (p, out), flush=True)
        generate(p, out, a.seed)
        print("gen: %s: done in %.1f s" % (p, time.time() - t0), flush=True)


if __name__ == "__main__":
    sys.exit(main())
