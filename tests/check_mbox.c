/* tests/check_mbox.c: Check tests for mbox.c through maildrop.c: the scan
 * (boundaries, sizes, UIDLs), RETR of what was scanned, locking, and
 * UPDATE's result byte for byte.  Fixtures: the .mbox files in tests/data. */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <utime.h>

#include "pop3d.h"
#include "tests/sendlib.h"
#include "tests/testlib.h"

#define DATA_DIR	"tests/data/"
#define BIG_LINE	(1024 * 1024)
#define RANDOM_MBOXES	40
#define RANDOM_MSGS_MAX	40
#define PATH_LEN	256
#define CRASHED		99	/* exit status of a simulated kill */
#define CRASH_POINTS_MAX	500
#define JMAGIC		"POP3DJ2\n"
#define TSTASH_MIN	(64 * 1024)	/* mbox.c STASH_MIN */
#define MSGS_MAX	64

/* What the scan must find for one message. */
struct want {
	off_t		 from, off, len;
	uint64_t	 size;
	const char	*body;		/* the octets [off, off+len) */
	size_t		 bodylen;
};
#define W(from, off, len, size, body)	\
	{ from, off, len, size, body, sizeof(body) - 1 }

/* A message as the reference parser sees it. */
struct ref {
	size_t	from, off, len;
};

/* The journal's format (mbox.c, pop3d(8) DURABILITY), for journals made
 * by hand: the header, the kept segments, room for a stash record, then
 * the records. */
struct tjhdr {
	char		 magic[8];
	uint64_t	 s0, start, f, nsegs, stash, mlen;
	unsigned char	 marker[16];
	unsigned char	 hash[32];
};
struct jseg_t {
	uint64_t	 off, len;
};
struct tjrec {
	uint64_t	 kind, d, n;
	unsigned char	 sum[16];
};

/* A journal to make: the stash reserved, progress records, whether the
 * marker is recorded, and a stash record for the round at sd of sn
 * octets (none if sn is 0), spoilt if torn. */
struct jplan {
	uint64_t	 stash;
	uint64_t	 prog[8];
	size_t		 nprog;
	int		 marked;
	uint64_t	 sd, sn;
	int		 torn;
};

static void	 setup(void);
static void	 teardown(void);
static int	 rm_one(const char *, const struct stat *, int, struct FTW *);
static void	 buf_write(const char *, const void *, size_t, int);
static void	 copy_fixture(const char *);
static int	 exists(const char *);
static void	 check_no_leftovers(const char *);
static void	 open_ok(struct maildrop *, const char *);
static size_t	 ref_parse(const char *, size_t, struct ref *, size_t);
static void	 check_fixture(const char *, const struct want *, size_t);
static void	 update_plain(const int *);
static uint32_t	 rnd(uint32_t *);
static size_t	 gen_mbox(char *, size_t, uint32_t *);
static int	 fcntl_free(const char *);
static void	*libc(const char *);
static int	 maybe_crash(int, const void *, size_t, off_t);
static void	 append_to(char *, size_t *, const char *, size_t);
static void	 crash_run(const char *, size_t, const int *, const char *,
		    int);
static void	 crash_recovery(const char *, size_t, const char *, size_t);
static void	 check_old_or_new(const char *, size_t, const char *, size_t,
		    int *, int *);
static size_t	 build_mbox(char *, const size_t *, size_t);
static size_t	 new_content(const char *, size_t, const int *, char *,
		    struct jseg_t *, size_t *, size_t *);
static void	 jrec_sum(const struct tjhdr *, struct tjrec *, const char *);
static void	 make_journal(const char *, size_t, const int *,
		    const struct jplan *, char *, size_t *);
static void	 recover_exact(const char *, size_t);
static void	 update_exact(const char *, size_t, const int *, char *,
		    size_t *);
static size_t	 mid_mbox(char *, const int **);
static Suite	*mbox_suite(void);
static size_t	 file_size(const char *);
static void	 full_scan(struct maildrop *);
static void	 same_msgs(const struct maildrop *, const struct maildrop *);
static void	 snap_close(struct maildrop *, struct maildrop *);
static void	 cached_open_is_full_scan(off_t);
static void	 stash_case(const struct jplan *, int);

static char	tmpdir[64];
static char	mbox[PATH_LEN];

/* Fault injection: when armed, the crash_at'th call that changes a file
 * ends the process on the spot, as SIGKILL or a power cut would, after
 * writing half of what it was asked (CRASH_TORN), or fails with EIO. */
enum crash_mode { CRASH_KILL, CRASH_TORN, CRASH_EIO, CRASH_MODES };
static int		crash_at, crash_calls;
static enum crash_mode	crash_mode;
static char		crash_where[128];	/* for failure messages */
/* What UPDATE did: copy_file_range refused (cfr_off) or its octets; the
 * octets pwrite wrote; the room the journal reserved last. */
static int		cfr_off;
static uint64_t		cfr_octets, pwrite_octets;
static off_t		fallocated;

/* The regions (From_ line to the next From_) of plain.mbox. */
static const off_t plain_from[] = { 0, 97, 203, 304 };

#define RETR(md, i, lines, w)	\
	expect_retr((md), (i), (lines), (w), sizeof(w) - 1)
#define NMSGS(w)	(sizeof(w) / sizeof((w)[0]))

/* ---- helpers ---- */

static void
setup(void)
{
	strcpy(tmpdir, "/tmp/check_mbox.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(mbox, sizeof(mbox), "%s/mbox", tmpdir);
}

static int
rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
teardown(void)
{
	(void)nftw(tmpdir, rm_one, 16, FTW_DEPTH | FTW_PHYS);
	mbox_scan_window = MBOX_SCAN_WINDOW;
	mbox_cache_racy_secs = CACHE_RACY_SECS;
}

/* Write (or with append, add) n octets of p to path. */
static void
buf_write(const char *path, const void *p, size_t n, int append)
{
	int	fd;

	fd = open(path, O_WRONLY | O_CREAT | (append ? O_APPEND : O_TRUNC),
	    0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
	close(fd);
}

static void
copy_fixture(const char *name)
{
	char		path[PATH_LEN];
	struct buf	b;

	snprintf(path, sizeof(path), DATA_DIR "%s", name);
	read_file(path, &b);
	buf_write(mbox, b.p, b.n, 0);
	free(b.p);
}

static int
exists(const char *path)
{
	struct stat	st;

	return lstat(path, &st) == 0;
}

/* Neither the dotlock nor a journal outlives a scan or an UPDATE. */
static void
check_no_leftovers(const char *path)
{
	static const char *const suffixes[] = {
		".lock", ".pop3d-journal", ".pop3d-journal.tmp",
		".pop3d-cache.tmp"
	};
	char	p[PATH_LEN + 32];
	size_t	i;

	for (i = 0; i < NMSGS(suffixes); i++) {
		snprintf(p, sizeof(p), "%s%s", path, suffixes[i]);
		ck_assert_msg(!exists(p), "%s left behind", p);
	}
}

static void
open_ok(struct maildrop *md, const char *path)
{
	ck_assert_int_eq(maildrop_open(md, path, &mbox_backend), MD_OK);
	ck_assert_ptr_eq(md->be, &mbox_backend);
	check_no_leftovers(path);
}

/* The messages of an mbox by the rules of SPEC (RFC 4155): a From_ line
 * at the start or after an empty line starts one; the empty line before
 * the next From_, or at the very end, is the mailbox's. */
static size_t
ref_parse(const char *b, size_t n, struct ref *out, size_t max)
{
	const char	*lf;
	size_t		 pos = 0, cnt = 0, ls, le, prev = 0;
	int		 prev_empty = 0;

	while (pos < n) {
		ls = pos;
		lf = memchr(b + pos, '\n', n - pos);
		le = lf != NULL ? (size_t)(lf - b) + 1 : n;
		if (n - ls >= 5 && memcmp(b + ls, "From ", 5) == 0 &&
		    (ls == 0 || prev_empty)) {
			ck_assert_uint_lt(cnt, max);
			if (cnt > 0) {
				out[cnt - 1].len = prev - out[cnt - 1].off;
			}
			out[cnt].from = ls;
			out[cnt++].off = le;
			prev_empty = 0;
		} else {
			prev_empty = lf != NULL && (le - ls == 1 ||
			    (le - ls == 2 && b[ls] == '\r'));
		}
		prev = ls;
		pos = le;
	}
	if (cnt > 0) {
		out[cnt - 1].len = (prev_empty ? prev : n) - out[cnt - 1].off;
	}
	return cnt;
}

/* Scan a copy of fixture name; each message must be as w says, be sent
 * as the model says, and have the size the sizer counts for it. */
static void
check_fixture(const char *name, const struct want *w, size_t n)
{
	struct maildrop	 md;
	struct sizer	 sz;
	struct buf	 file, got;
	char		*want;
	size_t		 i, wn;

	copy_fixture(name);
	read_file(mbox, &file);
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, n);
	ck_assert_int_eq(md.scanned, (off_t)file.n);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(md.msgs[i].from, w[i].from);
		ck_assert_int_eq(md.msgs[i].off, w[i].off);
		ck_assert_int_eq(md.msgs[i].len, w[i].len);
		ck_assert_uint_eq(md.msgs[i].size, w[i].size);
		ck_assert_uint_eq(md.msgs[i].len, w[i].bodylen);
		ck_assert_int_eq(memcmp(file.p + w[i].off, w[i].body,
		    w[i].bodylen), 0);
		ck_assert_uint_eq(ref_size(w[i].body, w[i].bodylen),
		    w[i].size);
		sizer_init(&sz);
		sizer_feed(&sz, w[i].body, w[i].bodylen);
		ck_assert_uint_eq(sizer_end(&sz), w[i].size);
		retr(&md, i, -1, &got);
		want = model_retr(w[i].body, w[i].bodylen, &wn);
		ck_assert_uint_eq(got.n, wn);
		ck_assert_int_eq(memcmp(got.p, want, wn), 0);
		free(want);
		free(got.p);
	}
	check_unique(&md);
	maildrop_close(&md);
	check_no_leftovers(mbox);
	free(file.p);
}

/* xorshift32: a fixed, repeatable sequence. */
static uint32_t
rnd(uint32_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 17;
	*s ^= *s << 5;
	return *s;
}

/* Can another process (an MDA) take the fcntl lock on path now? */
static int
fcntl_free(const char *path)
{
	struct flock	fl;
	pid_t		pid;
	int		fd, status;

	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		if ((fd = open(path, O_RDWR)) == -1) {
			_exit(2);
		}
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		_exit(fcntl(fd, F_SETLK, &fl) == 0 ? 0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status));
	return WEXITSTATUS(status) == 0;
}

/* ---- crashes: calls that change files, with a kill switch ----
 * These definitions take the place of libc's in this runner, so that a
 * test can stop UPDATE after any one of them; otherwise they pass the
 * call on to libc's own. */

/* libc's definition of name. */
static void *
libc(const char *name)
{
	void	*f;

	if ((f = dlsym(RTLD_NEXT, name)) == NULL) {
		abort();
	}
	return f;
}

typedef ssize_t	pwrite_fn(int, const void *, size_t, off_t);
typedef int	fd_fn(int);
typedef int	ftruncate_fn(int, off_t);
typedef int	path_fn(const char *);
typedef int	path2_fn(const char *, const char *);

/* Count a call; at the crash_at'th, die or return -1 to fail it. */
static int
maybe_crash(int fd, const void *p, size_t n, off_t off)
{
	if (crash_at == 0 || ++crash_calls != crash_at) {
		return 0;
	}
	if (crash_mode == CRASH_EIO) {
		errno = EIO;
		return -1;
	}
	if (crash_mode == CRASH_TORN && fd != -1 && n > 1) {
		(void)((pwrite_fn *)libc("pwrite"))(fd, p, n / 2, off);
	}
	_exit(CRASHED);
}

/* Set, the next mmap of a file cuts that file to nothing once it is
 * mapped: a program that ignores the locks, in the middle of a scan. */
static int	cut_on_mmap;
typedef void	*mmap_fn(void *, size_t, int, int, int, off_t);

void *
mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	void	*p = ((mmap_fn *)libc("mmap"))(addr, len, prot, flags, fd,
		    off);

	if (cut_on_mmap && p != MAP_FAILED && fd >= 0) {
		cut_on_mmap = 0;
		if (((ftruncate_fn *)libc("ftruncate"))(fd, 0) == -1) {
			abort();
		}
	}
	return p;
}

ssize_t
pwrite(int fd, const void *p, size_t n, off_t off)
{
	if (maybe_crash(fd, p, n, off) == -1) {
		return -1;
	}
	pwrite_octets += n;
	return ((pwrite_fn *)libc("pwrite"))(fd, p, n, off);
}

int
fsync(int fd)
{
	if (maybe_crash(-1, NULL, 0, 0) == -1) {
		return -1;
	}
	return ((fd_fn *)libc("fsync"))(fd);
}

int
fdatasync(int fd)
{
	if (maybe_crash(-1, NULL, 0, 0) == -1) {
		return -1;
	}
	return ((fd_fn *)libc("fdatasync"))(fd);
}

int
ftruncate(int fd, off_t len)
{
	if (maybe_crash(-1, NULL, 0, 0) == -1) {
		return -1;
	}
	return ((ftruncate_fn *)libc("ftruncate"))(fd, len);
}

int
rename(const char *from, const char *to)
{
	if (maybe_crash(-1, NULL, 0, 0) == -1) {
		return -1;
	}
	return ((path2_fn *)libc("rename"))(from, to);
}

int
unlink(const char *path)
{
	size_t	n = strlen(path);

	/* A dotlock that cannot be removed holds up everyone, this process
	 * too, until it goes stale: failing that is not worth a test. */
	if (crash_mode != CRASH_EIO || n < 5 ||
	    strcmp(path + n - 5, ".lock") != 0) {
		if (maybe_crash(-1, NULL, 0, 0) == -1) {
			return -1;
		}
	}
	return ((path_fn *)libc("unlink"))(path);
}

int
link(const char *from, const char *to)
{
	if (maybe_crash(-1, NULL, 0, 0) == -1) {
		return -1;
	}
	return ((path2_fn *)libc("link"))(from, to);
}

typedef ssize_t	cfr_fn(int, off_t *, int, off_t *, size_t, unsigned int);
typedef int	falloc_fn(int, off_t, off_t);

ssize_t
copy_file_range(int in, off_t *inoff, int out, off_t *outoff, size_t n,
    unsigned int flags)
{
	ssize_t	r;

	if (cfr_off) {
		errno = ENOSYS;
		return -1;
	}
	if (crash_at != 0 && crash_calls + 1 == crash_at &&
	    crash_mode == CRASH_TORN && n > 1) {
		(void)((cfr_fn *)libc("copy_file_range"))(in, inoff, out,
		    outoff, n / 2, flags);
		_exit(CRASHED);
	}
	if (maybe_crash(-1, NULL, 0, 0) == -1) {
		return -1;
	}
	r = ((cfr_fn *)libc("copy_file_range"))(in, inoff, out, outoff, n,
	    flags);
	if (r > 0) {
		cfr_octets += (uint64_t)r;
	}
	return r;
}

int
posix_fallocate(int fd, off_t off, off_t len)
{
	fallocated = len;
	if (maybe_crash(-1, NULL, 0, 0) == -1) {
		return EIO;
	}
	return ((falloc_fn *)libc("posix_fallocate"))(fd, off, len);
}

static void
append_to(char *dst, size_t *n, const char *src, size_t len)
{
	memcpy(dst + *n, src, len);
	*n += len;
}

/* The mailbox, once the next session has opened it, must be the old or
 * the new one, whole; which one it is goes to *saw_old or *saw_new. */
static void
check_old_or_new(const char *old, size_t oldn, const char *fin, size_t finn,
    int *saw_old, int *saw_new)
{
	char		lock[PATH_LEN + 8];
	struct maildrop	md;
	struct buf	now;

	/* A dead holder's dotlock goes stale in time. */
	snprintf(lock, sizeof(lock), "%s.lock", mbox);
	(void)unlink(lock);
	open_ok(&md, mbox);
	maildrop_close(&md);
	read_file(mbox, &now);
	if (now.n == finn && memcmp(now.p, fin, finn) == 0) {
		*saw_new = 1;
	} else {
		ck_assert_msg(now.n == oldn && memcmp(now.p, old, oldn) == 0,
		    "mailbox is neither old nor new (%zu octets) after %s",
		    now.n, crash_where);
		*saw_old = 1;
	}
	free(now.p);
}

/* The recovery of what a killed UPDATE left, itself killed at each of
 * its steps in turn or failing there, then run to its end. */
static void
crash_recovery(const char *old, size_t oldn, const char *fin, size_t finn)
{
	static const char *const suffixes[] = {
		"", ".pop3d-journal", ".pop3d-journal.tmp"
	};
	static const enum crash_mode modes[] = { CRASH_KILL, CRASH_EIO };
	struct buf	 snap[3];
	struct maildrop	 md;
	char		 path[PATH_LEN + 32], where[64];
	size_t		 i, m;
	int		 point, r, status, saw_old = 0, saw_new = 0;
	pid_t		 pid;

	snprintf(where, sizeof(where), "%.*s", (int)sizeof(where) - 1,
	    crash_where);

	for (i = 0; i < 3; i++) {
		snprintf(path, sizeof(path), "%s%s", mbox, suffixes[i]);
		snap[i].p = NULL;
		if (exists(path)) {
			read_file(path, &snap[i]);
		}
	}
	for (m = 0; m < NMSGS(modes); m++) {
		for (point = 1; point < CRASH_POINTS_MAX; point++) {
			for (i = 0; i < 3; i++) {
				snprintf(path, sizeof(path), "%s%s", mbox,
				    suffixes[i]);
				(void)unlink(path);
				if (snap[i].p != NULL) {
					buf_write(path, snap[i].p, snap[i].n,
					    0);
				}
			}
			ck_assert_int_ne(pid = fork(), -1);
			if (pid == 0) {
				crash_mode = modes[m];
				crash_at = point;
				r = maildrop_open(&md, mbox, &mbox_backend) ==
				    MD_OK ? 0 : 1;
				/* 2 and 3: no step was made to fail. */
				_exit(r + (crash_calls < crash_at ? 2 : 0));
			}
			ck_assert_int_eq(waitpid(pid, &status, 0), pid);
			ck_assert(WIFEXITED(status));
			status = WEXITSTATUS(status);
			snprintf(crash_where, sizeof(crash_where),
			    "%s, then recovery %s at step %d", where,
			    m == 0 ? "killed" : "failing", point);
			ck_assert_msg(status == CRASHED || status == 0 ||
			    status == 2 || (status == 1 && m == 1),
			    "recovery failed (%d) after %s", status,
			    crash_where);
			check_old_or_new(old, oldn, fin, finn, &saw_old,
			    &saw_new);
			if (status == 2) {
				break;
			}
		}
		ck_assert_int_lt(point, CRASH_POINTS_MAX);
	}
	for (i = 0; i < 3; i++) {
		free(snap[i].p);
	}
}

/* UPDATE of file f (n octets) deleting the messages del[] marks, killed
 * at each step in turn (or with that step's write cut in half, or that
 * step failing); each time the next session, with more mail appended
 * meanwhile if more is not NULL, must find either the old mailbox or the
 * new one, whole, plus the new mail.  With nest, the recovery from each
 * kill that left a journal is itself killed, or failed, at each of its
 * steps. */
static void
crash_run(const char *f, size_t n, const int *del, const char *more,
    int nest)
{
	char		 jpath[PATH_LEN + 32];
	struct ref	 ref[MSGS_MAX];
	struct maildrop	 md;
	char		*fin, *old;
	size_t		 nref, i, finn, oldn, mn;
	int		 point, mode, r, status, saw_old = 0, saw_new = 0;
	pid_t		 pid;

	mn = more != NULL ? strlen(more) : 0;
	nref = ref_parse(f, n, ref, MSGS_MAX);
	fin = xcalloc(n + mn + 1, 1);
	old = xcalloc(n + mn + 1, 1);
	for (i = 0, finn = 0; i < nref; i++) {
		if (!del[i]) {
			append_to(fin, &finn, f + ref[i].from, (i + 1 < nref ?
			    ref[i + 1].from : n) - ref[i].from);
		}
	}
	memcpy(old, f, n);
	oldn = n;
	append_to(fin, &finn, more ? more : "", mn);
	append_to(old, &oldn, more ? more : "", mn);
	for (mode = 0; mode < CRASH_MODES; mode++) {
		for (point = 1; point < CRASH_POINTS_MAX; point++) {
			buf_write(mbox, f, n, 0);
			ck_assert_int_ne(pid = fork(), -1);
			if (pid == 0) {
				if (maildrop_open(&md, mbox, &mbox_backend) !=
				    MD_OK || md.nmsgs != nref) {
					_exit(4);
				}
				for (i = 0; i < nref; i++) {
					md.msgs[i].deleted = del[i];
				}
				crash_mode = (enum crash_mode)mode;
				crash_at = point;
				r = maildrop_update(&md) == MD_OK ? 0 : 1;
				/* 2 and 3: no step was made to fail. */
				_exit(r + (crash_calls < crash_at ? 2 : 0));
			}
			ck_assert_int_eq(waitpid(pid, &status, 0), pid);
			ck_assert(WIFEXITED(status));
			status = WEXITSTATUS(status);
			snprintf(crash_where, sizeof(crash_where),
			    "UPDATE %s at step %d%s",
			    mode == CRASH_EIO ? "failing" : "killed", point,
			    mode == CRASH_TORN ? " (write torn)" : "");
			/* Only an injected failure may fail UPDATE. */
			ck_assert_msg(status == CRASHED || status == 0 ||
			    status == 2 || (status == 1 && mode == CRASH_EIO),
			    "%s: exit status %d", crash_where, status);
			if (more != NULL) {
				buf_write(mbox, more, mn, 1);
			}
			snprintf(jpath, sizeof(jpath), "%s.pop3d-journal",
			    mbox);
			if (nest && status == CRASHED && mode == CRASH_KILL &&
			    exists(jpath)) {
				crash_recovery(old, oldn, fin, finn);
			} else {
				check_old_or_new(old, oldn, fin, finn,
				    &saw_old, &saw_new);
			}
			if (status == 2) {
				break;	/* UPDATE ran to its end */
			}
		}
		ck_assert_int_lt(point, CRASH_POINTS_MAX);
	}
	ck_assert(saw_old && saw_new);
	free(fin);
	free(old);
}

/* ---- fixtures ---- */

START_TEST(test_plain)
{
	static const struct want w[] = {
		W(0, 48, 48, 52, "From: alice@example.org\nSubject: one\n\n"
		    "Body one.\n"),
		W(97, 143, 59, 64, "From: bob@example.org\nSubject: two\n\n"
		    "Body two,\nsecond line.\n"),
		W(203, 251, 52, 56, "From: carol@example.org\n"
		    "Subject: three\n\nBody three.\n"),
	};
	struct maildrop	md;
	size_t		i;

	check_fixture("plain.mbox", w, NMSGS(w));
	open_ok(&md, mbox);
	for (i = 0; i < md.nmsgs; i++) {
		ck_assert(is_hash_uidl(md.msgs[i].uidl));
	}
	ck_assert_uint_eq(md.total, 52 + 64 + 56);
	RETR(&md, 0, -1, "From: alice@example.org\r\nSubject: one\r\n\r\n"
	    "Body one.\r\n.\r\n");
	RETR(&md, 1, 0, "From: bob@example.org\r\nSubject: two\r\n\r\n.\r\n");
	RETR(&md, 1, 1, "From: bob@example.org\r\nSubject: two\r\n\r\n"
	    "Body two,\r\n.\r\n");
	maildrop_close(&md);
}
END_TEST

START_TEST(test_crlf)
{
	static const struct want w[] = {
		W(0, 49, 52, 52, "From: alice@example.org\r\n"
		    "Subject: one\r\n\r\nBody one.\r\n"),
		W(103, 150, 80, 80, "From: bob@example.org\r\n"
		    "X-UIDL: crlf-2\r\nSubject: two\r\n\r\n"
		    "Body two,\r\nsecond line.\r\n"),
		W(232, 281, 56, 56, "From: carol@example.org\r\n"
		    "Subject: three\r\n\r\nBody three.\r\n"),
	};
	struct maildrop	md;

	check_fixture("crlf.mbox", w, NMSGS(w));
	open_ok(&md, mbox);
	ck_assert(is_hash_uidl(md.msgs[0].uidl));
	ck_assert_str_eq(md.msgs[1].uidl, "crlf-2");
	ck_assert(is_hash_uidl(md.msgs[2].uidl));
	RETR(&md, 2, -1, "From: carol@example.org\r\nSubject: three\r\n\r\n"
	    "Body three.\r\n.\r\n");
	maildrop_close(&md);
}
END_TEST

START_TEST(test_from_in_body)
{
	static const struct want w[] = {
		W(0, 48, 138, 146, "Subject: quoting\n\nDear Bob,\n"
		    "From now on, this is body text.\n"
		    ">From here too, sent as stored.\n>>From and this.\n\n"
		    "Fromage is not a separator.\n"),
		W(187, 233, 72, 78, "Subject: second\n\nHello\n"
		    "From me to you.\n\n>From the start of a paragraph.\n"),
	};
	struct maildrop	md;

	check_fixture("from-body.mbox", w, NMSGS(w));
	open_ok(&md, mbox);
	RETR(&md, 1, -1, "Subject: second\r\n\r\nHello\r\nFrom me to you.\r\n"
	    "\r\n>From the start of a paragraph.\r\n.\r\n");
	maildrop_close(&md);
}
END_TEST

START_TEST(test_dots)
{
	static const struct want w[] = {
		W(0, 34, 37, 44, "Subject: dots\n\n.\n..\n.hidden\ntext.\n"
		    ". \n"),
		W(72, 106, 30, 34, "Subject: dot end\n\nlast line\n.\n"),
	};
	struct maildrop	md;

	check_fixture("dots.mbox", w, NMSGS(w));
	open_ok(&md, mbox);
	RETR(&md, 0, -1, "Subject: dots\r\n\r\n..\r\n...\r\n..hidden\r\n"
	    "text.\r\n.. \r\n.\r\n");
	RETR(&md, 1, -1, "Subject: dot end\r\n\r\nlast line\r\n..\r\n.\r\n");
	RETR(&md, 0, 1, "Subject: dots\r\n\r\n..\r\n.\r\n");
	maildrop_close(&md);
}
END_TEST

START_TEST(test_empty_body)
{
	static const struct want w[] = {
		W(0, 34, 21, 23, "Subject: empty body\n\n"),
		W(56, 90, 0, 0, ""),
		W(91, 125, 31, 33, "Subject: last, empty body too\n\n"),
	};
	struct maildrop	md;

	check_fixture("empty-body.mbox", w, NMSGS(w));
	open_ok(&md, mbox);
	RETR(&md, 0, -1, "Subject: empty body\r\n\r\n.\r\n");
	RETR(&md, 1, -1, ".\r\n");
	RETR(&md, 1, 0, ".\r\n");
	ck_assert_str_ne(md.msgs[0].uidl, md.msgs[1].uidl);
	maildrop_close(&md);
}
END_TEST

START_TEST(test_no_final_newline)
{
	static const struct want w[] = {
		W(0, 34, 23, 26, "Subject: one\n\nbody one\n"),
		W(58, 92, 31, 35, "Subject: two\n\nno newline at end"),
	};
	struct maildrop	md;

	check_fixture("no-final-newline.mbox", w, NMSGS(w));
	open_ok(&md, mbox);
	RETR(&md, 1, -1, "Subject: two\r\n\r\nno newline at end\r\n.\r\n");
	maildrop_close(&md);
}
END_TEST

/* RFC 4155: one empty line at the end belongs to the mailbox. */
START_TEST(test_trailing_empty_lines)
{
	static const struct want w0[] = {
		W(0, 34, 23, 26, "Subject: one\n\nbody one\n"),
		W(58, 92, 23, 26, "Subject: two\n\nbody two\n"),
	};
	static const struct want w2[] = {
		W(0, 34, 23, 26, "Subject: one\n\nbody one\n"),
		W(58, 92, 24, 28, "Subject: two\n\nbody two\n\n"),
	};
	char		uidl0[UIDL_MAX + 1];
	struct maildrop	md;

	/* plain.mbox has the usual one; trailing0 none, trailing2 two. */
	check_fixture("trailing0.mbox", w0, NMSGS(w0));
	open_ok(&md, mbox);
	strcpy(uidl0, md.msgs[1].uidl);
	maildrop_close(&md);
	check_fixture("trailing2.mbox", w2, NMSGS(w2));
	open_ok(&md, mbox);
	RETR(&md, 1, -1, "Subject: two\r\n\r\nbody two\r\n\r\n.\r\n");
	/* The same header, another size: the same message to a client (the
	 * size is not in the UIDL, see test_uidl_fields). */
	ck_assert_str_eq(md.msgs[1].uidl, uidl0);
	maildrop_close(&md);
}
END_TEST

/* A content UIDL is made of the From_ line and the first Message-ID:,
 * Date: and Subject: fields with their continuation lines: what a mail
 * reader writes in place (Status:, X-Status:, X-Keywords:, other fields,
 * the body, and so the size) leaves it alone; any of those four changes
 * it.  (The octets are hashed as they are: names in another case or
 * another order make another UIDL, which no mail program does.) */
START_TEST(test_uidl_fields)
{
	static const char *const same[] = {
		"From a@b Mon Jan  1 00:00:00 2024\nMessage-ID: <1@b>\n"
		"Date: Mon, 1 Jan 2024\nSubject: s\n  folded\nTo: x\n\nbody\n",
		"From a@b Mon Jan  1 00:00:00 2024\nMessage-ID: <1@b>\n"
		"Status: RO\nX-Status: A\nDate: Mon, 1 Jan 2024\n"
		"Subject: s\n  folded\nTo: y\nX-Keywords: $x\n\nother body\n",
		"From a@b Mon Jan  1 00:00:00 2024\nMessage-ID: <1@b>\n"
		"Date: Mon, 1 Jan 2024\nSubject: s\n  folded\n"
		"Subject: a second one\nDate: another\n\n",
	};
	static const char *const other[] = {
		"From a@b Mon Jan  1 00:00:01 2024\nMessage-ID: <1@b>\n"
		"Date: Mon, 1 Jan 2024\nSubject: s\n  folded\n\nbody\n",
		"From a@b Mon Jan  1 00:00:00 2024\nMessage-ID: <2@b>\n"
		"Date: Mon, 1 Jan 2024\nSubject: s\n  folded\n\nbody\n",
		"From a@b Mon Jan  1 00:00:00 2024\nMessage-ID: <1@b>\n"
		"Date: Tue, 2 Jan 2024\nSubject: s\n  folded\n\nbody\n",
		"From a@b Mon Jan  1 00:00:00 2024\nMessage-ID: <1@b>\n"
		"Date: Mon, 1 Jan 2024\nSubject: s\n  unfolded\n\nbody\n",
		"From a@b Mon Jan  1 00:00:00 2024\nMessage-ID: <1@b>\n"
		"Date: Mon, 1 Jan 2024\nSubject: s\n\nbody\n",
	};
	char		first[UIDL_MAX + 1];
	struct maildrop	md;
	size_t		i;

	for (i = 0; i < NMSGS(same); i++) {
		buf_write(mbox, same[i], strlen(same[i]), 0);
		open_ok(&md, mbox);
		ck_assert_uint_eq(md.nmsgs, 1);
		if (i == 0) {
			strcpy(first, md.msgs[0].uidl);
		}
		ck_assert_str_eq(md.msgs[0].uidl, first);
		maildrop_close(&md);
	}
	for (i = 0; i < NMSGS(other); i++) {
		buf_write(mbox, other[i], strlen(other[i]), 0);
		open_ok(&md, mbox);
		ck_assert_uint_eq(md.nmsgs, 1);
		ck_assert_str_ne(md.msgs[0].uidl, first);
		maildrop_close(&md);
	}
}
END_TEST

START_TEST(test_nul)
{
	static const struct want w[] = {
		W(0, 34, 20, 24, "Subject: nul\n\nA\0B\n\0\n"),
		W(55, 89, 19, 22, "Subject: after\n\nok\n"),
	};
	struct maildrop	md;

	check_fixture("nul.mbox", w, NMSGS(w));
	open_ok(&md, mbox);
	RETR(&md, 0, -1, "Subject: nul\r\n\r\nA\0B\r\n\0\r\n.\r\n");
	maildrop_close(&md);
}
END_TEST

START_TEST(test_big_line)
{
	static const char head[] = "From a@b Mon Jan  1 00:00:00 2024\n"
	    "Subject: big\n\n";
	static const char tail[] = "\n\nFrom a@b Mon Jan  1 00:01:00 2024\n"
	    "Subject: after\n\nsmall\n\n";
	struct maildrop	 md;
	struct buf	 b;
	char		*f;
	size_t		 n = 0, hl = sizeof(head) - 1;

	f = xcalloc(hl + BIG_LINE + sizeof(tail), 1);
	memcpy(f, head, hl);
	n = hl;
	memset(f + n, 'x', BIG_LINE);
	f[n] = '.';
	n += BIG_LINE;
	memcpy(f + n, tail, sizeof(tail) - 1);
	n += sizeof(tail) - 1;
	buf_write(mbox, f, n, 0);
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, 2);
	ck_assert_int_eq(md.msgs[0].off, 34);
	ck_assert_int_eq(md.msgs[0].len, 14 + BIG_LINE + 1);
	ck_assert_uint_eq(md.msgs[0].size, 16 + BIG_LINE + 2);
	ck_assert_int_eq(md.msgs[1].from, (off_t)(hl + BIG_LINE + 2));
	ck_assert_uint_eq(md.msgs[1].size, 25);
	retr(&md, 0, -1, &b);
	ck_assert_uint_eq(b.n, 16 + 1 + BIG_LINE + 2 + 3);
	ck_assert_int_eq(memcmp(b.p, "Subject: big\r\n\r\n..xxx", 21), 0);
	ck_assert_int_eq(memcmp(b.p + b.n - 7, "xx\r\n.\r\n", 7), 0);
	free(b.p);
	RETR(&md, 0, 0, "Subject: big\r\n\r\n.\r\n");
	RETR(&md, 1, -1, "Subject: after\r\n\r\nsmall\r\n.\r\n");
	maildrop_close(&md);
	free(f);
}
END_TEST

/* ---- UIDLs ---- */

START_TEST(test_dup_messages)
{
	static const struct want w[] = {
		W(0, 34, 25, 28, "Subject: same\n\nsame body\n"),
		W(60, 94, 25, 28, "Subject: same\n\nsame body\n"),
		W(120, 154, 27, 30, "Subject: other\n\nother body\n"),
	};
	char		want[UIDL_MAX + 8];
	struct maildrop	md;

	check_fixture("dup.mbox", w, NMSGS(w));
	open_ok(&md, mbox);
	ck_assert(is_hash_uidl(md.msgs[0].uidl));
	snprintf(want, sizeof(want), "%s-2", md.msgs[0].uidl);
	ck_assert_str_eq(md.msgs[1].uidl, want);
	ck_assert(is_hash_uidl(md.msgs[2].uidl));
	maildrop_close(&md);
}
END_TEST

START_TEST(test_xuidl)
{
	char		v70[UIDL_MAX + 1];
	struct maildrop	md;

	memset(v70, 'V', UIDL_MAX);
	v70[UIDL_MAX] = '\0';
	copy_fixture("xuidl.mbox");
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, 8);
	ck_assert_str_eq(md.msgs[0].uidl, "abc");
	/* A copied X-UIDL cannot take another message's UIDL. */
	ck_assert_str_eq(md.msgs[1].uidl, "abc-2");
	/* Over 70 characters, or a space inside: ignored. */
	ck_assert(is_hash_uidl(md.msgs[2].uidl));
	ck_assert(is_hash_uidl(md.msgs[3].uidl));
	/* Any case, blanks around the value. */
	ck_assert_str_eq(md.msgs[4].uidl, "Trailing-WS-1");
	/* Only the header counts. */
	ck_assert(is_hash_uidl(md.msgs[5].uidl));
	/* An empty one is skipped for the next. */
	ck_assert_str_eq(md.msgs[6].uidl, "second-one");
	ck_assert_str_eq(md.msgs[7].uidl, v70);
	check_unique(&md);
	ck_assert_uint_eq(md.msgs[0].size, 32);
	ck_assert_uint_eq(md.msgs[7].size, 101);
	maildrop_close(&md);
}
END_TEST

/* An X-UIDL line counts up to 128 octets with its line end. */
START_TEST(test_xuidl_line_limit)
{
	char		f[1024];
	struct maildrop	md;
	size_t		n;

	/* 8 + 10 + 109 + 1 = 128 octets, then 129, then 128 with CRLF. */
	n = (size_t)snprintf(f, sizeof(f), "From a@b Mon Jan  1 00:00:00 "
	    "2024\nX-UIDL: 0123456789%109s\n\none\n\n"
	    "From a@b Mon Jan  1 00:01:00 2024\nX-UIDL: abcdefghij%110s\n"
	    "\ntwo\n\nFrom a@b Mon Jan  1 00:02:00 2024\n"
	    "X-UIDL: ABCDEFGHIJ%108s\r\n\r\nthree\r\n", "", "", "");
	buf_write(mbox, f, n, 0);
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, 3);
	ck_assert_str_eq(md.msgs[0].uidl, "0123456789");
	ck_assert(is_hash_uidl(md.msgs[1].uidl));
	ck_assert_str_eq(md.msgs[2].uidl, "ABCDEFGHIJ");
	maildrop_close(&md);
}
END_TEST

/* Sessions that end without QUIT, and byte-identical copies, see the
 * same UIDLs: they depend on content only. */
START_TEST(test_uidl_reopen_and_copy)
{
	char		saved[3][UIDL_MAX + 1], copy[PATH_LEN];
	struct maildrop	md;
	struct buf	b;
	size_t		i;

	copy_fixture("plain.mbox");
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, 3);
	for (i = 0; i < 3; i++) {
		strcpy(saved[i], md.msgs[i].uidl);
	}
	md.msgs[0].deleted = 1;	/* marked, but no UPDATE */
	maildrop_close(&md);
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_str_eq(md.msgs[i].uidl, saved[i]);
	}
	maildrop_close(&md);

	snprintf(copy, sizeof(copy), "%s/restored", tmpdir);
	read_file(mbox, &b);
	buf_write(copy, b.p, b.n, 0);
	free(b.p);
	open_ok(&md, copy);
	ck_assert_uint_eq(md.nmsgs, 3);
	for (i = 0; i < 3; i++) {
		ck_assert_str_eq(md.msgs[i].uidl, saved[i]);
	}
	maildrop_close(&md);
}
END_TEST

START_TEST(test_uidl_after_append)
{
	static const char more[] = "From dave@example.org Tue Jan  2 00:00:00 "
	    "2024\nSubject: four\n\nBody four.\n\n";
	char		saved[3][UIDL_MAX + 1];
	struct maildrop	md;
	size_t		i;

	copy_fixture("plain.mbox");
	open_ok(&md, mbox);
	for (i = 0; i < 3; i++) {
		strcpy(saved[i], md.msgs[i].uidl);
	}
	maildrop_close(&md);
	buf_write(mbox, more, sizeof(more) - 1, 1);
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, 4);
	for (i = 0; i < 3; i++) {
		ck_assert_str_eq(md.msgs[i].uidl, saved[i]);
	}
	ck_assert_int_eq(md.msgs[3].from, 304);
	ck_assert_uint_eq(md.msgs[3].size, 29);
	check_unique(&md);
	maildrop_close(&md);
}
END_TEST

START_TEST(test_uidl_after_delete)
{
	char		saved[3][UIDL_MAX + 1];
	struct maildrop	md;
	size_t		i, d;

	for (d = 0; d < 3; d++) {
		copy_fixture("plain.mbox");
		open_ok(&md, mbox);
		for (i = 0; i < 3; i++) {
			strcpy(saved[i], md.msgs[i].uidl);
		}
		md.msgs[d].deleted = 1;
		ck_assert_int_eq(maildrop_update(&md), MD_OK);
		maildrop_close(&md);
		open_ok(&md, mbox);
		ck_assert_uint_eq(md.nmsgs, 2);
		for (i = 0; i < 2; i++) {
			ck_assert_str_eq(md.msgs[i].uidl,
			    saved[i < d ? i : i + 1]);
		}
		maildrop_close(&md);
	}
}
END_TEST

/* ---- what is and is not an mbox ---- */

START_TEST(test_not_mbox)
{
	static const char blank_first[] = "\nFrom a@b Mon Jan  1 00:00:00 "
	    "2024\nSubject: x\n\nx\n\n";
	struct maildrop	md;

	copy_fixture("not-mbox.mbox");
	ck_assert_int_eq(maildrop_open(&md, mbox, &mbox_backend), MD_PERM);
	check_no_leftovers(mbox);
	buf_write(mbox, blank_first, sizeof(blank_first) - 1, 0);
	ck_assert_int_eq(maildrop_open(&md, mbox, &mbox_backend), MD_PERM);
	buf_write(mbox, "From", 4, 0);
	ck_assert_int_eq(maildrop_open(&md, mbox, &mbox_backend), MD_PERM);
	check_no_leftovers(mbox);
	/* The refused opens let go of the session lock. */
	copy_fixture("plain.mbox");
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, 3);
	maildrop_close(&md);
}
END_TEST

START_TEST(test_empty_and_missing)
{
	struct maildrop	md;

	/* Missing: an empty maildrop, and nothing is created for it. */
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, 0);
	ck_assert_uint_eq(md.total, 0);
	ck_assert_int_eq(maildrop_update(&md), MD_OK);
	maildrop_close(&md);
	ck_assert(!exists(mbox));

	buf_write(mbox, "", 0, 0);
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, 0);
	ck_assert_int_eq(maildrop_update(&md), MD_OK);
	maildrop_close(&md);

	/* A lone From_ line is one empty message. */
	buf_write(mbox, "From a@b Mon Jan  1 00:00:00 2024\n", 34, 0);
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, 1);
	ck_assert_int_eq(md.msgs[0].off, 34);
	ck_assert_int_eq(md.msgs[0].len, 0);
	ck_assert_uint_eq(md.msgs[0].size, 0);
	maildrop_close(&md);
}
END_TEST

START_TEST(test_refuse_unsafe_files)
{
	char		other[PATH_LEN];
	struct maildrop	md;

	copy_fixture("plain.mbox");
	snprintf(other, sizeof(other), "%s/other", tmpdir);
	/* A symlink. */
	ck_assert_int_eq(rename(mbox, other), 0);
	ck_assert_int_eq(symlink(other, mbox), 0);
	ck_assert_int_eq(maildrop_open(&md, mbox, &mbox_backend), MD_PERM);
	ck_assert_int_eq(unlink(mbox), 0);
	/* A second hard link. */
	ck_assert_int_eq(link(other, mbox), 0);
	ck_assert_int_eq(maildrop_open(&md, mbox, &mbox_backend), MD_PERM);
	ck_assert_int_eq(unlink(other), 0);
	open_ok(&md, mbox);
	maildrop_close(&md);
	/* Another user's file (only root can make one here). */
	if (geteuid() == 0) {
		ck_assert_int_eq(chown(mbox, 1, 1), 0);
		ck_assert_int_eq(maildrop_open(&md, mbox, &mbox_backend),
		    MD_PERM);
	}
}
END_TEST

/* ---- locking ---- */

START_TEST(test_in_use)
{
	struct maildrop	md, md2;
	pid_t		pid;
	int		status;

	copy_fixture("plain.mbox");
	open_ok(&md, mbox);
	/* A second session in this process: flock conflicts per open. */
	ck_assert_int_eq(maildrop_open(&md2, mbox, &mbox_backend), MD_INUSE);
	ck_assert_ptr_null(md2.path);
	/* And in another process, as a second pop3d would be. */
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		_exit(maildrop_open(&md2, mbox, &mbox_backend) == MD_INUSE ?
		    0 : 1);
	}
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	/* The first session is unharmed. */
	ck_assert_uint_eq(md.nmsgs, 3);
	RETR(&md, 2, 0, "From: carol@example.org\r\nSubject: three\r\n\r\n"
	    ".\r\n");
	maildrop_close(&md);
	open_ok(&md2, mbox);
	ck_assert_uint_eq(md2.nmsgs, 3);
	maildrop_close(&md2);
}
END_TEST

/* MDAs can deliver during a session: no fcntl lock, no dotlock held. */
START_TEST(test_mda_not_blocked)
{
	char		lock[PATH_LEN + 8];
	struct maildrop	md;

	copy_fixture("plain.mbox");
	open_ok(&md, mbox);
	snprintf(lock, sizeof(lock), "%s.lock", mbox);
	ck_assert(!exists(lock));
	ck_assert(fcntl_free(mbox));
	maildrop_close(&md);
}
END_TEST

START_TEST(test_stale_dotlock)
{
	char		lock[PATH_LEN + 8];
	struct utimbuf	ut;
	struct maildrop	md;

	copy_fixture("plain.mbox");
	snprintf(lock, sizeof(lock), "%s.lock", mbox);
	buf_write(lock, "12345\n", 6, 0);
	ut.actime = ut.modtime = time(NULL) - 2 * DOTLOCK_STALE_SECS;
	ck_assert_int_eq(utime(lock, &ut), 0);
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, 3);
	ck_assert(!exists(lock));
	maildrop_close(&md);
}
END_TEST

/* A live MDA holding the fcntl lock: the scan waits for it. */
START_TEST(test_waits_for_mda)
{
	struct flock	fl;
	struct maildrop	md;
	uint64_t	t0;
	pid_t		pid;
	int		fd, p[2], status;
	char		c;

	copy_fixture("plain.mbox");
	ck_assert_int_eq(pipe(p), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0) {
		fd = open(mbox, O_RDWR);
		memset(&fl, 0, sizeof(fl));
		fl.l_type = F_WRLCK;
		fl.l_whence = SEEK_SET;
		if (fd == -1 || fcntl(fd, F_SETLK, &fl) == -1) {
			_exit(1);
		}
		(void)write(p[1], "L", 1);
		sleep_ms(1200);
		_exit(0);
	}
	close(p[1]);
	ck_assert_int_eq(read(p[0], &c, 1), 1);
	t0 = now_ms();
	open_ok(&md, mbox);
	ck_assert_uint_ge(now_ms() - t0, 500);
	ck_assert_uint_eq(md.nmsgs, 3);
	maildrop_close(&md);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
}
END_TEST

/* ---- UPDATE ---- */

/* Delete the messages of plain.mbox that del[] marks; the file must be
 * the other messages' regions, in order, and nothing else. */
static void
update_plain(const int *del)
{
	char		saved[3][UIDL_MAX + 1];
	struct maildrop	md;
	struct buf	orig, now;
	char		*want;
	size_t		i, k, wn = 0;

	copy_fixture("plain.mbox");
	read_file(mbox, &orig);
	want = xcalloc(orig.n + 1, 1);
	open_ok(&md, mbox);
	for (i = 0, k = 0; i < 3; i++) {
		md.msgs[i].deleted = del[i];
		if (!del[i]) {
			strcpy(saved[k++], md.msgs[i].uidl);
			memcpy(want + wn, orig.p + plain_from[i],
			    (size_t)(plain_from[i + 1] - plain_from[i]));
			wn += (size_t)(plain_from[i + 1] - plain_from[i]);
		}
	}
	ck_assert_int_eq(maildrop_update(&md), MD_OK);
	maildrop_close(&md);
	check_no_leftovers(mbox);
	read_file(mbox, &now);
	ck_assert_uint_eq(now.n, wn);
	ck_assert_int_eq(memcmp(now.p, want, wn), 0);
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, k);
	for (i = 0; i < k; i++) {
		ck_assert_str_eq(md.msgs[i].uidl, saved[i]);
	}
	maildrop_close(&md);
	free(orig.p);
	free(now.p);
	free(want);
}

START_TEST(test_update_cases)
{
	static const int cases[][3] = {
		{ 0, 0, 0 }, { 1, 0, 0 }, { 0, 1, 0 }, { 0, 0, 1 },
		{ 1, 1, 1 }, { 1, 0, 1 }, { 1, 1, 0 }, { 0, 1, 1 },
	};
	size_t	i;

	for (i = 0; i < NMSGS(cases); i++) {
		update_plain(cases[i]);
	}
}
END_TEST

/* Mail delivered during the session is kept, after the survivors. */
START_TEST(test_update_keeps_new_mail)
{
	static const char more[] = "From dave@example.org Tue Jan  2 00:00:00 "
	    "2024\nSubject: four\n\nBody four.\n\n";
	char		u0[UIDL_MAX + 1], u2[UIDL_MAX + 1];
	struct maildrop	md;
	struct buf	orig, now;
	size_t		n;

	copy_fixture("plain.mbox");
	read_file(mbox, &orig);
	open_ok(&md, mbox);
	strcpy(u0, md.msgs[0].uidl);
	strcpy(u2, md.msgs[2].uidl);
	buf_write(mbox, more, sizeof(more) - 1, 1);
	md.msgs[1].deleted = 1;
	ck_assert_int_eq(maildrop_update(&md), MD_OK);
	maildrop_close(&md);
	check_no_leftovers(mbox);
	read_file(mbox, &now);
	n = 97 + (304 - 203);
	ck_assert_uint_eq(now.n, n + sizeof(more) - 1);
	ck_assert_int_eq(memcmp(now.p, orig.p, 97), 0);
	ck_assert_int_eq(memcmp(now.p + 97, orig.p + 203, 304 - 203), 0);
	ck_assert_int_eq(memcmp(now.p + n, more, sizeof(more) - 1), 0);
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, 3);
	ck_assert_str_eq(md.msgs[0].uidl, u0);
	ck_assert_str_eq(md.msgs[1].uidl, u2);
	RETR(&md, 2, -1, "Subject: four\r\n\r\nBody four.\r\n.\r\n");
	maildrop_close(&md);
	free(orig.p);
	free(now.p);
}
END_TEST

/* New mail after deleting everything, and after deleting the last. */
START_TEST(test_update_all_with_new_mail)
{
	static const char more[] = "From dave@example.org Tue Jan  2 00:00:00 "
	    "2024\nSubject: four\n\nBody four.\n\n";
	struct maildrop	md;
	struct buf	orig, now;

	copy_fixture("plain.mbox");
	read_file(mbox, &orig);
	open_ok(&md, mbox);
	buf_write(mbox, more, sizeof(more) - 1, 1);
	md.msgs[0].deleted = md.msgs[1].deleted = md.msgs[2].deleted = 1;
	ck_assert_int_eq(maildrop_update(&md), MD_OK);
	maildrop_close(&md);
	read_file(mbox, &now);
	ck_assert_uint_eq(now.n, sizeof(more) - 1);
	ck_assert_int_eq(memcmp(now.p, more, now.n), 0);
	free(now.p);

	buf_write(mbox, orig.p, orig.n, 0);
	open_ok(&md, mbox);
	buf_write(mbox, more, sizeof(more) - 1, 1);
	md.msgs[2].deleted = 1;
	ck_assert_int_eq(maildrop_update(&md), MD_OK);
	maildrop_close(&md);
	check_no_leftovers(mbox);
	read_file(mbox, &now);
	ck_assert_uint_eq(now.n, 203 + sizeof(more) - 1);
	ck_assert_int_eq(memcmp(now.p, orig.p, 203), 0);
	ck_assert_int_eq(memcmp(now.p + 203, more, sizeof(more) - 1), 0);
	free(now.p);
	free(orig.p);
}
END_TEST

/* A mailbox rewritten under the session is not touched by UPDATE. */
START_TEST(test_update_refuses_rewritten)
{
	struct maildrop	 md;
	struct buf	 orig, now;
	off_t		 off, len;
	char		*moved;

	copy_fixture("plain.mbox");
	read_file(mbox, &orig);
	/* Shrunk. */
	open_ok(&md, mbox);
	ck_assert_int_eq(truncate(mbox, 100), 0);
	ck_assert_int_eq(md.be->open_msg(&md, 0, &off, &len), -1);
	md.msgs[0].deleted = 1;
	ck_assert_int_eq(maildrop_update(&md), MD_TEMP);
	maildrop_close(&md);
	check_no_leftovers(mbox);
	read_file(mbox, &now);
	ck_assert_uint_eq(now.n, 100);
	ck_assert_int_eq(memcmp(now.p, orig.p, 100), 0);
	free(now.p);
	/* Same size, but the messages moved. */
	buf_write(mbox, orig.p, orig.n, 0);
	open_ok(&md, mbox);
	moved = xcalloc(orig.n, 1);
	memcpy(moved, "\n", 1);
	memcpy(moved + 1, orig.p, orig.n - 1);
	buf_write(mbox, moved, orig.n, 0);
	md.msgs[0].deleted = 1;
	ck_assert_int_eq(maildrop_update(&md), MD_TEMP);
	maildrop_close(&md);
	check_no_leftovers(mbox);
	read_file(mbox, &now);
	ck_assert_uint_eq(now.n, orig.n);
	ck_assert_int_eq(memcmp(now.p, moved, orig.n), 0);
	free(now.p);
	free(moved);
	free(orig.p);
}
END_TEST

/* ---- UPDATE killed at every step ---- */

START_TEST(test_crash_update)
{
	static const int cases[][4] = {
		{ 1, 0, 0, 0 }, { 0, 1, 0, 0 }, { 0, 0, 1, 0 }, { 1, 1, 1, 1 },
		{ 0, 0, 0, 1 }, { 1, 0, 1, 0 },
	};
	static const char more[] = "From new@example.org Tue Jan  2 00:00:00 "
	    "2024\nSubject: new\n\nnew\n\n";
	struct buf	orig;
	char		*f;
	size_t		i, n;

	/* plain.mbox and a tiny fourth message, shorter than the marker. */
	copy_fixture("plain.mbox");
	read_file(mbox, &orig);
	f = xcalloc(orig.n + 16, 1);
	memcpy(f, orig.p, orig.n);
	memcpy(f + orig.n, "From x\n", 7);
	n = orig.n + 7;
	for (i = 0; i < NMSGS(cases); i++) {
		/* Recovery is killed too where it differs most. */
		crash_run(f, n, cases[i], NULL, i == 0);
		crash_run(f, n, cases[i], more, i == 0 || i == 4);
	}
	free(f);
	free(orig.p);
}
END_TEST

/* ---- UPDATE in rounds, and journals made by hand ---- */

/* An mbox of k messages; message i's region (From_ line to the next) is
 * sizes[i] octets (at least 64). */
static size_t
build_mbox(char *f, const size_t *sizes, size_t k)
{
	size_t	i, n = 0, m, left;

	for (i = 0; i < k; i++) {
		m = (size_t)sprintf(f + n, "From m%zu@x Mon Jan  1 00:00:00 "
		    "2024\nSubject: %zu\n\n", i, i);
		ck_assert_uint_gt(sizes[i], m + 8);
		left = sizes[i] - m - 1;
		n += m;
		while (left > 0) {
			m = left > 72 ? 72 : left;
			memset(f + n, 'a' + (char)(i % 26), m - 1);
			f[n + m - 1] = '\n';
			n += m;
			left -= m;
		}
		f[n++] = '\n';
	}
	return n;
}

/* What UPDATE must leave of mbox f deleting del[]: into out, its length;
 * the segments it keeps from the first deleted message on, their count
 * and that message's offset (start). */
static size_t
new_content(const char *f, size_t n, const int *del, char *out,
    struct jseg_t *segs, size_t *nsegs, size_t *start)
{
	struct ref	ref[MSGS_MAX];
	size_t		nref, i, on = 0, end;
	int		seen = 0;

	nref = ref_parse(f, n, ref, MSGS_MAX);
	*nsegs = 0;
	*start = n;
	for (i = 0; i < nref; i++) {
		end = i + 1 < nref ? ref[i + 1].from : n;
		if (del[i]) {
			if (!seen) {
				*start = ref[i].from;
			}
			seen = 1;
			continue;
		}
		append_to(out, &on, f + ref[i].from, end - ref[i].from);
		if (!seen) {
			continue;
		}
		if (*nsegs > 0 && segs[*nsegs - 1].off + segs[*nsegs - 1].len ==
		    ref[i].from) {
			segs[*nsegs - 1].len += end - ref[i].from;
		} else {
			segs[*nsegs].off = ref[i].from;
			segs[(*nsegs)++].len = end - ref[i].from;
		}
	}
	return on;
}

/* A record's checksum, as mbox.c makes it. */
static void
jrec_sum(const struct tjhdr *jh, struct tjrec *rec, const char *data)
{
	crypto_generichash_state h;

	memset(rec->sum, 0, sizeof(rec->sum));
	crypto_generichash_init(&h, jh->hash, sizeof(jh->hash),
	    sizeof(rec->sum));
	crypto_generichash_update(&h, (unsigned char *)rec, sizeof(*rec));
	if (data != NULL) {
		crypto_generichash_update(&h, (const unsigned char *)data,
		    (size_t)rec->n);
	}
	crypto_generichash_final(&h, rec->sum, sizeof(rec->sum));
}

/* The state an UPDATE of f deleting del[] leaves when it stops as jp
 * says: the mbox and its journal.  The mbox has the new content up to
 * the last progress record (all of it and the marker at f if marked),
 * the rest as before.  want gets what recovery must make of it. */
static void
make_journal(const char *f, size_t n, const int *del, const struct jplan *jp,
    char *want, size_t *wantn)
{
	crypto_generichash_state h;
	struct jseg_t	 segs[MSGS_MAX];
	struct tjhdr	 jh;
	struct tjrec	 rec;
	char		 jpath[PATH_LEN + 32];
	char		*nc, *mb;
	size_t		 nn, nsegs, start, i;
	uint64_t	 d = 0, total = 0;
	off_t		 at;
	int		 fd;

	nc = xcalloc(n + 1, 1);
	mb = xcalloc(n + 1, 1);
	nn = new_content(f, n, del, nc, segs, &nsegs, &start);
	ck_assert_uint_lt(start, n);
	for (i = 0; i < nsegs; i++) {
		total += segs[i].len;
	}
	ck_assert_uint_eq(start + total, nn);
	memset(&jh, 0, sizeof(jh));
	memcpy(jh.magic, JMAGIC, sizeof(jh.magic));
	jh.s0 = n;
	jh.start = start;
	jh.f = nn;
	jh.nsegs = nsegs;
	jh.stash = jp->stash;
	jh.mlen = n - nn < 16 ? n - nn : 16;
	randombytes_buf(jh.marker + 1, sizeof(jh.marker) - 1);
	crypto_generichash_init(&h, NULL, 0, sizeof(jh.hash));
	crypto_generichash_update(&h, (unsigned char *)&jh, sizeof(jh));
	crypto_generichash_update(&h, (unsigned char *)segs,
	    nsegs * sizeof(segs[0]));
	crypto_generichash_final(&h, jh.hash, sizeof(jh.hash));

	snprintf(jpath, sizeof(jpath), "%s.pop3d-journal", mbox);
	ck_assert_int_ne(fd = open(jpath, O_RDWR | O_CREAT | O_TRUNC, 0600),
	    -1);
	ck_assert_int_eq(write(fd, &jh, sizeof(jh)), (ssize_t)sizeof(jh));
	ck_assert_int_eq(write(fd, segs, nsegs * sizeof(segs[0])),
	    (ssize_t)(nsegs * sizeof(segs[0])));
	at = (off_t)(sizeof(jh) + nsegs * sizeof(segs[0]));
	if (jp->sn > 0) {
		ck_assert_uint_le(jp->sn, jp->stash);
		memset(&rec, 0, sizeof(rec));
		rec.kind = 'S';
		rec.d = jp->sd;
		rec.n = jp->sn;
		jrec_sum(&jh, &rec, nc + start + jp->sd);
		ck_assert_int_eq(pwrite(fd, &rec, sizeof(rec), at),
		    (ssize_t)sizeof(rec));
		memcpy(mb, nc + start + jp->sd, jp->sn);
		if (jp->torn) {
			mb[jp->sn / 2] ^= 1;	/* cut short: not all there */
		}
		ck_assert_int_eq(pwrite(fd, mb, jp->sn, at +
		    (off_t)sizeof(rec)), (ssize_t)jp->sn);
	}
	if (jp->stash > 0) {
		at += (off_t)(sizeof(rec) + jp->stash);
	}
	for (i = 0; i <= jp->nprog; i++) {
		memset(&rec, 0, sizeof(rec));
		if (i == jp->nprog) {
			if (!jp->marked) {
				break;
			}
			if (d < total) {
				/* The last round's progress record. */
				rec.kind = 'P';
				rec.d = d = total;
				jrec_sum(&jh, &rec, NULL);
				ck_assert_int_eq(pwrite(fd, &rec, sizeof(rec),
				    at), (ssize_t)sizeof(rec));
				at += (off_t)sizeof(rec);
				memset(&rec, 0, sizeof(rec));
			}
			rec.kind = 'M';
			rec.d = total;
		} else {
			rec.kind = 'P';
			rec.d = d = jp->prog[i];
		}
		jrec_sum(&jh, &rec, NULL);
		ck_assert_int_eq(pwrite(fd, &rec, sizeof(rec), at),
		    (ssize_t)sizeof(rec));
		at += (off_t)sizeof(rec);
	}
	/* A record cut short after the last. */
	memset(&rec, 0x5a, sizeof(rec));
	ck_assert_int_eq(pwrite(fd, &rec, sizeof(rec) / 2, at),
	    (ssize_t)sizeof(rec) / 2);
	close(fd);

	if (jp->marked) {
		d = total;
	}
	memcpy(mb, f, n);
	memcpy(mb + start, nc + start, d);
	if (jp->marked) {
		memcpy(mb + nn, jh.marker, jh.mlen);
	}
	buf_write(mbox, mb, n, 0);
	memcpy(want, nc, nn);
	*wantn = nn;
	free(nc);
	free(mb);
}

/* The next login completes the journal: the mbox must be want, exactly,
 * and its messages the ones the scan finds there. */
static void
recover_exact(const char *want, size_t wantn)
{
	struct maildrop	md;
	struct buf	now;
	struct ref	ref[MSGS_MAX];

	open_ok(&md, mbox);
	read_file(mbox, &now);
	ck_assert_uint_eq(now.n, wantn);
	ck_assert_int_eq(memcmp(now.p, want, wantn), 0);
	ck_assert_uint_eq(md.nmsgs, ref_parse(want, wantn, ref, MSGS_MAX));
	maildrop_close(&md);
	check_no_leftovers(mbox);
	free(now.p);
}

/* UPDATE of f (n octets) deleting del[]: the file must be exactly the
 * kept messages (into want, *wantn). */
static void
update_exact(const char *f, size_t n, const int *del, char *want,
    size_t *wantn)
{
	struct jseg_t	segs[MSGS_MAX];
	struct maildrop	md;
	struct buf	now;
	size_t		i, nsegs, start;

	*wantn = new_content(f, n, del, want, segs, &nsegs, &start);
	buf_write(mbox, f, n, 0);
	open_ok(&md, mbox);
	for (i = 0; i < md.nmsgs; i++) {
		md.msgs[i].deleted = del[i];
	}
	cfr_octets = pwrite_octets = 0;
	fallocated = -1;
	ck_assert_int_eq(maildrop_update(&md), MD_OK);
	maildrop_close(&md);
	check_no_leftovers(mbox);
	read_file(mbox, &now);
	ck_assert_uint_eq(now.n, *wantn);
	ck_assert_int_eq(memcmp(now.p, want, *wantn), 0);
	free(now.p);
}

/* 20 messages of 3-12 KiB. */
static size_t
mid_mbox(char *f, const int **del)
{
	static const int d[] = { 0, 1, 0, 1, 1, 0, 0, 1, 0, 0, 1, 0, 1, 0,
	    0, 0, 1, 0, 0, 1 };
	size_t	sizes[20], i;

	for (i = 0; i < 20; i++) {
		sizes[i] = 3000 + (i * 7919) % 9000;
	}
	*del = d;
	return build_mbox(f, sizes, 20);
}

/* Recovery from progress recorded in the middle: the rounds go on from
 * there. */
START_TEST(test_recover_progress)
{
	struct jplan	 jp;
	const int	*del;
	char		*f, *want;
	size_t		 n, wn;

	f = xcalloc(1 << 20, 1);
	want = xcalloc(1 << 20, 1);
	n = mid_mbox(f, &del);
	memset(&jp, 0, sizeof(jp));
	jp.stash = TSTASH_MIN;
	jp.nprog = 2;
	jp.prog[0] = 1000;
	jp.prog[1] = 40000;
	make_journal(f, n, del, &jp, want, &wn);
	recover_exact(want, wn);
	/* No progress recorded at all, and the stash of another round. */
	jp.nprog = 0;
	jp.sd = 1000;
	jp.sn = 5000;
	make_journal(f, n, del, &jp, want, &wn);
	recover_exact(want, wn);
	free(f);
	free(want);
}
END_TEST

/* The stash tests' mbox (messages 1 and 4 deleted), a journal made by
 * hand after jp, with the round's writes garbled if asked, and recovery
 * must leave exactly the new content. */
static void
stash_case(const struct jplan *jp, int garble)
{
	static const size_t sizes[] = { 300, 30000, 20000, 500, 9000 };
	static const int del[] = { 1, 0, 0, 1, 0 };
	struct buf	 b;
	char		*f, *want;
	size_t		 n, wn;

	f = xcalloc(1 << 20, 1);
	want = xcalloc(1 << 20, 1);
	n = build_mbox(f, sizes, 5);
	make_journal(f, n, del, jp, want, &wn);
	if (garble) {
		/* Octets 2000.. of the new content start at 300 + 2000;
		 * their source at 600 + 2000 lies under the round's writes. */
		read_file(mbox, &b);
		memset(b.p + 300 + 2000, 'X', 30000);
		buf_write(mbox, b.p, b.n, 0);
		free(b.p);
	}
	recover_exact(want, wn);
	free(f);
	free(want);
}

/* A stash whose round was not recorded is put in place again: the round
 * may have overwritten its own source, here with garbage.  A stash cut
 * short by the crash (its checksum fails) was written before its round
 * touched the mbox: the round's source is intact, and recovery goes on
 * from the last progress record; so it does past a whole stash of an
 * earlier round. */
START_TEST(test_recover_stash)
{
	struct jplan	jp;

	memset(&jp, 0, sizeof(jp));
	jp.stash = TSTASH_MIN;
	jp.nprog = 1;
	jp.prog[0] = 2000;
	jp.sd = 2000;
	jp.sn = 30000;
	stash_case(&jp, 1);
	jp.torn = 1;
	stash_case(&jp, 0);
	jp.torn = 0;
	jp.sd = 0;
	jp.sn = 2000;
	stash_case(&jp, 0);
}
END_TEST

/* Mail delivered after the crash, behind the old end, is kept: moved
 * down behind the new content, whether the crash came in the middle of
 * the rounds or with the marker recorded but the mbox not cut. */
START_TEST(test_recover_appended)
{
	static const char more[] = "From late@example.org Tue Jan  2 "
	    "00:00:00 2024\nSubject: late\n\nlate\n\n";
	struct jplan	 jp;
	const int	*del;
	char		*f, *want;
	size_t		 n, wn;
	int		 marked;

	f = xcalloc(1 << 20, 1);
	want = xcalloc(1 << 20, 1);
	n = mid_mbox(f, &del);
	for (marked = 0; marked < 2; marked++) {
		memset(&jp, 0, sizeof(jp));
		jp.stash = TSTASH_MIN;
		jp.marked = marked;
		jp.nprog = 1;
		jp.prog[0] = 7000;
		make_journal(f, n, del, &jp, want, &wn);
		buf_write(mbox, more, sizeof(more) - 1, 1);
		append_to(want, &wn, more, sizeof(more) - 1);
		recover_exact(want, wn);
	}
	/* Marker recorded, cut done, mail appended after the cut: only the
	 * journal is left to remove. */
	jp.marked = 1;
	make_journal(f, n, del, &jp, want, &wn);
	ck_assert_int_eq(truncate(mbox, (off_t)wn), 0);
	buf_write(mbox, more, sizeof(more) - 1, 1);
	append_to(want, &wn, more, sizeof(more) - 1);
	recover_exact(want, wn);
	free(f);
	free(want);
}
END_TEST

/* A journal that does not verify is left alone, and so is the mbox. */
START_TEST(test_recover_bad_journal)
{
	static const off_t spoil[] = { 0, 8, 40, 100, 104 + 3 };
	struct maildrop	 md;
	struct jplan	 jp;
	struct buf	 mb, jb, now;
	const int	*del;
	char		 jpath[PATH_LEN + 32];
	char		*f, *want;
	size_t		 n, wn, i;

	f = xcalloc(1 << 20, 1);
	want = xcalloc(1 << 20, 1);
	n = mid_mbox(f, &del);
	snprintf(jpath, sizeof(jpath), "%s.pop3d-journal", mbox);
	for (i = 0; i < NMSGS(spoil); i++) {
		memset(&jp, 0, sizeof(jp));
		jp.stash = TSTASH_MIN;
		jp.nprog = 1;
		jp.prog[0] = 7000;
		make_journal(f, n, del, &jp, want, &wn);
		read_file(jpath, &jb);
		jb.p[spoil[i]] ^= 0x10;	/* header, or the segment list */
		buf_write(jpath, jb.p, jb.n, 0);
		read_file(mbox, &mb);
		ck_assert_int_eq(maildrop_open(&md, mbox, &mbox_backend),
		    MD_PERM);
		read_file(mbox, &now);
		ck_assert(now.n == mb.n && memcmp(now.p, mb.p, mb.n) == 0);
		free(now.p);
		read_file(jpath, &now);
		ck_assert(now.n == jb.n && memcmp(now.p, jb.p, jb.n) == 0);
		free(now.p);
		free(mb.p);
		free(jb.p);
		(void)unlink(jpath);
	}
	free(f);
	free(want);
}
END_TEST

/* Deleting only the first, small message of a large mbox: the gap never
 * grows, so the rounds need a stash; the journal reserves it. */
START_TEST(test_update_stash_rounds)
{
	size_t		 sizes[40], i, n, wn, kept;
	int		 del[40];
	char		*f, *want;

	f = xcalloc(1 << 21, 1);
	want = xcalloc(1 << 21, 1);
	for (i = 0; i < 40; i++) {
		sizes[i] = i == 0 ? 200 : 30000 + i * 37;
		del[i] = i == 0;
	}
	n = build_mbox(f, sizes, 40);
	for (cfr_off = 0; cfr_off < 2; cfr_off++) {
		update_exact(f, n, del, want, &wn);
		kept = wn;
		ck_assert_int_gt(fallocated, TSTASH_MIN);
		/* Every octet through the journal, then into place. */
		ck_assert_uint_ge(pwrite_octets, 2 * kept);
		ck_assert_uint_lt(pwrite_octets, 2 * kept + 64 * 1024);
		ck_assert_uint_eq(cfr_octets, 0);
	}
	cfr_off = 0;
	free(f);
	free(want);
}
END_TEST

/* Deleting every other message: the gap doubles, no stash is needed (or
 * reserved), and each kept octet is written once. */
START_TEST(test_update_plain_rounds)
{
	size_t		 sizes[40], i, n, wn, kept;
	int		 del[40];
	char		*f, *want;

	f = xcalloc(1 << 21, 1);
	want = xcalloc(1 << 21, 1);
	for (i = 0; i < 40; i++) {
		sizes[i] = 30000 + (i % 5) * 1000;
		del[i] = i % 2 == 0;
	}
	n = build_mbox(f, sizes, 40);
	for (cfr_off = 0; cfr_off < 2; cfr_off++) {
		update_exact(f, n, del, want, &wn);
		kept = wn;
		ck_assert_int_ge(fallocated, 0);
		ck_assert_int_lt(fallocated, 4096);
		if (cfr_off) {
			ck_assert_uint_eq(cfr_octets, 0);
			ck_assert_uint_ge(pwrite_octets, kept);
			ck_assert_uint_lt(pwrite_octets, kept + 4096);
		} else {
			ck_assert_uint_eq(cfr_octets, kept);
			ck_assert_uint_lt(pwrite_octets, 4096);
		}
	}
	cfr_off = 0;
	free(f);
	free(want);
}
END_TEST

/* Killed, cut short or failing at every step of an UPDATE whose rounds
 * are plain, then with a stash, then plain; and the same without
 * copy_file_range. */
START_TEST(test_crash_rounds)
{
	static const size_t sizes[] = { 300, 1500, 800, 3000, 70000, 400,
	    40000, 700, 500, 1200 };
	static const int del[] = { 0, 1, 0, 1, 0, 0, 1, 0, 1, 0 };
	char		*f, *want;
	size_t		 n, wn;

	f = xcalloc(1 << 20, 1);
	want = xcalloc(1 << 20, 1);
	n = build_mbox(f, sizes, NMSGS(sizes));
	update_exact(f, n, del, want, &wn);
	ck_assert_int_gt(fallocated, 4096);	/* a stash round */
	ck_assert_uint_gt(cfr_octets, 0);	/* and plain ones */
	for (cfr_off = 0; cfr_off < 2; cfr_off++) {
		crash_run(f, n, del, NULL, 1);
	}
	cfr_off = 0;
	free(f);
	free(want);
}
END_TEST

/* ---- scanning across the read buffer's edges ---- */

START_TEST(test_chunk_edges)
{
	static const char second[] = "From b@c Mon Jan  1 00:01:00 2024\n"
	    "X-UIDL: edge-uidl\n\nbody\n\n";
	struct maildrop	 md;
	char		*f;
	size_t		 n, k, at;
	int		 d;

	f = xcalloc(IO_CHUNK + 256, 1);
	for (d = -60; d <= 8; d++) {
		/* The second From_ line starts at IO_CHUNK + d. */
		at = (size_t)(IO_CHUNK + d);
		n = (size_t)snprintf(f, IO_CHUNK, "From a@b Mon Jan  1 "
		    "00:00:00 2024\nSubject: pad\n\n");
		k = at - n - 2;
		memset(f + n, 'p', k);
		n += k;
		memcpy(f + n, "\n\n", 2);
		n += 2;
		ck_assert_uint_eq(n, at);
		memcpy(f + n, second, sizeof(second) - 1);
		n += sizeof(second) - 1;
		buf_write(mbox, f, n, 0);
		open_ok(&md, mbox);
		ck_assert_uint_eq(md.nmsgs, 2);
		ck_assert_int_eq(md.msgs[0].len, (off_t)(at - 34 - 1));
		ck_assert_uint_eq(md.msgs[0].size, at - 34 - 1 + 3);
		ck_assert_int_eq(md.msgs[1].from, (off_t)at);
		ck_assert_str_eq(md.msgs[1].uidl, "edge-uidl");
		ck_assert_uint_eq(md.msgs[1].size, 19 + 2 + 6);
		maildrop_close(&md);
	}
	free(f);
}
END_TEST

/* A message's UIDL does not depend on where it sits in the file, nor on
 * where the scan's reads happen to split it.  A header longer than the
 * part that is hashed, at many offsets: */
START_TEST(test_uidl_long_header_moved)
{
	static const char from2[] = "From b@c Mon Jan  1 00:01:00 2024\n";
	char		 first[UIDL_MAX + 1];
	struct maildrop	 md;
	char		*f, *m2;
	size_t		 n, k, m2n, hl;
	int		 d;

	hl = UIDL_HEADER_MAX + IO_CHUNK / 2;
	m2 = xcalloc(hl + 1024, 1);
	memcpy(m2, from2, sizeof(from2) - 1);
	m2n = sizeof(from2) - 1;
	memcpy(m2 + m2n, "X-Long: ", 8);
	memset(m2 + m2n + 8, 'h', hl);
	m2n += 8 + hl;
	m2n += (size_t)snprintf(m2 + m2n, 1024, "\nSubject: long\n\nbody\n\n");
	f = xcalloc(2 * IO_CHUNK + hl + 4096, 1);
	for (d = 0; d < 40; d++) {
		n = (size_t)snprintf(f, IO_CHUNK, "From a@b Mon Jan  1 "
		    "00:00:00 2024\nSubject: pad\n\n");
		k = 1 + (size_t)d * 1637 % (IO_CHUNK + 500);
		memset(f + n, 'p', k);
		n += k;
		memcpy(f + n, "\n\n", 2);
		n += 2;
		memcpy(f + n, m2, m2n);
		n += m2n;
		buf_write(mbox, f, n, 0);
		open_ok(&md, mbox);
		ck_assert_uint_eq(md.nmsgs, 2);
		ck_assert(is_hash_uidl(md.msgs[1].uidl));
		if (d == 0) {
			strcpy(first, md.msgs[1].uidl);
		}
		ck_assert_msg(strcmp(md.msgs[1].uidl, first) == 0,
		    "shift %d: UIDL %s, was %s", d, md.msgs[1].uidl, first);
		maildrop_close(&md);
	}
	free(f);
	free(m2);
}
END_TEST

/* X-UIDL lines longer than the scan looks ahead (SCAN_AHEAD, 128), at
 * every offset near the end of the scan's first read: never honoured,
 * never honoured in part. */
START_TEST(test_uidl_long_xuidl_moved)
{
	char		 first[2][UIDL_MAX + 1];
	struct maildrop	 md;
	char		*f;
	size_t		 n, k, i;
	int		 d;

	f = xcalloc(2 * IO_CHUNK, 1);
	for (d = 0; d < 400; d++) {
		n = (size_t)snprintf(f, IO_CHUNK, "From a@b Mon Jan  1 "
		    "00:00:00 2024\nSubject: pad\n\n");
		/* Message 2's X-UIDL line starts at IO_CHUNK - 380 + d. */
		k = IO_CHUNK - 380 + (size_t)d - n - 2 - 34;
		memset(f + n, 'p', k);
		n += k;
		memcpy(f + n, "\n\n", 2);
		n += 2;
		n += (size_t)snprintf(f + n, IO_CHUNK, "From c@d Mon Jan  1 "
		    "00:02:00 2024\nX-UIDL:%120sabcdefghijklmnopqrstuvwxyz\n\n"
		    "two\n\nFrom c@d Mon Jan  1 00:03:00 2024\n"
		    "X-UIDL: three%120sjunk\n\nthree\n\n"
		    "From c@d Mon Jan  1 00:04:00 2024\n"
		    "X-UIDL: four%40s\n\nfour\n\n", "", "", "");
		buf_write(mbox, f, n, 0);
		open_ok(&md, mbox);
		ck_assert_uint_eq(md.nmsgs, 4);
		ck_assert_int_eq(md.msgs[1].from + 34,
		    IO_CHUNK - 380 + d);
		ck_assert_str_eq(md.msgs[3].uidl, "four");
		for (i = 0; i < 2; i++) {
			ck_assert_msg(is_hash_uidl(md.msgs[1 + i].uidl),
			    "message %zu, shift %d: UIDL %s", i + 2, d,
			    md.msgs[1 + i].uidl);
			if (d == 0) {
				strcpy(first[i], md.msgs[1 + i].uidl);
			}
			ck_assert_str_eq(md.msgs[1 + i].uidl, first[i]);
		}
		maildrop_close(&md);
	}
	free(f);
}
END_TEST

/* Line kinds for random mailboxes: separators by accident, quoted ones,
 * dots, CRs, NULs, empty lines. */
static const struct {
	const char	*s;
	size_t		 n;
} kinds[] = {
#define K(s)	{ s, sizeof(s) - 1 }
	K("Subject: s"), K(">From y"), K("."), K(".."), K(""), K(""),
	K("\r"), K("a\rb"), K("text"), K("n\0l"), K("X-Other: 1"), K("From"),
#undef K
};

/* A random mailbox in f (of size cap); its length. */
static size_t
gen_mbox(char *f, size_t cap, uint32_t *seed)
{
	static unsigned	 serial;
	size_t		 n = 0, i, k, nmsgs, nlines, len;
	int		 crlf = rnd(seed) % 3 == 0;

	nmsgs = 1 + rnd(seed) % RANDOM_MSGS_MAX;
	for (i = 0; i < nmsgs; i++) {
		n += (size_t)snprintf(f + n, cap - n, "From m%u@x Mon Jan  1 "
		    "00:00:00 2024%s", serial++, crlf ? "\r\n" : "\n");
		nlines = rnd(seed) % 12;
		for (k = 0; k < nlines; k++) {
			if (rnd(seed) % 40 == 0) {
				len = rnd(seed) % (IO_CHUNK + 100);
				memset(f + n, 'L', len);
				n += len;
			} else if (rnd(seed) % 10 == 0) {
				/* Unique, so that no two messages match. */
				n += (size_t)snprintf(f + n, cap - n,
				    "From body%u", serial++);
			} else {
				len = rnd(seed) % (sizeof(kinds) /
				    sizeof(kinds[0]));
				memcpy(f + n, kinds[len].s, kinds[len].n);
				n += kinds[len].n;
			}
			if (crlf || rnd(seed) % 8 == 0) {
				f[n++] = '\r';
			}
			f[n++] = '\n';
		}
		if (i + 1 < nmsgs || rnd(seed) % 2 == 0) {
			f[n++] = '\n';	/* the separating empty line */
		}
	}
	if (rnd(seed) % 4 == 0 && n > 0 && f[n - 1] == '\n') {
		n--;			/* no final newline */
	}
	ck_assert_uint_lt(n, cap);
	return n;
}

/* Random mailboxes: the scan agrees with the reference parser, sizes
 * with the sizer and RETR, and UPDATE leaves exactly the survivors. */
START_TEST(test_random_mboxes)
{
	struct ref	*ref;
	struct maildrop	 md;
	struct buf	 got;
	struct sizer	 sz;
	char		*f, *want, *model, (*saved)[UIDL_MAX + 1];
	size_t		 cap = RANDOM_MSGS_MAX * 16 * (IO_CHUNK + 200);
	size_t		 n, nref, i, k, wn, total = 0, big = 0, dels = 0;
	uint32_t	 seed = 20240101;
	int		 t;

	f = xcalloc(cap, 1);
	want = xcalloc(cap, 1);
	ref = xcalloc(RANDOM_MSGS_MAX * 16, sizeof(*ref));
	saved = xcalloc(RANDOM_MSGS_MAX * 16, sizeof(*saved));
	for (t = 0; t < RANDOM_MBOXES; t++) {
		n = gen_mbox(f, cap, &seed);
		nref = ref_parse(f, n, ref, RANDOM_MSGS_MAX * 16);
		total += nref;
		big += n > IO_CHUNK;
		buf_write(mbox, f, n, 0);
		/* Windows of one and of three pages, and the default; the
		 * cache of the last round trusted, or checked. */
		mbox_scan_window = t % 3 == 0 ? 4096 : t % 3 == 1 ? 3 * 4096 :
		    MBOX_SCAN_WINDOW;
		mbox_cache_racy_secs = t % 2 == 0 ? 0 : CACHE_RACY_SECS;
		open_ok(&md, mbox);
		maildrop_close(&md);
		open_ok(&md, mbox);
		if (t % 2 == 0) {
			ck_assert_int_eq(mbox_scan_octets, 0);
		}
		ck_assert_uint_eq(md.nmsgs, nref);
		for (i = 0; i < nref; i++) {
			ck_assert_int_eq(md.msgs[i].from, (off_t)ref[i].from);
			ck_assert_int_eq(md.msgs[i].off, (off_t)ref[i].off);
			ck_assert_int_eq(md.msgs[i].len, (off_t)ref[i].len);
			ck_assert_uint_eq(md.msgs[i].size,
			    ref_size(f + ref[i].off, ref[i].len));
			sizer_init(&sz);
			sizer_feed(&sz, f + ref[i].off, ref[i].len);
			ck_assert_uint_eq(md.msgs[i].size, sizer_end(&sz));
		}
		check_unique(&md);
		/* RETR of a few. */
		for (i = 0; i < nref; i += 1 + nref / 3) {
			retr(&md, i, -1, &got);
			model = model_retr(f + ref[i].off, ref[i].len, &wn);
			ck_assert_uint_eq(got.n, wn);
			ck_assert_int_eq(memcmp(got.p, model, wn), 0);
			free(model);
			free(got.p);
		}
		/* Delete at random; expect the other regions. */
		wn = 0;
		for (i = 0, k = 0; i < nref; i++) {
			md.msgs[i].deleted = rnd(&seed) % 3 == 0;
			dels += md.msgs[i].deleted;
			if (!md.msgs[i].deleted) {
				strcpy(saved[k++], md.msgs[i].uidl);
				memcpy(want + wn, f + ref[i].from,
				    (i + 1 < nref ? ref[i + 1].from : n) -
				    ref[i].from);
				wn += (i + 1 < nref ? ref[i + 1].from : n) -
				    ref[i].from;
			}
		}
		ck_assert_int_eq(maildrop_update(&md), MD_OK);
		maildrop_close(&md);
		check_no_leftovers(mbox);
		read_file(mbox, &got);
		ck_assert_uint_eq(got.n, wn);
		ck_assert_int_eq(memcmp(got.p, want, wn), 0);
		free(got.p);
		/* The cache UPDATE left describes the new file. */
		cached_open_is_full_scan(-1);
		open_ok(&md, mbox);
		ck_assert_uint_eq(md.nmsgs, k);
		for (i = 0; i < k; i++) {
			ck_assert_str_eq(md.msgs[i].uidl, saved[i]);
		}
		maildrop_close(&md);
	}
	/* The generator made what this test is meant to cover. */
	ck_assert_uint_gt(total, 10 * RANDOM_MBOXES);
	ck_assert_uint_gt(big, RANDOM_MBOXES / 4);
	ck_assert_uint_gt(dels, total / 5);
	free(saved);
	free(ref);
	free(want);
	free(f);
}
END_TEST


/* ---- the scan's cache (PATH.pop3d-cache, pop3d(8) CACHE) ---- */

static const char cache_mbox[] =
    "From a@example.org Mon Jan  1 00:00:00 2024\n"
    "Subject: one\n\nbody one\n.\n\n"
    "From b@example.org Mon Jan  1 00:01:00 2024\r\n"
    "X-UIDL: kept-uidl\r\n\r\nbody two\r\nFrom inside a paragraph\r\n\r\n"
    "From c@example.org Mon Jan  1 00:02:00 2024\n"
    "Subject: three\n\n>From quoted\nlast\n\n";

/* What a scan without any cache finds: the reference for every test
 * below, which must see exactly this whatever the cache holds. */
static void
full_scan(struct maildrop *md)
{
	char	cpath[PATH_LEN + 32];

	snprintf(cpath, sizeof(cpath), "%s.pop3d-cache", mbox);
	(void)unlink(cpath);
	open_ok(md, mbox);
	ck_assert_int_eq(mbox_scan_octets, (off_t)file_size(mbox));
}

static size_t
file_size(const char *path)
{
	struct stat	st;

	ck_assert_int_eq(stat(path, &st), 0);
	return (size_t)st.st_size;
}

/* Keep md's messages and end its session (only one session at a time). */
static void
snap_close(struct maildrop *md, struct maildrop *copy)
{
	memset(copy, 0, sizeof(*copy));
	copy->nmsgs = md->nmsgs;
	copy->total = md->total;
	copy->msgs = xcalloc(md->nmsgs + 1, sizeof(*md->msgs));
	if (md->nmsgs > 0) {
		memcpy(copy->msgs, md->msgs, md->nmsgs * sizeof(*md->msgs));
	}
	maildrop_close(md);
}

static void
same_msgs(const struct maildrop *a, const struct maildrop *b)
{
	size_t	i;

	ck_assert_uint_eq(a->nmsgs, b->nmsgs);
	ck_assert_uint_eq(a->total, b->total);
	for (i = 0; i < a->nmsgs; i++) {
		ck_assert_int_eq(a->msgs[i].from, b->msgs[i].from);
		ck_assert_int_eq(a->msgs[i].off, b->msgs[i].off);
		ck_assert_int_eq(a->msgs[i].len, b->msgs[i].len);
		ck_assert_uint_eq(a->msgs[i].size, b->msgs[i].size);
		ck_assert_str_eq(a->msgs[i].uidl, b->msgs[i].uidl);
	}
}

/* Open with whatever cache is there; compare with a scan without one. */
static void
cached_open_is_full_scan(off_t octets)
{
	struct maildrop	md, got, ref;
	char		cpath[PATH_LEN + 32];
	struct buf	saved;

	snprintf(cpath, sizeof(cpath), "%s.pop3d-cache", mbox);
	open_ok(&md, mbox);
	if (octets >= 0) {
		ck_assert_int_eq(mbox_scan_octets, octets);
	}
	snap_close(&md, &got);
	/* The cache the open left (if any), put back after the reference
	 * scan. */
	saved.p = NULL;
	saved.n = 0;
	if (exists(cpath)) {
		read_file(cpath, &saved);
	}
	full_scan(&ref);
	same_msgs(&got, &ref);
	maildrop_close(&ref);
	free(got.msgs);
	if (saved.p != NULL) {
		buf_write(cpath, saved.p, saved.n, 0);
	} else {
		(void)unlink(cpath);
	}
	free(saved.p);
}

/* An unchanged mbox is not read again; one that changed in any way,
 * appends included, or whose cache is racy, is read whole; either way the
 * messages are what a scan finds. */
START_TEST(test_cache_reopen_and_append)
{
	static const char more[] = "From d@example.org Mon Jan  1 00:03:00 "
	    "2024\nSubject: four\n\nnew\n\n";
	struct maildrop	md;
	off_t		n = (off_t)sizeof(cache_mbox) - 1;

	mbox_cache_racy_secs = 0;
	buf_write(mbox, cache_mbox, sizeof(cache_mbox) - 1, 0);
	open_ok(&md, mbox);
	ck_assert_int_eq(mbox_scan_octets, n);
	ck_assert_uint_eq(md.nmsgs, 3);
	maildrop_close(&md);
	cached_open_is_full_scan(0);
	/* A racy cache (the file changed within CACHE_RACY_SECS of the
	 * scan) is not used. */
	mbox_cache_racy_secs = 1000;
	full_scan(&md);
	maildrop_close(&md);
	cached_open_is_full_scan(n);
	mbox_cache_racy_secs = 0;
	full_scan(&md);
	maildrop_close(&md);
	buf_write(mbox, more, sizeof(more) - 1, 1);
	cached_open_is_full_scan(n + (off_t)sizeof(more) - 1);
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, 4);
	ck_assert_int_eq(mbox_scan_octets, 0);
	maildrop_close(&md);
}
END_TEST

/* Mail appended after a last message without its empty line belongs to
 * that message (no separator): the cache must not split it. */
START_TEST(test_cache_append_no_empty_line)
{
	static const char first[] = "From a@b Mon Jan  1 00:00:00 2024\n"
	    "\nbody\n\nFrom c@d Mon Jan  1 00:00:00 2024\n\nlast line\n";
	static const char more[] = "From e@f Mon Jan  1 00:00:00 2024\n\nx\n";
	struct maildrop	md;

	mbox_cache_racy_secs = 0;
	buf_write(mbox, first, sizeof(first) - 1, 0);
	full_scan(&md);
	ck_assert_uint_eq(md.nmsgs, 2);
	maildrop_close(&md);
	buf_write(mbox, more, sizeof(more) - 1, 1);
	cached_open_is_full_scan(-1);
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, 2);
	maildrop_close(&md);
}
END_TEST

/* Rewritten in place by another program (same inode): removed, grown,
 * a From_ line changed at the same length; never what the cache says. */
START_TEST(test_cache_rewritten)
{
	struct maildrop	md;
	char		*f;
	size_t		n = sizeof(cache_mbox) - 1, skip;

	mbox_cache_racy_secs = 0;
	f = xcalloc(2 * n + 64, 1);
	/* First message gone, the rest moved down, then grown past the
	 * cached size by an appended copy. */
	buf_write(mbox, cache_mbox, n, 0);
	full_scan(&md);
	skip = (size_t)md.msgs[1].from;
	maildrop_close(&md);
	memcpy(f, cache_mbox + skip, n - skip);
	memcpy(f + n - skip, cache_mbox, n);
	buf_write(mbox, f, 2 * n - skip, 0);
	cached_open_is_full_scan((off_t)(2 * n - skip));
	/* The same length, one date changed: the From_ digest differs. */
	buf_write(mbox, cache_mbox, n, 0);
	full_scan(&md);
	maildrop_close(&md);
	memcpy(f, cache_mbox, n);
	memcpy(strstr(f, "00:00:00"), "00:00:09", 8);
	buf_write(mbox, f, n, 0);
	cached_open_is_full_scan((off_t)n);
	/* The same length, the cached separators where they were, and a
	 * new one between them: three messages, never the cached two. */
	{
		static const char two[] = "From a@b Mon Jan  1 00:00:00 2024"
		    "\n\nxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\n\n"
		    "From c@d Mon Jan  1 00:00:00 2024\n\nlast\n";
		static const char three[] = "From a@b Mon Jan  1 00:00:00 2024"
		    "\n\nx\n\nFrom e@f Mon Jan  1 00:00:00 2024\n\nyyyyyyyyyy\n"
		    "\nFrom c@d Mon Jan  1 00:00:00 2024\n\nlast\n";

		ck_assert_uint_eq(sizeof(two), sizeof(three));
		buf_write(mbox, two, sizeof(two) - 1, 0);
		full_scan(&md);
		ck_assert_uint_eq(md.nmsgs, 2);
		maildrop_close(&md);
		buf_write(mbox, three, sizeof(three) - 1, 0);
		open_ok(&md, mbox);
		ck_assert_uint_eq(md.nmsgs, 3);
		maildrop_close(&md);
	}
	/* Shrunk: nothing in the cache is used. */
	buf_write(mbox, cache_mbox, n - 10, 0);
	cached_open_is_full_scan((off_t)n - 10);
	/* Replaced by another file (a new inode) of the same content. */
	full_scan(&md);
	maildrop_close(&md);
	ck_assert_int_eq(unlink(mbox), 0);
	buf_write(mbox, cache_mbox, n - 10, 0);
	cached_open_is_full_scan(-1);
	free(f);
}
END_TEST

/* After an UPDATE the cache no longer fits: the next login reads the
 * file whole, and the one after that uses the cache it wrote. */
START_TEST(test_cache_after_update)
{
	struct maildrop	md;

	mbox_cache_racy_secs = 0;
	buf_write(mbox, cache_mbox, sizeof(cache_mbox) - 1, 0);
	open_ok(&md, mbox);
	md.msgs[1].deleted = 1;
	ck_assert_int_eq(maildrop_update(&md), MD_OK);
	maildrop_close(&md);
	cached_open_is_full_scan((off_t)file_size(mbox));
	cached_open_is_full_scan(0);
}
END_TEST

/* The mbox cut short under the scan's mapping (SIGBUS): the login fails
 * as temporary, nothing is left behind, the next login sees the file as
 * it now is. */
START_TEST(test_cut_during_scan)
{
	struct maildrop	md;

	buf_write(mbox, cache_mbox, sizeof(cache_mbox) - 1, 0);
	cut_on_mmap = 1;
	ck_assert_int_eq(maildrop_open(&md, mbox, &mbox_backend), MD_TEMP);
	ck_assert_int_eq(cut_on_mmap, 0);
	check_no_leftovers(mbox);
	ck_assert_uint_eq(file_size(mbox), 0);
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, 0);
	maildrop_close(&md);
}
END_TEST

/* A cache damaged at any octet, or cut short anywhere, is ignored. */
START_TEST(test_cache_damaged)
{
	struct maildrop	md, got, ref;
	struct buf	good;
	char		cpath[PATH_LEN + 32];
	size_t		i;

	mbox_cache_racy_secs = 0;
	snprintf(cpath, sizeof(cpath), "%s.pop3d-cache", mbox);
	buf_write(mbox, cache_mbox, sizeof(cache_mbox) - 1, 0);
	full_scan(&md);
	snap_close(&md, &ref);
	read_file(cpath, &good);
	ck_assert_uint_gt(good.n, 100);
	for (i = 0; i < good.n; i++) {
		good.p[i] ^= 0x20;
		buf_write(cpath, good.p, good.n, 0);
		good.p[i] ^= 0x20;
		open_ok(&md, mbox);
		ck_assert_int_eq(mbox_scan_octets, (off_t)sizeof(cache_mbox) - 1);
		snap_close(&md, &got);
		same_msgs(&got, &ref);
		free(got.msgs);
		buf_write(cpath, good.p, i, 0);
		open_ok(&md, mbox);
		ck_assert_int_eq(mbox_scan_octets, (off_t)sizeof(cache_mbox) - 1);
		snap_close(&md, &got);
		same_msgs(&got, &ref);
		free(got.msgs);
	}
	/* And the good one is used. */
	buf_write(cpath, good.p, good.n, 0);
	open_ok(&md, mbox);
	ck_assert_int_eq(mbox_scan_octets, 0);
	snap_close(&md, &got);
	same_msgs(&got, &ref);
	free(got.msgs);
	free(ref.msgs);
	free(good.p);
}
END_TEST

/* Another mbox's cache, or a symlink where the cache goes, is not used,
 * and the symlink's target is never written. */
START_TEST(test_cache_foreign)
{
	struct maildrop	md;
	char		cpath[PATH_LEN + 32], other[PATH_LEN + 32];
	char		target[PATH_LEN + 32];
	struct buf	b;

	mbox_cache_racy_secs = 0;
	snprintf(cpath, sizeof(cpath), "%s.pop3d-cache", mbox);
	snprintf(other, sizeof(other), "%s/other", tmpdir);
	snprintf(target, sizeof(target), "%s/target", tmpdir);
	buf_write(other, cache_mbox, sizeof(cache_mbox) - 1, 0);
	ck_assert_int_eq(maildrop_open(&md, other, &mbox_backend), MD_OK);
	maildrop_close(&md);
	snprintf(other + strlen(other), 32, ".pop3d-cache");
	read_file(other, &b);
	buf_write(mbox, cache_mbox, sizeof(cache_mbox) - 1, 0);
	buf_write(cpath, b.p, b.n, 0);
	free(b.p);
	cached_open_is_full_scan((off_t)sizeof(cache_mbox) - 1);
	(void)unlink(cpath);
	buf_write(target, "keep", 4, 0);
	ck_assert_int_eq(symlink(target, cpath), 0);
	open_ok(&md, mbox);
	ck_assert_int_eq(mbox_scan_octets, (off_t)sizeof(cache_mbox) - 1);
	maildrop_close(&md);
	read_file(target, &b);
	ck_assert_uint_eq(b.n, 4);
	ck_assert_int_eq(memcmp(b.p, "keep", 4), 0);
	free(b.p);
	/* A missing mbox takes its cache with it. */
	ck_assert_int_eq(unlink(mbox), 0);
	open_ok(&md, mbox);
	ck_assert_uint_eq(md.nmsgs, 0);
	maildrop_close(&md);
	ck_assert(!exists(cpath));
}
END_TEST

static Suite *
mbox_suite(void)
{
	Suite	*s = suite_create("mbox");
	TCase	*tc;

	tc = tcase_create("cache");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_cache_reopen_and_append);
	tcase_add_test(tc, test_cache_append_no_empty_line);
	tcase_add_test(tc, test_cache_rewritten);
	tcase_add_test(tc, test_cache_after_update);
	tcase_add_test(tc, test_cut_during_scan);
	tcase_add_test(tc, test_cache_damaged);
	tcase_add_test(tc, test_cache_foreign);
	suite_add_tcase(s, tc);

	tc = tcase_create("scan");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_plain);
	tcase_add_test(tc, test_crlf);
	tcase_add_test(tc, test_from_in_body);
	tcase_add_test(tc, test_dots);
	tcase_add_test(tc, test_empty_body);
	tcase_add_test(tc, test_no_final_newline);
	tcase_add_test(tc, test_trailing_empty_lines);
	tcase_add_test(tc, test_nul);
	tcase_add_test(tc, test_big_line);
	tcase_add_test(tc, test_not_mbox);
	tcase_add_test(tc, test_empty_and_missing);
	tcase_add_test(tc, test_refuse_unsafe_files);
	tcase_add_test(tc, test_chunk_edges);
	suite_add_tcase(s, tc);

	tc = tcase_create("uidl");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_dup_messages);
	tcase_add_test(tc, test_xuidl);
	tcase_add_test(tc, test_uidl_fields);
	tcase_add_test(tc, test_xuidl_line_limit);
	tcase_add_test(tc, test_uidl_reopen_and_copy);
	tcase_add_test(tc, test_uidl_after_append);
	tcase_add_test(tc, test_uidl_after_delete);
	tcase_add_test(tc, test_uidl_long_header_moved);
	tcase_add_test(tc, test_uidl_long_xuidl_moved);
	suite_add_tcase(s, tc);

	tc = tcase_create("lock");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_in_use);
	tcase_add_test(tc, test_mda_not_blocked);
	tcase_add_test(tc, test_stale_dotlock);
	tcase_add_test(tc, test_waits_for_mda);
	suite_add_tcase(s, tc);

	tc = tcase_create("update");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_update_cases);
	tcase_add_test(tc, test_update_keeps_new_mail);
	tcase_add_test(tc, test_update_all_with_new_mail);
	tcase_add_test(tc, test_update_refuses_rewritten);
	tcase_add_test(tc, test_random_mboxes);
	tcase_add_test(tc, test_update_stash_rounds);
	tcase_add_test(tc, test_update_plain_rounds);
	suite_add_tcase(s, tc);

	tc = tcase_create("recovery");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_recover_progress);
	tcase_add_test(tc, test_recover_stash);
	tcase_add_test(tc, test_recover_appended);
	tcase_add_test(tc, test_recover_bad_journal);
	suite_add_tcase(s, tc);

	tc = tcase_create("crash");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, test_crash_update);
	tcase_add_test(tc, test_crash_rounds);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_unit_suite(mbox_suite());
}
