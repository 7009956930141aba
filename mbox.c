/* mbox.c: the mbox backend: MDA locking, scanning, journalled UPDATE and
 * its recovery.  The argument for why UPDATE is crash-safe is in pop3d(8),
 * section DURABILITY; the step names below (J1..J6) refer to it. */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <setjmp.h>
#include <signal.h>
#include <sodium.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include "pop3d.h"

#define DOTLOCK_SUFFIX	".lock"
#define JOURNAL_SUFFIX	".pop3d-journal"
#define JTMP_SUFFIX	".pop3d-journal.tmp"
#define JOURNAL_MAGIC	"POP3DJ1\n"
#define MARKER_LEN	16
#define SCAN_AHEAD	128	/* a From_ test or an X-UIDL header fits */
#define PATH_EXTRA	64	/* room for suffixes, host name and pid */

enum jphase { PHASE_PREPARED = 'P', PHASE_REDO = 'R' };

/* The journal's header; the new content of [start, f) follows it. */
struct jhdr {
	char		 magic[8];
	uint64_t	 s0;		/* mbox size when UPDATE began */
	uint64_t	 f;		/* mbox size when UPDATE is done */
	uint64_t	 start;		/* first octet UPDATE rewrites */
	uint64_t	 mlen;		/* octets of marker at f */
	unsigned char	 marker[MARKER_LEN];
	unsigned char	 orig[MARKER_LEN];	/* what the marker covers */
	unsigned char	 hash[32];	/* BLAKE2b of header and data */
	char		 phase;
	char		 pad[7];
};

struct seg {
	off_t	off;
	off_t	len;
};

struct scan {
	struct maildrop	*md;
	char		*buf;		/* a window mapped, or read, at base */
	size_t		 pos, end;
	off_t		 base;		/* file offset of buf[0] */
	int		 mapped;	/* buf is mmap'd (else IO_CHUNK read) */
	off_t		 fsize;
	size_t		 cap;		/* slots in md->msgs */
	struct msg	*m;		/* message being scanned */
	int		 inheader;
	int		 prev_empty;
	uint64_t	 size;
	off_t		 empty_off;
	uint64_t	 empty_size;
	size_t		 hashed;
	unsigned	 fields;	/* UIDL_FIELDS already hashed */
	int		 hashcont;	/* continuation lines are hashed */
	crypto_generichash_state h;
	char		 xuidl[UIDL_MAX + 1];
};

static enum md_status mbox_scan(struct maildrop *);
static int	mbox_open_msg(struct maildrop *, size_t, off_t *, off_t *);
static void	mbox_close_msg(struct maildrop *, int);
static enum md_status mbox_update(struct maildrop *);
static enum md_status mbox_update_cached(struct maildrop *);
static enum md_status mbox_recover(struct maildrop *);
static const char *mbox_pending(const char *);
static enum md_status mbox_openfile(struct maildrop *);
static int	dotlock_take(const char *);
static int	dotlock_try(const char *, const char *);
static void	dotlock_drop(const char *);
static enum md_status lock_both(struct maildrop *);
static int	scan_fill(struct scan *, size_t);
static int	scan_map(struct scan *);
static size_t	count_lf(const char *, size_t, size_t *);
static void	scan_lines(struct scan *, size_t, size_t);
static void	scan_body(struct scan *);
static void	scan_bus(int);
static int	scan_line(struct scan *);
static void	scan_begin(struct scan *, off_t);
static void	scan_finish(struct scan *);
static void	scan_xuidl(struct scan *);
static int	scan_uidl_field(struct scan *);
static enum md_status scan_run(struct scan *);
static int	check_froms(struct maildrop *, size_t);
static size_t	plan_segments(struct maildrop *, size_t, off_t, struct seg *);
static int	journal_run(struct maildrop *, off_t, off_t,
		    const struct seg *, size_t);
static int	journal_write(struct maildrop *, struct jhdr *,
		    const struct seg *, size_t);
static int	journal_commit(struct maildrop *, int, struct jhdr *);
static int	journal_redo(struct maildrop *, int, const struct jhdr *);
static int	journal_finish(struct maildrop *, const struct jhdr *);
static int	journal_drop(struct maildrop *);
static int	recover_redo(struct maildrop *, int, const struct jhdr *);
static enum md_status journal_read(struct maildrop *, int, struct jhdr *);
static void	journal_hash(const struct jhdr *, unsigned char *,
		    crypto_generichash_state *);
static int	copy_range(int, off_t, int, off_t, off_t,
		    crypto_generichash_state *);
static int	write_all(int, const void *, size_t, off_t);
static int	read_all(int, void *, size_t, off_t);
static int	fsync_dir(const char *);
static void	path_with(char *, size_t, const char *, const char *);

const struct backend mbox_backend = {
	"mbox", mbox_scan, mbox_open_msg, mbox_close_msg, mbox_update_cached,
	mbox_recover, mbox_pending
};

static void
path_with(char *out, size_t size, const char *path, const char *suffix)
{
	if ((size_t)snprintf(out, size, "%s%s", path, suffix) >= size) {
		fatalx("path too long: %s%s", path, suffix);
	}
}

static int
write_all(int fd, const void *p, size_t n, off_t off)
{
	const char	*s = p;
	ssize_t		 w;

	while (n > 0) {
		if ((w = pwrite(fd, s, n, off)) == -1) {
			if (errno == EINTR) {
				continue;
			}
			return -1;
		}
		s += w;
		n -= (size_t)w;
		off += w;
	}
	return 0;
}

static int
read_all(int fd, void *p, size_t n, off_t off)
{
	char	*s = p;
	ssize_t	 r;

	while (n > 0) {
		if ((r = pread(fd, s, n, off)) == -1 && errno == EINTR) {
			continue;
		}
		if (r <= 0) {
			if (r == 0) {
				errno = EIO;	/* the file is shorter than it should be */
			}
			return -1;
		}
		s += r;
		n -= (size_t)r;
		off += r;
	}
	return 0;
}

/* Make a new or removed name in path's directory durable. */
static int
fsync_dir(const char *path)
{
	char	 dir[LOCATION_MAX + PATH_EXTRA];
	char	*slash;
	int	 fd, r;

	path_with(dir, sizeof(dir), path, "");
	if ((slash = strrchr(dir, '/')) == NULL) {
		return -1;
	}
	slash[slash == dir ? 1 : 0] = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) == -1) {
		return -1;
	}
	r = fsync(fd);
	close(fd);
	return r;
}

/* ---- locking: fcntl on the mailbox, then PATH.lock (Debian policy 11.6) ---- */

/* Try once to make PATH.lock: a unique file linked to the lock name, the
 * way that also holds on NFS.  0 taken, 1 busy, -1 error. */
static int
dotlock_try(const char *lock, const char *tmp)
{
	struct stat	st;
	char		pid[32];
	int		fd, r, saved;

	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW |
	    O_CLOEXEC, 0600)) == -1) {
		return -1;
	}
	r = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	r = write_all(fd, pid, (size_t)r, 0);
	close(fd);
	/* A link that returns 0 made the lock.  One that fails may still
	 * have worked on NFS (a retransmission answered EEXIST): the link
	 * count tells. */
	if (r == 0 && link(tmp, lock) == -1) {
		saved = errno;
		if (stat(tmp, &st) == 0 && st.st_nlink == 2) {
			r = 0;
		} else {
			r = saved == EEXIST ? 1 : -1;
		}
	}
	(void)unlink(tmp);
	return r;
}

static int
dotlock_take(const char *path)
{
	char		lock[LOCATION_MAX + PATH_EXTRA];
	char		tmp[LOCATION_MAX + 2 * PATH_EXTRA];
	char		host[PATH_EXTRA];
	struct stat	st;
	int		r;

	if (gethostname(host, sizeof(host)) == -1) {
		strcpy(host, "localhost");
	}
	/* A truncated name need not end in NUL. */
	host[sizeof(host) - 1] = '\0';
	host[strcspn(host, "./")] = '\0';
	path_with(lock, sizeof(lock), path, DOTLOCK_SUFFIX);
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s.%s.%ld", lock, host,
	    (long)getpid()) >= sizeof(tmp)) {
		log_warnx("dotlock %s: path too long", lock);
		return -1;
	}
	if ((r = dotlock_try(lock, tmp)) != 1) {
		if (r == -1) {
			log_warn("dotlock %s", lock);
		}
		return r;
	}
	/* Busy: a lock left by a dead process goes stale by age, as the
	 * MDAs judge it; a live holder refreshes it or finishes sooner. */
	if (stat(lock, &st) == 0 && time(NULL) - st.st_mtime >
	    DOTLOCK_STALE_SECS) {
		log_warnx("removing stale dotlock %s", lock);
		(void)unlink(lock);
	}
	return 1;
}

static void
dotlock_drop(const char *path)
{
	char	lock[LOCATION_MAX + PATH_EXTRA];

	path_with(lock, sizeof(lock), path, DOTLOCK_SUFFIX);
	if (unlink(lock) == -1) {
		log_warn("unlink %s", lock);
	}
}

/* The locks, and with them the spool's lock group (auth_lock_group):
 * creating PATH.lock and the journal beside the mailbox may need it. */
enum md_status
mbox_lock(struct maildrop *md)
{
	enum md_status	r;

	auth_lock_group(1);
	if ((r = lock_both(md)) != MD_OK) {
		auth_lock_group(0);
	}
	return r;
}

static enum md_status
lock_both(struct maildrop *md)
{
	struct flock	fl;
	int		i, r;

	memset(&fl, 0, sizeof(fl));
	fl.l_whence = SEEK_SET;
	for (i = 0; i < LOCK_TRIES; i++) {
		if (i > 0) {
			sleep_ms(LOCK_RETRY_MS);
		}
		fl.l_type = F_WRLCK;
		if (fcntl(md->fd, F_SETLK, &fl) == -1) {
			if (errno != EACCES && errno != EAGAIN) {
				log_warn("fcntl lock %s", md->path);
				return MD_TEMP;
			}
			continue;
		}
		if ((r = dotlock_take(md->path)) == 0) {
			return MD_OK;
		}
		/* Never sit on one lock while waiting for the other. */
		fl.l_type = F_UNLCK;
		(void)fcntl(md->fd, F_SETLK, &fl);
		if (r == -1) {
			return MD_TEMP;
		}
	}
	log_warnx("%s: still locked after %d tries", md->path, LOCK_TRIES);
	return MD_TEMP;
}

void
mbox_unlock(struct maildrop *md)
{
	struct flock	fl;

	dotlock_drop(md->path);
	auth_lock_group(0);
	memset(&fl, 0, sizeof(fl));
	fl.l_type = F_UNLCK;
	fl.l_whence = SEEK_SET;
	(void)fcntl(md->fd, F_SETLK, &fl);
}

/* Open the mailbox (missing is empty) and refuse what is not safely ours. */
static enum md_status
mbox_openfile(struct maildrop *md)
{
	struct stat	st;

	if (md->fd != -1) {
		return MD_OK;
	}
	md->fd = open(md->path, O_RDWR | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (md->fd == -1) {
		if (errno == ENOENT) {
			return MD_OK;
		}
		log_warn("open %s", md->path);
		return errno == ELOOP || errno == EACCES ? MD_PERM : MD_TEMP;
	}
	if (fstat(md->fd, &st) == -1) {
		log_warn("fstat %s", md->path);
		return MD_TEMP;
	}
	if (!S_ISREG(st.st_mode) || st.st_nlink != 1 ||
	    st.st_uid != geteuid()) {
		log_warnx("%s: not a regular file with one link owned by uid %ld",
		    md->path, (long)geteuid());
		return MD_PERM;
	}
	md->dev = st.st_dev;
	md->ino = st.st_ino;
	return MD_OK;
}

/* ---- scanning ---- */

/* Octets of the mailbox mapped at once: the scan reads the file through
 * a window that moves along it (the tests make it small). */
size_t	mbox_scan_window = MBOX_SCAN_WINDOW;

/* The scan's mapping, for scan_bus: a file cut short under a mapping
 * raises SIGBUS when the scan touches a page past the new end. */
static sigjmp_buf	scan_jmp;
static volatile sig_atomic_t scan_mapped;

static void
scan_bus(int sig)
{
	if (scan_mapped) {
		siglongjmp(scan_jmp, 1);
	}
	(void)signal(sig, SIG_DFL);
	(void)raise(sig);
}

/* Map the window that starts at the page holding buf[pos]; 0, or -1 if
 * the file cannot be mapped (the caller reads it instead). */
static int
scan_map(struct scan *sc)
{
	off_t	at = sc->base + (off_t)sc->pos, mbase;
	size_t	len, page = (size_t)sysconf(_SC_PAGESIZE);
	void	*p;

	mbase = at - (off_t)((uint64_t)at % page);
	len = sc->fsize - mbase < (off_t)mbox_scan_window ?
	    (size_t)(sc->fsize - mbase) : mbox_scan_window;
	if (sc->mapped) {
		scan_mapped = 0;
		munmap(sc->buf, sc->end);
	}
	p = mmap(NULL, len, PROT_READ, MAP_SHARED, sc->md->fd, mbase);
	if (p == MAP_FAILED) {
		sc->mapped = 0;
		sc->buf = NULL;
		return -1;
	}
	(void)madvise(p, len, MADV_SEQUENTIAL);
	scan_mapped = 1;
	sc->mapped = 1;
	sc->buf = p;
	sc->pos = (size_t)(at - mbase);
	sc->end = len;
	sc->base = mbase;
	return 0;
}

/* Have at least want octets at buf[pos] unless the file ends first. */
static int
scan_fill(struct scan *sc, size_t want)
{
	ssize_t	n;
	size_t	room;
	off_t	left;

	if (sc->end - sc->pos >= want ||
	    sc->base + (off_t)sc->end == sc->fsize) {
		return 0;
	}
	if (sc->mapped || sc->buf == NULL) {
		if (scan_map(sc) == 0) {
			return 0;
		}
		/* Not mappable (some file systems): read it. */
		sc->base += (off_t)sc->pos;
		sc->pos = sc->end = 0;
		sc->buf = xcalloc(1, IO_CHUNK);
	}
	memmove(sc->buf, sc->buf + sc->pos, sc->end - sc->pos);
	sc->base += (off_t)sc->pos;
	sc->end -= sc->pos;
	sc->pos = 0;
	while (sc->end < want) {
		left = sc->fsize - sc->base - (off_t)sc->end;
		if (left == 0) {
			return 0;
		}
		room = IO_CHUNK - sc->end;
		if ((off_t)room > left) {
			room = (size_t)left;
		}
		n = pread(sc->md->fd, sc->buf + sc->end, room,
		    sc->base + (off_t)sc->end);
		if (n == -1 && errno == EINTR) {
			continue;
		}
		if (n <= 0) {
			log_warn("read %s at %lld", sc->md->path,
			    (long long)sc->base + (long long)sc->end);
			return -1;
		}
		sc->end += (size_t)n;
	}
	return 0;
}

/* GCC's and clang's generic vectors: SSE2 on x86-64, NEON on arm64,
 * plain words elsewhere. */
typedef unsigned char v16 __attribute__((vector_size(16)));

/* Count the LFs in p[0, n) up to the first LF followed by 'F' (the only
 * place a From_ line can start); its index, or n.  Reads p[n] when an LF
 * is last, so the caller leaves an octet after n. */
static size_t
count_lf(const char *p, size_t n, size_t *lfs)
{
	const char	*s = p;
	v16		 lf, ff, acc, v, w, e, m;
	uint64_t	 any[2];
	size_t		 total = 0, blocks, i;
	int		 k;

	memset(&lf, '\n', sizeof(lf));
	memset(&ff, 'F', sizeof(ff));
	while (n - (size_t)(p - s) >= 16) {
		/* A lane counts to 255 at most before it is added up. */
		blocks = (n - (size_t)(p - s)) / 16;
		if (blocks > 255) {
			blocks = 255;
		}
		memset(&acc, 0, sizeof(acc));
		for (i = 0; i < blocks; i++) {
			memcpy(&v, p, sizeof(v));
			memcpy(&w, p + 1, sizeof(w));
			e = (v16)(v == lf);
			m = e & (v16)(w == ff);
			memcpy(any, &m, sizeof(any));
			if ((any[0] | any[1]) != 0) {
				break;
			}
			acc -= e;
			p += sizeof(v);
		}
		for (k = 0; k < (int)sizeof(acc); k++) {
			total += acc[k];
		}
		if (i < blocks) {
			break;
		}
	}
	for (; p < s + n; p++) {
		if (*p == '\n') {
			if (p[1] == 'F') {
				break;
			}
			total++;
		}
	}
	*lfs = total;
	return (size_t)(p - s);
}

uint64_t
mbox_from_digest(const char *p, size_t n)
{
	uint64_t	h = 14695981039346656037ULL;
	size_t		i;

	for (i = 0; i < n; i++) {
		h = (h ^ (unsigned char)p[i]) * 1099511628211ULL;
	}
	return h;
}

/* Account for the whole lines buf[pos, pos+n), which hold lfs LFs and
 * no separator, as scan_line would line by line. */
static void
scan_lines(struct scan *sc, size_t n, size_t lfs)
{
	const char	*p = sc->buf + sc->pos, *cr = p, *end = p + n;
	uint64_t	 size = sc->size + n + lfs;
	int		 lfempty, crlfempty;

	while ((cr = memchr(cr, '\r', (size_t)(end - cr))) != NULL) {
		if (++cr < end && *cr == '\n') {
			size--;		/* CRLF is sent as it is */
		}
	}
	/* The last line empty ("\n" or "\r\n"): the message may end there. */
	lfempty = n == 1 || p[n - 2] == '\n';
	crlfempty = n >= 2 && p[n - 2] == '\r' && (n == 2 || p[n - 3] == '\n');
	sc->prev_empty = lfempty || crlfempty;
	if (sc->prev_empty) {
		sc->empty_off = sc->base + (off_t)(sc->pos + n) -
		    (crlfempty ? 2 : 1);
		sc->empty_size = size - 2;	/* either is sent as CRLF */
	}
	sc->size = size;
	sc->pos += n;
}

/* In a body only From_ lines matter: take the lines up to the next one
 * that could be a separator in bulk, leaving it, the empty line before
 * it and the last SCAN_AHEAD octets of the buffer to scan_line. */
static void
scan_body(struct scan *sc)
{
	const char	*p, *lf;
	size_t		 avail, k, lfs, e;

	while (sc->end - sc->pos > SCAN_AHEAD) {
		p = sc->buf + sc->pos;
		if (sc->prev_empty && memcmp(p, "From ", 5) == 0) {
			return;		/* this line is a separator */
		}
		avail = sc->end - sc->pos - SCAN_AHEAD;
		k = count_lf(p, avail, &lfs);
		if (k == avail) {
			/* No LF-F pair: up to the last whole line. */
			if ((lf = memrchr(p, '\n', avail)) == NULL) {
				return;
			}
			scan_lines(sc, (size_t)(lf - p) + 1, lfs);
			return;
		}
		/* p[k] is an LF and a line starting with F follows. */
		if (memcmp(p + k + 1, "From ", 5) == 0) {
			e = k;
			if (k >= 1 && p[k - 1] == '\r') {
				e = k - 1;
			}
			if (e == 0 || p[e - 1] == '\n') {
				/* An empty line, then From_: stop before it. */
				if (e > 0) {
					scan_lines(sc, e, lfs);
				}
				return;
			}
		}
		scan_lines(sc, k + 1, lfs + 1);
	}
}

static void
scan_begin(struct scan *sc, off_t from)
{
	size_t	cap = sc->cap;

	sc->m = maildrop_add(sc->md, &cap);
	sc->cap = cap;
	if (sc->m == NULL) {
		return;
	}
	sc->m->from = from;
	sc->inheader = 1;
	sc->size = 0;
	sc->hashed = 0;
	sc->fields = 0;
	sc->hashcont = 0;
	sc->xuidl[0] = '\0';
	crypto_generichash_init(&sc->h, NULL, 0, UIDL_HASH_HEX / 2);
}

/* The message ends before the empty line that precedes the next From_
 * line, or at the end of the file (RFC 4155). */
static void
scan_finish(struct scan *sc)
{
	struct msg	*m = sc->m;
	unsigned char	 sum[UIDL_HASH_HEX / 2];
	off_t		 end = sc->base + (off_t)sc->pos;

	if (m == NULL) {
		return;
	}
	if (sc->prev_empty && sc->empty_off >= m->off) {
		end = sc->empty_off;
		sc->size = sc->empty_size;
	}
	m->len = end - m->off;
	m->size = sc->size;
	crypto_generichash_final(&sc->h, sum, sizeof(sum));
	if (sc->xuidl[0] != '\0') {
		memcpy(m->uidl, sc->xuidl, sizeof(m->uidl));
	} else {
		sodium_bin2hex(m->uidl, sizeof(m->uidl), sum, sizeof(sum));
	}
	sc->m = NULL;
}

/* An "X-UIDL: value" header whose value is a valid UIDL is honoured.
 * Only the line's first SCAN_AHEAD octets are looked at, which scan_run
 * always has, so that the verdict never depends on where a read ended;
 * a longer line is ignored. */
static void
scan_xuidl(struct scan *sc)
{
	const char	*p = sc->buf + sc->pos, *end = sc->buf + sc->end, *q;
	size_t		 n;
	int		 eof = sc->base + (off_t)sc->end == sc->fsize;

	if (end - p > SCAN_AHEAD) {
		end = p + SCAN_AHEAD;
		eof = 0;
	}
	if (sc->xuidl[0] != '\0' || end - p < 8 ||
	    strncasecmp(p, "X-UIDL:", 7) != 0) {
		return;
	}
	for (p += 7; p < end && (*p == ' ' || *p == '\t'); p++) {
		continue;
	}
	for (n = 0; p + n < end && p[n] > 0x20 && p[n] < 0x7f; n++) {
		continue;
	}
	if (n == 0 || n > UIDL_MAX) {
		return;
	}
	/* Nothing but white space may follow the value on its line. */
	for (q = p + n; q < end && *q != '\n'; q++) {
		if (*q != ' ' && *q != '\t' && *q != '\r') {
			return;
		}
	}
	if (q == end && !eof) {
		return;		/* the line goes on past the look-ahead */
	}
	memcpy(sc->xuidl, p, n);
	sc->xuidl[n] = '\0';
}

/* The header fields a content UIDL is made of, besides the From_ line:
 * the first of each, with its continuation lines.  They identify a
 * message and no mail program rewrites them; Status:, X-Status:,
 * X-Keywords: and the like, which mail readers change in place, are left
 * out, and so is the size they change. */
static const struct {
	const char	*name;
	size_t		 len;
} uidl_fields[] = {
	{ "Message-ID:", 11 }, { "Date:", 5 }, { "Subject:", 8 },
};

/* Whether the header line at buf[pos] feeds the UIDL.  The names fit in
 * SCAN_AHEAD, which scan_run always has, however the reads split. */
static int
scan_uidl_field(struct scan *sc)
{
	const char	*p = sc->buf + sc->pos;
	size_t		 i, avail = sc->end - sc->pos;

	if (avail > 0 && (*p == ' ' || *p == '\t')) {
		return sc->hashcont;
	}
	sc->hashcont = 0;
	for (i = 0; i < sizeof(uidl_fields) / sizeof(uidl_fields[0]); i++) {
		if ((sc->fields & 1U << i) == 0 && avail >= uidl_fields[i].len &&
		    strncasecmp(p, uidl_fields[i].name, uidl_fields[i].len) ==
		    0) {
			sc->fields |= 1U << i;
			sc->hashcont = 1;
			return 1;
		}
	}
	return 0;
}

/* Scan one line at buf[pos]; 0, or -1 on a read error. */
static int
scan_line(struct scan *sc)
{
	off_t		 at = sc->base + (off_t)sc->pos;
	const char	*p, *lf;
	size_t		 n, k;
	off_t		 len = 0;
	int		 sep, lastcr = 0, haslf = 0, hash = 0;
	uint64_t	 lsize;

	sep = sc->end - sc->pos >= 5 && memcmp(sc->buf + sc->pos, "From ", 5)
	    == 0 && (at == 0 || sc->prev_empty);
	if (sep) {
		scan_finish(sc);
		scan_begin(sc, at);
		if (sc->m != NULL) {
			p = sc->buf + sc->pos;
			n = sc->end - sc->pos < MBOX_FROM_DIGEST ?
			    sc->end - sc->pos : MBOX_FROM_DIGEST;
			if ((lf = memchr(p, '\n', n)) != NULL) {
				n = (size_t)(lf - p) + 1;
			}
			sc->m->stamp = mbox_from_digest(p, n);
		}
		hash = 1;
	} else if (sc->inheader) {
		scan_xuidl(sc);
		hash = scan_uidl_field(sc);
	}
	for (;;) {
		p = sc->buf + sc->pos;
		lf = memchr(p, '\n', sc->end - sc->pos);
		n = lf != NULL ? (size_t)(lf - p) + 1 : sc->end - sc->pos;
		/* Exactly the first UIDL_HEADER_MAX octets, however the
		 * reads split them, so the UIDL depends on content only. */
		if (sc->m != NULL && hash && sc->hashed < UIDL_HEADER_MAX) {
			k = UIDL_HEADER_MAX - sc->hashed < n ?
			    UIDL_HEADER_MAX - sc->hashed : n;
			crypto_generichash_update(&sc->h,
			    (const unsigned char *)p, k);
			sc->hashed += k;
		}
		if (lf != NULL) {
			if (n >= 2) {
				lastcr = p[n - 2] == '\r';
			}
		} else if (n > 0) {
			lastcr = p[n - 1] == '\r';
		}
		len += (off_t)n;
		sc->pos += n;
		if (lf != NULL) {
			haslf = 1;
			break;
		}
		if (scan_fill(sc, 1) == -1) {
			return -1;
		}
		if (sc->pos == sc->end) {
			break;			/* the file ends without LF */
		}
	}
	if (sep) {
		if (sc->m != NULL) {
			sc->m->off = at + len;
		}
		sc->prev_empty = 0;
		return 0;
	}
	lsize = (uint64_t)len + (haslf ? !lastcr : (lastcr ? 1 : 2));
	sc->prev_empty = haslf && (len == 1 || (len == 2 && lastcr));
	if (sc->prev_empty) {
		sc->empty_off = at;
		sc->empty_size = sc->size;
		sc->inheader = 0;
	}
	sc->size += lsize;
	return 0;
}

static enum md_status
scan_run(struct scan *sc)
{
	for (;;) {
		if (scan_fill(sc, SCAN_AHEAD) == -1) {
			return MD_TEMP;
		}
		if (sc->pos == sc->end) {
			break;
		}
		if (sc->base + (off_t)sc->pos == 0 && (sc->end < 5 ||
		    memcmp(sc->buf, "From ", 5) != 0)) {
			log_warnx("%s: offset 0: not an mbox (no From_ line)",
			    sc->md->path);
			return MD_PERM;
		}
		if (sc->m != NULL && !sc->inheader) {
			scan_body(sc);
		}
		if (scan_line(sc) == -1) {
			return MD_TEMP;
		}
		if (sc->m == NULL && sc->md->nmsgs >= MAILDROP_MSGS_MAX) {
			log_warnx("%s: more than %d messages", sc->md->path,
			    MAILDROP_MSGS_MAX);
			return MD_PERM;
		}
	}
	scan_finish(sc);
	return MD_OK;
}

static enum md_status
mbox_scan(struct maildrop *md)
{
	struct scan		*sc;
	struct stat		 st;
	struct sigaction	 sa, osa;
	enum md_status		 r;
	off_t			 start;
	int			 cached;

	if ((r = mbox_openfile(md)) != MD_OK || md->fd == -1) {
		if (r == MD_OK) {
			/* Its inode may come back with another file. */
			auth_lock_group(1);
			mbox_cache_drop(md->path);
			auth_lock_group(0);
		}
		return r;
	}
	if ((r = mbox_lock(md)) != MD_OK) {
		return r;
	}
	if (fstat(md->fd, &st) == -1) {
		log_warn("fstat %s", md->path);
		mbox_unlock(md);
		return MD_TEMP;
	}
	if (st.st_size > MAILDROP_SIZE_MAX) {
		log_warnx("%s: larger than %lld octets", md->path,
		    (long long)MAILDROP_SIZE_MAX);
		mbox_unlock(md);
		return MD_PERM;
	}
	sc = xcalloc(1, sizeof(*sc));
	sc->md = md;
	sc->fsize = st.st_size;
	/* What the cache holds is not scanned again; the scan goes on from
	 * a From_ line that the cache checked is a separator. */
	cached = mbox_cache_load(md, &st, &sc->base) == 0;
	start = sc->base;
	sc->cap = md->nmsgs;
	sc->prev_empty = sc->base > 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = scan_bus;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGBUS, &sa, &osa);
	if (sigsetjmp(scan_jmp, 1) == 0) {
		r = scan_run(sc);
		if (r == MD_OK && (!cached || start < st.st_size)) {
			mbox_cache_save(md, &st);
		}
	} else {
		/* Only a writer that ignores the locks can do this. */
		log_warnx("%s: cut short by another program during the scan",
		    md->path);
		r = MD_TEMP;
	}
	scan_mapped = 0;
	(void)sigaction(SIGBUS, &osa, NULL);
	mbox_scan_octets = st.st_size - start;
	md->scanned = st.st_size;
	mbox_unlock(md);
	if (sc->mapped) {
		munmap(sc->buf, sc->end);
	} else {
		free(sc->buf);
	}
	free(sc);
	return r;
}

/* UPDATE, then the cache for what it kept, so that the next login need
 * not scan the rewritten file (mbox_cache.c). */
static enum md_status
mbox_update_cached(struct maildrop *md)
{
	enum md_status	r;

	if ((r = mbox_update(md)) == MD_OK) {
		mbox_cache_after_update(md);
	}
	return r;
}

static int
mbox_open_msg(struct maildrop *md, size_t i, off_t *off, off_t *len)
{
	struct stat	st;

	/* Only appends are expected; a shrunk mailbox was rewritten by
	 * someone else, and its offsets can no longer be trusted. */
	if (fstat(md->fd, &st) == -1 || st.st_size < md->scanned) {
		log_warnx("%s: changed under the session", md->path);
		return -1;
	}
	*off = md->msgs[i].off;
	*len = md->msgs[i].len;
	return md->fd;
}

static void
mbox_close_msg(struct maildrop *md, int fd)
{
	(void)md;
	(void)fd;
}

/* ---- UPDATE ---- */

/* Every message from the first one UPDATE moves must still be where the
 * scan found it; MDAs only append, so anything else is a rewrite. */
static int
check_froms(struct maildrop *md, size_t first)
{
	struct stat	st;
	char		buf[5];
	size_t		i;

	if (stat(md->path, &st) == -1 || st.st_dev != md->dev ||
	    st.st_ino != md->ino) {
		log_warnx("%s: replaced during the session", md->path);
		return -1;
	}
	for (i = first; i < md->nmsgs; i++) {
		if (read_all(md->fd, buf, 5, md->msgs[i].from) == -1 ||
		    memcmp(buf, "From ", 5) != 0) {
			log_warnx("%s: message %zu moved during the session",
			    md->path, i + 1);
			return -1;
		}
	}
	return 0;
}

/* The octets to keep from message first on: each kept message with its
 * separator and trailing empty line, then whatever was appended since. */
static size_t
plan_segments(struct maildrop *md, size_t first, off_t s0, struct seg *segs)
{
	size_t	i, n = 0;
	off_t	end;

	for (i = first; i < md->nmsgs; i++) {
		if (md->msgs[i].deleted) {
			continue;
		}
		end = i + 1 < md->nmsgs ? md->msgs[i + 1].from : md->scanned;
		if (n > 0 && segs[n - 1].off + segs[n - 1].len ==
		    md->msgs[i].from) {
			segs[n - 1].len = end - segs[n - 1].off;
		} else {
			segs[n].off = md->msgs[i].from;
			segs[n++].len = end - md->msgs[i].from;
		}
	}
	if (s0 > md->scanned) {
		if (n > 0 && segs[n - 1].off + segs[n - 1].len == md->scanned) {
			segs[n - 1].len = s0 - segs[n - 1].off;
		} else {
			segs[n].off = md->scanned;
			segs[n++].len = s0 - md->scanned;
		}
	}
	return n;
}

static enum md_status
mbox_update(struct maildrop *md)
{
	struct stat	 st;
	struct seg	*segs;
	size_t		 first, n;
	int		 r = -1;

	for (first = 0; first < md->nmsgs && !md->msgs[first].deleted;
	    first++) {
		continue;
	}
	if (first == md->nmsgs || mbox_lock(md) != MD_OK) {
		return first == md->nmsgs ? MD_OK : MD_TEMP;
	}
	if (fstat(md->fd, &st) == -1 || st.st_size < md->scanned) {
		log_warnx("%s: shrank during the session", md->path);
	} else if (check_froms(md, first) == 0) {
		segs = xcalloc(md->nmsgs - first + 1, sizeof(*segs));
		n = plan_segments(md, first, st.st_size, segs);
		r = journal_run(md, md->msgs[first].from, st.st_size, segs, n);
		free(segs);
	}
	mbox_unlock(md);
	return r == 0 ? MD_OK : MD_TEMP;
}

/* Copy len octets from src at soff to dst at doff (dst -1: nowhere),
 * hashing them if asked. */
static int
copy_range(int dst, off_t doff, int src, off_t soff, off_t len,
    crypto_generichash_state *h)
{
	char	*buf = xcalloc(1, IO_CHUNK);
	size_t	 n;
	int	 r = 0;

	while (len > 0 && r == 0) {
		n = len < IO_CHUNK ? (size_t)len : IO_CHUNK;
		if ((r = read_all(src, buf, n, soff)) == -1) {
			break;
		}
		if (h != NULL) {
			crypto_generichash_update(h, (unsigned char *)buf, n);
		}
		if (dst != -1) {
			r = write_all(dst, buf, n, doff);
		}
		soff += (off_t)n;
		doff += (off_t)n;
		len -= (off_t)n;
	}
	free(buf);
	return r;
}

/* The hash of a header (hash field zeroed, phase P) after h's data. */
static void
journal_hash(const struct jhdr *jh, unsigned char *out,
    crypto_generichash_state *h)
{
	struct jhdr	c = *jh;

	memset(c.hash, 0, sizeof(c.hash));
	c.phase = PHASE_PREPARED;
	crypto_generichash_update(h, (unsigned char *)&c, sizeof(c));
	crypto_generichash_final(h, out, sizeof(c.hash));
}

/* J1: the journal, complete and durable, under its final name. */
static int
journal_write(struct maildrop *md, struct jhdr *jh, const struct seg *segs,
    size_t n)
{
	char			 jpath[LOCATION_MAX + PATH_EXTRA];
	char			 tpath[LOCATION_MAX + PATH_EXTRA];
	crypto_generichash_state h;
	off_t			 at = sizeof(*jh);
	size_t			 i;
	int			 fd, r = 0;

	path_with(jpath, sizeof(jpath), md->path, JOURNAL_SUFFIX);
	path_with(tpath, sizeof(tpath), md->path, JTMP_SUFFIX);
	fd = open(tpath, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		log_warn("create %s", tpath);
		return -1;
	}
	crypto_generichash_init(&h, NULL, 0, sizeof(jh->hash));
	for (i = 0; i < n && r == 0; i++) {
		r = copy_range(fd, at, md->fd, segs[i].off, segs[i].len, &h);
		at += segs[i].len;
	}
	if (r == 0) {
		journal_hash(jh, jh->hash, &h);
		r = write_all(fd, jh, sizeof(*jh), 0);
	}
	if (r == 0 && (r = fsync(fd)) == 0 && (r = rename(tpath, jpath)) == 0) {
		r = fsync_dir(jpath);
	}
	if (r == -1) {
		log_warn("write journal %s", tpath);
		(void)unlink(tpath);
	}
	close(fd);
	return r;
}

/* J2-J3: the marker at f, durable before the journal says "redo". */
static int
journal_commit(struct maildrop *md, int jfd, struct jhdr *jh)
{
	char	phase = PHASE_REDO;

	if (write_all(md->fd, jh->marker, jh->mlen, (off_t)jh->f) == -1 ||
	    fdatasync(md->fd) == -1 ||
	    write_all(jfd, &phase, 1, offsetof(struct jhdr, phase)) == -1 ||
	    fdatasync(jfd) == -1) {
		log_warn("%s: journal step", md->path);
		return -1;
	}
	jh->phase = PHASE_REDO;
	return 0;
}

/* J4: the new content from the journal into place, the mailbox cut to
 * its new end.  Repeating it is harmless, which is what recovery needs. */
static int
journal_redo(struct maildrop *md, int jfd, const struct jhdr *jh)
{
	if (copy_range(md->fd, (off_t)jh->start, jfd, sizeof(*jh),
	    (off_t)(jh->f - jh->start), NULL) == -1) {
		log_warn("%s: rewrite", md->path);
		return -1;
	}
	return 0;
}

/* J5-J6: cut the mailbox, make it durable, drop the journal. */
static int
journal_finish(struct maildrop *md, const struct jhdr *jh)
{
	if (ftruncate(md->fd, (off_t)jh->f) == -1 || fsync(md->fd) == -1) {
		log_warn("%s: truncate", md->path);
		return -1;
	}
	return journal_drop(md);
}

/* J6: the journal's work is durable in the mailbox: remove it. */
static int
journal_drop(struct maildrop *md)
{
	char	jpath[LOCATION_MAX + PATH_EXTRA];

	path_with(jpath, sizeof(jpath), md->path, JOURNAL_SUFFIX);
	if (unlink(jpath) == -1 || fsync_dir(jpath) == -1) {
		log_warn("%s: remove", jpath);
		return -1;
	}
	return 0;
}

/* Replace octets [start, s0) by the segments, crash-safely (J1-J6). */
static int
journal_run(struct maildrop *md, off_t start, off_t s0, const struct seg *segs,
    size_t n)
{
	char		jpath[LOCATION_MAX + PATH_EXTRA];
	struct jhdr	jh;
	off_t		f = start;
	size_t		i;
	int		jfd, r = -1;

	for (i = 0; i < n; i++) {
		f += segs[i].len;
	}
	memset(&jh, 0, sizeof(jh));
	memcpy(jh.magic, JOURNAL_MAGIC, sizeof(jh.magic));
	jh.s0 = (uint64_t)s0;
	jh.f = (uint64_t)f;
	jh.start = (uint64_t)start;
	jh.mlen = (uint64_t)(s0 - f) < MARKER_LEN ? (uint64_t)(s0 - f) :
	    MARKER_LEN;
	jh.phase = PHASE_PREPARED;
	/* The marker starts with NUL: appended mail starts with "From ". */
	randombytes_buf(jh.marker + 1, sizeof(jh.marker) - 1);
	if (read_all(md->fd, jh.orig, jh.mlen, f) == -1 ||
	    journal_write(md, &jh, segs, n) == -1) {
		return -1;
	}
	path_with(jpath, sizeof(jpath), md->path, JOURNAL_SUFFIX);
	if ((jfd = open(jpath, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		log_warn("open %s", jpath);
		return -1;
	}
	if (journal_commit(md, jfd, &jh) == 0 &&
	    journal_redo(md, jfd, &jh) == 0) {
		r = journal_finish(md, &jh);
	}
	close(jfd);
	return r;
}

/* ---- recovery ---- */

/* Read and verify the journal's header and data: MD_TEMP if it cannot
 * be read now, MD_PERM if it does not verify. */
static enum md_status
journal_read(struct maildrop *md, int jfd, struct jhdr *jh)
{
	crypto_generichash_state h;
	unsigned char		 sum[sizeof(jh->hash)];
	struct stat		 st;
	int			 r;

	if (fstat(jfd, &st) == -1 || ((size_t)st.st_size >= sizeof(*jh) &&
	    read_all(jfd, jh, sizeof(*jh), 0) == -1)) {
		log_warn("read %s%s", md->path, JOURNAL_SUFFIX);
		return MD_TEMP;
	}
	if ((size_t)st.st_size < sizeof(*jh) ||
	    memcmp(jh->magic, JOURNAL_MAGIC, sizeof(jh->magic)) != 0 ||
	    jh->start > jh->f || jh->f >= jh->s0 ||
	    jh->mlen > MARKER_LEN || jh->mlen > jh->s0 - jh->f ||
	    (uint64_t)st.st_size != sizeof(*jh) + (jh->f - jh->start) ||
	    (jh->phase != PHASE_PREPARED && jh->phase != PHASE_REDO)) {
		log_warnx("%s%s: not a valid journal", md->path,
		    JOURNAL_SUFFIX);
		return MD_PERM;
	}
	crypto_generichash_init(&h, NULL, 0, sizeof(sum));
	r = copy_range(-1, 0, jfd, sizeof(*jh),
	    (off_t)(jh->f - jh->start), &h);
	journal_hash(jh, sum, &h);
	if (r == -1) {
		log_warn("read %s%s", md->path, JOURNAL_SUFFIX);
		return MD_TEMP;
	}
	if (sodium_memcmp(sum, jh->hash, sizeof(sum)) != 0) {
		log_warnx("%s%s: journal checksum mismatch", md->path,
		    JOURNAL_SUFFIX);
		return MD_PERM;
	}
	return MD_OK;
}

/* Complete a journal in phase R.  The marker tells whether J5's cut has
 * happened: before it, the marker is at f; after it, f is the end of the
 * file or the start of mail appended since, which never starts with NUL. */
static int
recover_redo(struct maildrop *md, int jfd, const struct jhdr *jh)
{
	unsigned char	buf[MARKER_LEN];
	struct stat	st;
	struct seg	tail;
	int		cut;

	if (fstat(md->fd, &st) == -1) {
		return -1;
	}
	/* Only a marker that was read and differs shows the cut; a read
	 * error shows nothing, so recovery waits for the next login. */
	if ((uint64_t)st.st_size < jh->f + jh->mlen) {
		cut = 1;
	} else if (read_all(md->fd, buf, jh->mlen, (off_t)jh->f) == -1) {
		log_warn("%s: read the marker", md->path);
		return -1;
	} else {
		cut = memcmp(buf, jh->marker, jh->mlen) != 0;
	}
	if (journal_redo(md, jfd, jh) == -1 || fsync(md->fd) == -1) {
		return -1;
	}
	if (cut) {
		return journal_drop(md);	/* keep what came after the cut */
	}
	if ((uint64_t)st.st_size <= jh->s0) {
		return journal_finish(md, jh);
	}
	/* Mail came after the crash, behind the old end: move it down to f
	 * with a journal of its own, which replaces this one. */
	tail.off = (off_t)jh->s0;
	tail.len = st.st_size - (off_t)jh->s0;
	return journal_run(md, (off_t)jh->f, st.st_size, &tail, 1);
}

static const char *
mbox_pending(const char *path)
{
	char		jpath[LOCATION_MAX + PATH_EXTRA];
	struct stat	st;

	path_with(jpath, sizeof(jpath), path, JOURNAL_SUFFIX);
	return stat(jpath, &st) == 0 ? "an interrupted UPDATE left its "
	    "journal (the next login completes it)" : NULL;
}

static enum md_status
mbox_recover(struct maildrop *md)
{
	char		jpath[LOCATION_MAX + PATH_EXTRA];
	char		tpath[LOCATION_MAX + PATH_EXTRA];
	struct jhdr	jh;
	enum md_status	r;
	int		jfd, ok;
	char		phase;

	path_with(tpath, sizeof(tpath), md->path, JTMP_SUFFIX);
	path_with(jpath, sizeof(jpath), md->path, JOURNAL_SUFFIX);
	/* An unfinished journal: the mailbox was not touched yet. */
	auth_lock_group(1);
	if (unlink(tpath) == 0) {
		log_info("removed unfinished journal %s", tpath);
	}
	auth_lock_group(0);
	if ((jfd = open(jpath, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT) {
			return MD_OK;
		}
		log_warn("open %s", jpath);
		return MD_TEMP;
	}
	if ((r = mbox_openfile(md)) != MD_OK || md->fd == -1 ||
	    (r = mbox_lock(md)) != MD_OK) {
		close(jfd);
		if (r == MD_OK) {
			log_warnx("%s: journal without mailbox", jpath);
		}
		return r == MD_OK ? MD_PERM : r;
	}
	if ((r = journal_read(md, jfd, &jh)) != MD_OK) {
		ok = -1;
	} else {
		/* A whole journal is finished, never undone: one that
		 * recover_redo wrote to move new mail down stands in for a
		 * journal whose work is half done, and undoing it would
		 * leave that half.  In phase P nothing was cut yet, so J2-J3
		 * can simply be done (again). */
		phase = jh.phase;
		ok = (jh.phase == PHASE_REDO ||
		    journal_commit(md, jfd, &jh) == 0) &&
		    recover_redo(md, jfd, &jh) == 0 ? 0 : -1;
		r = ok == 0 ? MD_OK : MD_TEMP;
	}
	if (ok == 0) {
		log_info("%s: completed an interrupted UPDATE (phase %c)",
		    md->path, phase);
	}
	close(jfd);
	mbox_unlock(md);
	return r;
}
