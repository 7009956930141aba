/* mbox.c: the mbox backend: MDA locking, scanning, journalled UPDATE and
 * its recovery.  The argument for why UPDATE is crash-safe is in pop3d(8),
 * section DURABILITY; the step names below (U1..U6) refer to it. */
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
#define JOURNAL_MAGIC	"POP3DJ2\n"
#define STASH_MAX	(4 * 1024 * 1024)	/* octets of a stash round */
#define STASH_MIN	(64 * 1024)
#define MARKER_LEN	16
#define SCAN_AHEAD	128	/* a From_ test or an X-UIDL header fits */

/* The journal's header; the kept segments (struct jseg) follow it, then
 * room for one stash record, then the progress records (pop3d(8),
 * DURABILITY). */
struct jhdr {
	char		 magic[8];
	uint64_t	 s0;		/* mbox size when UPDATE began */
	uint64_t	 start;		/* first octet UPDATE rewrites */
	uint64_t	 f;		/* mbox size when UPDATE is done */
	uint64_t	 nsegs;		/* kept segments */
	uint64_t	 stash;		/* most octets a stash round takes */
	uint64_t	 mlen;		/* octets of marker at f */
	unsigned char	 marker[MARKER_LEN];
	unsigned char	 hash[32];	/* BLAKE2b of header and segments */
};

struct jseg {
	uint64_t	 off;		/* where the octets are before UPDATE */
	uint64_t	 len;
};

enum jkind { REC_PROGRESS = 'P', REC_STASH = 'S', REC_MARKER = 'M' };

/* A record: progress (d octets of new content are in place), the marker
 * at f is in place, or a stash (the n octets of new content from d on
 * follow it). */
struct jrec {
	uint64_t	 kind;
	uint64_t	 d;
	uint64_t	 n;
	unsigned char	 sum[16];	/* BLAKE2b keyed with the header's */
};

struct seg {
	off_t	off;
	off_t	len;
};

/* An UPDATE under way: its plan, and how far it is. */
struct upd {
	struct maildrop	*md;
	int		 jfd;
	struct jhdr	 jh;
	struct seg	*segs;
	size_t		 nsegs;
	uint64_t	 total;		/* f - start */
	uint64_t	 d;		/* octets of new content in place */
	off_t		 stash_at;	/* the stash record in the journal */
	off_t		 rec_at;	/* where the next record goes */
	char		*buf;		/* a stash record, or a chunk */
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
static uint64_t	src_of(const struct upd *, uint64_t, size_t *);
static uint64_t	round_plan(const struct upd *, uint64_t, int *);
static void	plan_rounds(const struct upd *, uint64_t, uint64_t *,
		    uint64_t *);
static int	move_range(struct upd *, off_t, off_t, off_t);
static int	gather(struct upd *, uint64_t, uint64_t, char *);
static void	rec_sum(const struct upd *, const struct jrec *, const void *,
		    unsigned char *);
static int	rec_append(struct upd *, uint64_t, uint64_t);
static int	round_run(struct upd *, uint64_t, int);
static int	rounds_run(struct upd *);
static off_t	layout(struct upd *, uint64_t);
static void	jhdr_sum(const struct upd *, unsigned char *);
static int	journal_run(struct maildrop *, off_t, off_t,
		    const struct seg *, size_t);
static int	journal_write(struct upd *, off_t);
static int	journal_finish(struct upd *);
static int	journal_drop(struct maildrop *);
static void	upd_free(struct upd *);
static enum md_status journal_read(struct upd *, int *);
static int	recover_stash(struct upd *);
static int	recover_redo(struct upd *, int);
static int	write_all(int, const void *, size_t, off_t);
static int	read_all(int, void *, size_t, off_t);
static int	fsync_dir(const char *);

const struct backend mbox_backend = {
	"mbox", mbox_scan, mbox_open_msg, mbox_close_msg, mbox_update,
	mbox_recover, mbox_pending
};

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
	return fnv1a64(p, n);
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
	if (sc->xuidl[0] != '\0' || end - p < 8 || (*p | 0x20) != 'x' ||
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
		/* The first letter first: most lines are none of these. */
		if ((sc->fields & 1U << i) == 0 && avail >= uidl_fields[i].len &&
		    (*p | 0x20) == (uidl_fields[i].name[0] | 0x20) &&
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
	/* A cache of this very file, unchanged, spares the scan. */
	cached = mbox_cache_load(md, &st) == 0;
	start = sc->base = cached ? st.st_size : 0;
	sc->cap = md->nmsgs;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = scan_bus;
	sigemptyset(&sa.sa_mask);
	(void)sigaction(SIGBUS, &sa, &osa);
	if (sigsetjmp(scan_jmp, 1) == 0) {
		r = scan_run(sc);
		if (r == MD_OK && !cached) {
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

/* Where the new content's octet d comes from; *i is the segment that
 * holds it.  Past the last octet: s0. */
static uint64_t
src_of(const struct upd *u, uint64_t d, size_t *i)
{
	uint64_t	at = 0;
	size_t		k;

	for (k = 0; k < u->nsegs; k++) {
		if (d < at + (uint64_t)u->segs[k].len) {
			*i = k;
			return (uint64_t)u->segs[k].off + (d - at);
		}
		at += (uint64_t)u->segs[k].len;
	}
	*i = k;
	return u->jh.s0;
}

/* The round that moves the octets from d on: its length, and whether it
 * needs a stash.  It depends on nothing but the plan and d, so that
 * recovery continues with the rounds UPDATE planned.  Without a stash a
 * round writes only below the source of every octet not yet in place:
 * it moves as many octets as the gap.  A gap that grows by a quarter
 * within four rounds' worth of octets soon doubles, so such rounds soon
 * move large amounts.  Where the gap would stay small, a stash round
 * moves past it: a quarter of what is in place already, between
 * STASH_MIN and the stash the journal reserved. */
static uint64_t
round_plan(const struct upd *u, uint64_t d, int *stash)
{
	uint64_t	rem = u->total - d, gap, next, n;
	size_t		i;

	*stash = 0;
	gap = src_of(u, d, &i) - (u->jh.start + d);
	if (gap >= rem || gap >= STASH_MAX || gap >= rem / 4) {
		return gap < rem ? gap : rem;	/* four rounds at most */
	}
	next = src_of(u, d + 4 * gap, &i) - (u->jh.start + d + 4 * gap);
	n = d / 4 > STASH_MIN ? d / 4 : STASH_MIN;
	n = n < u->jh.stash ? n : u->jh.stash;
	n = n < rem ? n : rem;
	if (next - gap >= gap / 4 || n <= gap) {
		return gap;
	}
	*stash = 1;
	return n;
}

/* The rounds from d to the end, moving nothing: how many, and the most
 * octets a stash round takes. */
static void
plan_rounds(const struct upd *u, uint64_t d, uint64_t *rounds,
    uint64_t *stash)
{
	uint64_t	n;
	int		s;

	*rounds = *stash = 0;
	while (d < u->total) {
		n = round_plan(u, d, &s);
		if (s && n > *stash) {
			*stash = n;
		}
		(*rounds)++;
		d += n;
	}
}

/* Copy len octets from soff to doff within the mailbox, ranges that do
 * not overlap: in the kernel where it can, else through buf. */
static int
move_range(struct upd *u, off_t doff, off_t soff, off_t len)
{
	ssize_t	r;
	size_t	n;
	int	user = 0;

	while (len > 0) {
		if (!user) {
			r = copy_file_range(u->md->fd, &soff, u->md->fd,
			    &doff, (size_t)len, 0);
			if (r > 0) {
				len -= r;
				continue;
			}
			if (r == -1 && errno == EINTR) {
				continue;
			}
			if (r == 0 || (errno != EXDEV && errno != EINVAL &&
			    errno != ENOSYS && errno != EOPNOTSUPP)) {
				if (r == 0) {
					errno = EIO;	/* cut short */
				}
				return -1;
			}
			user = 1;	/* not here: through user space */
		}
		n = len < IO_CHUNK ? (size_t)len : IO_CHUNK;
		if (read_all(u->md->fd, u->buf, n, soff) == -1 ||
		    write_all(u->md->fd, u->buf, n, doff) == -1) {
			return -1;
		}
		soff += (off_t)n;
		doff += (off_t)n;
		len -= (off_t)n;
	}
	return 0;
}

/* The n octets of new content from d on, at their sources: moved to
 * their place (out NULL) or read into out. */
static int
gather(struct upd *u, uint64_t d, uint64_t n, char *out)
{
	uint64_t	src, k;
	off_t		dst = (off_t)(u->jh.start + d);
	size_t		i;

	while (n > 0) {
		src = src_of(u, d, &i);
		if (i == u->nsegs) {
			errno = EIO;
			return -1;
		}
		k = (uint64_t)u->segs[i].off + (uint64_t)u->segs[i].len - src;
		if (k > n) {
			k = n;
		}
		if (out != NULL) {
			if (read_all(u->md->fd, out, k, (off_t)src) == -1) {
				return -1;
			}
			out += k;
		} else if (move_range(u, dst, (off_t)src, (off_t)k) == -1) {
			return -1;
		}
		dst += (off_t)k;
		d += k;
		n -= k;
	}
	return 0;
}

/* A record's checksum: keyed with the header's, so that it belongs to
 * this journal; over the record (sum zeroed) and the n octets at data. */
static void
rec_sum(const struct upd *u, const struct jrec *rec, const void *data,
    unsigned char *out)
{
	crypto_generichash_state h;
	struct jrec		 c = *rec;

	memset(c.sum, 0, sizeof(c.sum));
	crypto_generichash_init(&h, u->jh.hash, sizeof(u->jh.hash),
	    sizeof(c.sum));
	crypto_generichash_update(&h, (unsigned char *)&c, sizeof(c));
	if (data != NULL) {
		crypto_generichash_update(&h, data, (size_t)rec->n);
	}
	crypto_generichash_final(&h, out, sizeof(c.sum));
}

/* Append a progress or marker record and make it durable. */
static int
rec_append(struct upd *u, uint64_t kind, uint64_t d)
{
	struct jrec	rec;

	memset(&rec, 0, sizeof(rec));
	rec.kind = kind;
	rec.d = d;
	rec_sum(u, &rec, NULL, rec.sum);
	if (write_all(u->jfd, &rec, sizeof(rec), u->rec_at) == -1 ||
	    fdatasync(u->jfd) == -1) {
		return -1;
	}
	u->rec_at += (off_t)sizeof(rec);
	return 0;
}

/* U2 or U3: one round of n octets from u->d; with stash, its new content
 * goes to the journal first.  The stash slot holds u->buf: the record, then the
 * octets. */
static int
round_run(struct upd *u, uint64_t n, int stash)
{
	struct jrec	*rec = (struct jrec *)(void *)u->buf;
	char		*data = u->buf + sizeof(*rec);

	if (stash) {
		memset(rec, 0, sizeof(*rec));
		rec->kind = REC_STASH;
		rec->d = u->d;
		rec->n = n;
		if (gather(u, u->d, n, data) == -1) {
			return -1;
		}
		rec_sum(u, rec, data, rec->sum);
		if (write_all(u->jfd, u->buf, sizeof(*rec) + n,
		    u->stash_at) == -1 || fdatasync(u->jfd) == -1 ||
		    write_all(u->md->fd, data, n,
		    (off_t)(u->jh.start + u->d)) == -1) {
			return -1;
		}
	} else if (gather(u, u->d, n, NULL) == -1) {
		return -1;
	}
	if (fdatasync(u->md->fd) == -1 ||
	    rec_append(u, REC_PROGRESS, u->d + n) == -1) {
		return -1;
	}
	u->d += n;
	return 0;
}

/* U2-U4: the rounds from u->d on, then the marker at f, durable and
 * recorded. */
static int
rounds_run(struct upd *u)
{
	uint64_t	n;
	int		stash;

	while (u->d < u->total) {
		n = round_plan(u, u->d, &stash);
		if (round_run(u, n, stash) == -1) {
			log_warn("%s: move %llu octets to %llu", u->md->path,
			    (unsigned long long)n,
			    (unsigned long long)u->jh.start + u->d);
			return -1;
		}
	}
	if (write_all(u->md->fd, u->jh.marker, u->jh.mlen,
	    (off_t)u->jh.f) == -1 || fdatasync(u->md->fd) == -1 ||
	    rec_append(u, REC_MARKER, u->d) == -1) {
		log_warn("%s: marker", u->md->path);
		return -1;
	}
	return 0;
}

/* Where the stash slot and the records lie, and the room they take. */
static off_t
layout(struct upd *u, uint64_t rounds)
{
	u->stash_at = (off_t)(sizeof(u->jh) + u->jh.nsegs *
	    sizeof(struct jseg));
	u->rec_at = u->stash_at;
	if (u->jh.stash > 0) {
		u->rec_at += (off_t)(sizeof(struct jrec) + u->jh.stash);
	}
	u->buf = xcalloc(1, sizeof(struct jrec) + (u->jh.stash > IO_CHUNK ?
	    u->jh.stash : IO_CHUNK));
	return u->rec_at + (off_t)((rounds + 2) * sizeof(struct jrec));
}

/* The header's checksum, over the header (hash zeroed) and segments. */
static void
jhdr_sum(const struct upd *u, unsigned char *out)
{
	crypto_generichash_state h;
	struct jhdr		 c = u->jh;
	struct jseg		 js;
	size_t			 i;

	memset(c.hash, 0, sizeof(c.hash));
	crypto_generichash_init(&h, NULL, 0, sizeof(c.hash));
	crypto_generichash_update(&h, (unsigned char *)&c, sizeof(c));
	for (i = 0; i < u->nsegs; i++) {
		js.off = (uint64_t)u->segs[i].off;
		js.len = (uint64_t)u->segs[i].len;
		crypto_generichash_update(&h, (unsigned char *)&js,
		    sizeof(js));
	}
	crypto_generichash_final(&h, out, sizeof(c.hash));
}

/* U1: the journal, complete, with its room reserved, durable, under its
 * final name; u->jfd is open on it. */
static int
journal_write(struct upd *u, off_t size)
{
	char		 jpath[LOCATION_MAX + PATH_EXTRA];
	char		 tpath[LOCATION_MAX + PATH_EXTRA];
	struct jseg	*js;
	size_t		 i, k;
	int		 fd, r;

	path_with(jpath, sizeof(jpath), u->md->path, JOURNAL_SUFFIX);
	path_with(tpath, sizeof(tpath), u->md->path, JTMP_SUFFIX);
	fd = open(tpath, O_RDWR | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd == -1) {
		log_warn("create %s", tpath);
		return -1;
	}
	jhdr_sum(u, u->jh.hash);
	r = write_all(fd, &u->jh, sizeof(u->jh), 0);
	/* The segments, a chunk at a time through u->buf. */
	for (i = 0, k = 0; i < u->nsegs && r == 0; i++) {
		js = (struct jseg *)(void *)u->buf + k;
		js->off = (uint64_t)u->segs[i].off;
		js->len = (uint64_t)u->segs[i].len;
		if (++k == IO_CHUNK / sizeof(*js) || i + 1 == u->nsegs) {
			r = write_all(fd, u->buf, k * sizeof(*js),
			    (off_t)(sizeof(u->jh) + (i + 1 - k) *
			    sizeof(*js)));
			k = 0;
		}
	}
	/* The stash and the records will have their blocks. */
	if (r == 0 && (errno = posix_fallocate(fd, u->stash_at,
	    size - u->stash_at)) != 0) {
		r = -1;
	}
	if (r == 0 && (r = fsync(fd)) == 0 && (r = rename(tpath, jpath)) == 0) {
		r = fsync_dir(jpath);
	}
	if (r == -1) {
		log_warn("write journal %s", tpath);
		(void)unlink(tpath);
		close(fd);
		return -1;
	}
	u->jfd = fd;
	return 0;
}

/* U5-U6: cut the mailbox, make it durable, drop the journal. */
static int
journal_finish(struct upd *u)
{
	if (ftruncate(u->md->fd, (off_t)u->jh.f) == -1 ||
	    fsync(u->md->fd) == -1) {
		log_warn("%s: truncate", u->md->path);
		return -1;
	}
	return journal_drop(u->md);
}

/* U6: the journal's work is durable in the mailbox: remove it. */
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

static void
upd_free(struct upd *u)
{
	if (u->jfd != -1) {
		close(u->jfd);
	}
	free(u->buf);
	free(u->segs);
	u->jfd = -1;
	u->buf = NULL;
	u->segs = NULL;
}

/* Replace octets [start, s0) by the segments, crash-safely (U1-U6). */
static int
journal_run(struct maildrop *md, off_t start, off_t s0, const struct seg *segs,
    size_t n)
{
	struct upd	u;
	uint64_t	rounds, stash;
	off_t		size;
	size_t		i;
	int		r = -1;

	memset(&u, 0, sizeof(u));
	u.md = md;
	u.jfd = -1;
	u.nsegs = n;
	u.segs = xcalloc(n + 1, sizeof(*segs));
	memcpy(u.segs, segs, n * sizeof(*segs));
	for (i = 0; i < n; i++) {
		u.total += (uint64_t)segs[i].len;
	}
	memcpy(u.jh.magic, JOURNAL_MAGIC, sizeof(u.jh.magic));
	u.jh.s0 = (uint64_t)s0;
	u.jh.start = (uint64_t)start;
	u.jh.f = (uint64_t)start + u.total;
	u.jh.nsegs = n;
	u.jh.mlen = u.jh.s0 - u.jh.f < MARKER_LEN ? u.jh.s0 - u.jh.f :
	    MARKER_LEN;
	/* The marker starts with NUL: appended mail starts with "From ". */
	randombytes_buf(u.jh.marker + 1, sizeof(u.jh.marker) - 1);
	/* The stash reserved: the largest the rounds take, at most
	 * STASH_MAX; none at all when every round can do without. */
	u.jh.stash = STASH_MAX;
	plan_rounds(&u, 0, &rounds, &stash);
	u.jh.stash = stash;
	size = layout(&u, rounds);
	if (journal_write(&u, size) == 0 && rounds_run(&u) == 0) {
		r = journal_finish(&u);
	}
	upd_free(&u);
	return r;
}

/* ---- recovery ---- */

/* Read and verify the journal: its header and plan, and its records up
 * to the first that does not verify (the one a crash cut short).
 * MD_TEMP if it cannot be read now, MD_PERM if it does not verify. */
static enum md_status
journal_read(struct upd *u, int *marked)
{
	unsigned char	 sum[sizeof(u->jh.hash)];
	struct jrec	 rec;
	struct jseg	*js;
	struct stat	 st;
	uint64_t	 at;
	size_t		 i, k;

	*marked = 0;
	if (fstat(u->jfd, &st) == -1 || ((size_t)st.st_size >= sizeof(u->jh) &&
	    read_all(u->jfd, &u->jh, sizeof(u->jh), 0) == -1)) {
		goto temp;
	}
	if ((size_t)st.st_size < sizeof(u->jh) ||
	    memcmp(u->jh.magic, JOURNAL_MAGIC, sizeof(u->jh.magic)) != 0 ||
	    u->jh.start > u->jh.f || u->jh.f >= u->jh.s0 ||
	    u->jh.mlen > MARKER_LEN || u->jh.mlen > u->jh.s0 - u->jh.f ||
	    u->jh.stash > STASH_MAX || u->jh.nsegs > u->jh.s0 ||
	    u->jh.nsegs > ((uint64_t)st.st_size - sizeof(u->jh)) /
	    sizeof(*js)) {
		goto perm;
	}
	u->nsegs = (size_t)u->jh.nsegs;
	u->segs = xcalloc(u->nsegs + 1, sizeof(*u->segs));
	js = xcalloc(IO_CHUNK / sizeof(*js), sizeof(*js));
	for (i = 0, k = 0, at = u->jh.start; i < u->nsegs; i++, k++) {
		if (k == IO_CHUNK / sizeof(*js)) {
			k = 0;
		}
		if (k == 0 && read_all(u->jfd, js, (u->nsegs - i < IO_CHUNK /
		    sizeof(*js) ? u->nsegs - i : IO_CHUNK / sizeof(*js)) *
		    sizeof(*js), (off_t)(sizeof(u->jh) + i * sizeof(*js))) ==
		    -1) {
			free(js);
			goto temp;
		}
		/* In order, apart, and behind what the rounds write. */
		if (js[k].len == 0 || js[k].off <= at ||
		    js[k].off > u->jh.s0 || js[k].len > u->jh.s0 - js[k].off) {
			free(js);
			goto perm;
		}
		at = js[k].off + js[k].len;
		u->segs[i].off = (off_t)js[k].off;
		u->segs[i].len = (off_t)js[k].len;
		u->total += js[k].len;
	}
	free(js);
	jhdr_sum(u, sum);
	if (u->jh.start + u->total != u->jh.f ||
	    sodium_memcmp(sum, u->jh.hash, sizeof(sum)) != 0) {
		goto perm;
	}
	/* U1 reserved the stash slot, and room for records after it. */
	(void)layout(u, 0);
	if (u->rec_at > st.st_size) {
		goto perm;
	}
	for (; u->rec_at + (off_t)sizeof(rec) <= st.st_size;
	    u->rec_at += (off_t)sizeof(rec)) {
		if (read_all(u->jfd, &rec, sizeof(rec), u->rec_at) == -1) {
			goto temp;
		}
		rec_sum(u, &rec, NULL, sum);
		if (sodium_memcmp(sum, rec.sum, sizeof(rec.sum)) != 0 ||
		    *marked) {
			break;
		}
		if ((rec.kind != REC_PROGRESS && rec.kind != REC_MARKER) ||
		    rec.n != 0 || rec.d > u->total ||
		    (rec.kind == REC_PROGRESS && rec.d <= u->d) ||
		    (rec.kind == REC_MARKER && rec.d != u->total) ||
		    (rec.kind == REC_MARKER && u->d != u->total)) {
			goto perm;
		}
		u->d = rec.d;
		*marked = rec.kind == REC_MARKER;
	}
	return MD_OK;
perm:
	log_warnx("%s%s: not a valid journal", u->md->path, JOURNAL_SUFFIX);
	return MD_PERM;
temp:
	log_warn("read %s%s", u->md->path, JOURNAL_SUFFIX);
	return MD_TEMP;
}

/* A stash whose round was not recorded: put it in place again.  One that
 * does not verify was cut short by the crash, before its round wrote
 * anything: the round's sources are intact.  0, or -1 on an I/O error. */
static int
recover_stash(struct upd *u)
{
	struct jrec	*rec = (struct jrec *)(void *)u->buf;
	char		*data = u->buf + sizeof(*rec);
	unsigned char	 sum[sizeof(rec->sum)];

	if (u->jh.stash == 0 || u->d == u->total) {
		return 0;
	}
	if (read_all(u->jfd, rec, sizeof(*rec), u->stash_at) == -1) {
		return -1;
	}
	if (rec->kind != REC_STASH || rec->d != u->d || rec->n == 0 ||
	    rec->n > u->jh.stash || rec->n > u->total - u->d) {
		return 0;
	}
	if (read_all(u->jfd, data, (size_t)rec->n, u->stash_at +
	    (off_t)sizeof(*rec)) == -1) {
		return -1;
	}
	rec_sum(u, rec, data, sum);
	if (sodium_memcmp(sum, rec->sum, sizeof(sum)) != 0) {
		return 0;
	}
	if (write_all(u->md->fd, data, (size_t)rec->n,
	    (off_t)(u->jh.start + u->d)) == -1 ||
	    fdatasync(u->md->fd) == -1 ||
	    rec_append(u, REC_PROGRESS, u->d + rec->n) == -1) {
		return -1;
	}
	u->d += rec->n;
	return 0;
}

/* Complete the journal: the rounds from the last recorded one, then the
 * marker at f.  Once the marker is recorded, it tells whether U5's cut
 * has happened: before it, the marker is at f; after it, f is the end of
 * the file or the start of mail appended since, which never starts with
 * NUL. */
static int
recover_redo(struct upd *u, int marked)
{
	unsigned char	buf[MARKER_LEN];
	struct stat	st;
	struct seg	tail;
	int		cut = 0;

	if (!marked && (recover_stash(u) == -1 || rounds_run(u) == -1)) {
		log_warn("%s: recovery", u->md->path);
		return -1;
	}
	if (fstat(u->md->fd, &st) == -1) {
		return -1;
	}
	/* Only a marker that was read and differs shows the cut; a read
	 * error shows nothing, so recovery waits for the next login. */
	if ((uint64_t)st.st_size < u->jh.f + u->jh.mlen) {
		cut = 1;
	} else if (read_all(u->md->fd, buf, u->jh.mlen,
	    (off_t)u->jh.f) == -1) {
		log_warn("%s: read the marker", u->md->path);
		return -1;
	} else {
		cut = memcmp(buf, u->jh.marker, u->jh.mlen) != 0;
	}
	if (cut) {
		return journal_drop(u->md);	/* keep what came after the cut */
	}
	if ((uint64_t)st.st_size <= u->jh.s0) {
		return journal_finish(u);
	}
	/* Mail came after the crash, behind the old end: move it down to f
	 * with a journal of its own, which replaces this one. */
	tail.off = (off_t)u->jh.s0;
	tail.len = st.st_size - (off_t)u->jh.s0;
	return journal_run(u->md, (off_t)u->jh.f, st.st_size, &tail, 1);
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
	struct upd	u;
	enum md_status	r;
	uint64_t	from = 0;
	int		marked = 0;

	path_with(tpath, sizeof(tpath), md->path, JTMP_SUFFIX);
	path_with(jpath, sizeof(jpath), md->path, JOURNAL_SUFFIX);
	/* An unfinished journal: the mailbox was not touched yet. */
	auth_lock_group(1);
	if (unlink(tpath) == 0) {
		log_info("removed unfinished journal %s", tpath);
	}
	auth_lock_group(0);
	memset(&u, 0, sizeof(u));
	u.md = md;
	if ((u.jfd = open(jpath, O_RDWR | O_NOFOLLOW | O_CLOEXEC)) == -1) {
		if (errno == ENOENT) {
			return MD_OK;
		}
		log_warn("open %s", jpath);
		return MD_TEMP;
	}
	if ((r = mbox_openfile(md)) != MD_OK || md->fd == -1 ||
	    (r = mbox_lock(md)) != MD_OK) {
		upd_free(&u);
		if (r == MD_OK) {
			log_warnx("%s: journal without mailbox", jpath);
		}
		return r == MD_OK ? MD_PERM : r;
	}
	/* A whole journal is finished, never undone: the rounds only ever
	 * go forward, and one that recover_redo wrote to move new mail down
	 * stands in for a journal whose work is done. */
	if ((r = journal_read(&u, &marked)) == MD_OK) {
		from = u.d;
		r = recover_redo(&u, marked) == 0 ? MD_OK : MD_TEMP;
	}
	if (r == MD_OK) {
		log_info("%s: completed an interrupted UPDATE (from octet "
		    "%llu of %llu%s)", md->path, (unsigned long long)from,
		    (unsigned long long)u.total, marked ? ", marker set" : "");
	}
	upd_free(&u);
	mbox_unlock(md);
	return r;
}
