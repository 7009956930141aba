/* tests/fuzz/fuzz_mbox.c: libFuzzer harness for the mbox backend.  The
 * input is a mailbox file.  It is opened as a session would, and checked
 * against a reference written here from pop3d(8) and RFC 4155: where the
 * messages start and end, the size of each as sent, what RETR and TOP
 * send (through io_send_msg into a memfd), the UIDLs (1-70 characters in
 * 0x21-0x7E, unique); then UPDATE deletes some messages and the file must
 * hold exactly the others, which a second scan finds with the same sizes
 * and the same UIDLs.  Run with -close_fd_mask=3, as make fuzz does. */
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"
#include "fuzz.h"

#define SEP		"From "
#define SEP_LEN		5
#define TOP_MAX		2	/* TOP 0 .. TOP_MAX - 1 are checked */

/* Where the reference puts message i. */
struct ref {
	size_t	from;		/* its From_ line */
	size_t	off;		/* after the From_ line */
	size_t	end;		/* before the empty line the next one needs */
};

/* A growing buffer for the reference's octets as sent. */
struct out {
	char	*p;
	size_t	 n, cap;
};

static char	 path[PATH_MAX], lock[PATH_MAX], journal[PATH_MAX];
static char	 cache[PATH_MAX];
static int	 sink;

static size_t	 line_end(const uint8_t *, size_t, size_t);
static int	 is_empty_line(const uint8_t *, size_t, size_t);
static size_t	 reference(const uint8_t *, size_t, struct ref *);
static void	 out_add(struct out *, const char *, size_t);
static void	 as_sent(const uint8_t *, size_t, struct out *);
static size_t	 top_len(const struct out *, long);
static void	 stuffed(const char *, size_t, struct out *);
static void	 check_send(struct maildrop *, size_t, const struct out *,
		    long);
static void	 check_msgs(struct maildrop *, const uint8_t *, size_t);
static void	 check_uidls(const struct maildrop *);
static int	 uidl_cmp(const void *, const void *);
static int	 suffixed(const char *);
static void	 check_update(struct maildrop *, const uint8_t *, size_t);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init();
	if (sodium_init() < 0) {
		fuzz_fail("sodium_init");
	}
	log_init(LOG_TO_STDERR);
	fuzz_path(path, sizeof(path), "mbox");
	fuzz_path(lock, sizeof(lock), "mbox.lock");
	fuzz_path(journal, sizeof(journal), "mbox.pop3d-journal");
	fuzz_path(cache, sizeof(cache), "mbox.pop3d-cache");
	sink = fuzz_memfd("sink");
	return 0;
}

/* The octet after the line at off (past its LF, or the end). */
static size_t
line_end(const uint8_t *d, size_t n, size_t off)
{
	const uint8_t	*lf = memchr(d + off, '\n', n - off);

	return lf != NULL ? (size_t)(lf - d) + 1 : n;
}

static int
is_empty_line(const uint8_t *d, size_t n, size_t off)
{
	return (n - off >= 1 && d[off] == '\n') ||
	    (n - off >= 2 && d[off] == '\r' && d[off + 1] == '\n');
}

/* RFC 4155 as pop3d(8) reads it: a From_ line starts a message at the
 * start of the file or right after an empty line; that empty line, and
 * one at the very end of the file, are the mailbox's, not the message's.
 * Written line by line on the whole input, with no buffering to get
 * wrong.  The number of messages; r gets them. */
static size_t
reference(const uint8_t *d, size_t n, struct ref *r)
{
	size_t	off, next, empty_off = 0, nmsgs = 0;
	int	prev_empty = 0;

	for (off = 0; off < n; off = next) {
		next = line_end(d, n, off);
		if (n - off >= SEP_LEN && memcmp(d + off, SEP, SEP_LEN) == 0 &&
		    (off == 0 || prev_empty)) {
			if (nmsgs > 0) {
				r[nmsgs - 1].end = prev_empty ? empty_off : off;
			}
			r[nmsgs].from = off;
			r[nmsgs++].off = next;
			prev_empty = 0;
			continue;
		}
		prev_empty = is_empty_line(d, n, off);
		empty_off = off;
	}
	if (nmsgs > 0) {
		r[nmsgs - 1].end = prev_empty ? empty_off : n;
	}
	return nmsgs;
}

static void
out_add(struct out *o, const char *p, size_t n)
{
	char	*q;

	if (n == 0) {
		return;
	}
	if (o->n + n > o->cap) {
		o->cap = (o->n + n) * 2;
		if ((q = realloc(o->p, o->cap)) == NULL) {
			fuzz_fail("realloc");
		}
		o->p = q;
	}
	memcpy(o->p + o->n, p, n);
	o->n += n;
}

/* The octets as sent before dot-stuffing: a CR before each LF that has
 * none, and a last line without LF ended. */
static void
as_sent(const uint8_t *d, size_t n, struct out *o)
{
	size_t	off = 0, next;

	while (off < n) {
		next = line_end(d, n, off);
		if (d[next - 1] != '\n') {
			/* The last line, without LF. */
			out_add(o, (const char *)d + off, next - off);
			out_add(o, d[next - 1] == '\r' ? "\n" : "\r\n",
			    d[next - 1] == '\r' ? 1 : 2);
		} else if (next - off >= 2 && d[next - 2] == '\r') {
			out_add(o, (const char *)d + off, next - off);
		} else {
			out_add(o, (const char *)d + off, next - off - 1);
			out_add(o, "\r\n", 2);
		}
		off = next;
	}
}

/* How much of the sent message TOP lines covers: the header, the empty
 * line, then at most lines lines; all of it when there is no empty line. */
static size_t
top_len(const struct out *o, long lines)
{
	size_t	off = 0, next;
	int	body = 0;

	while (off < o->n) {
		next = line_end((const uint8_t *)o->p, o->n, off);
		if (body && lines-- == 0) {
			return off;
		}
		if (!body && next - off == 2) {
			body = 1;	/* every line ends in CRLF by now */
		}
		off = next;
	}
	return off;
}

static void
stuffed(const char *p, size_t n, struct out *o)
{
	size_t	off = 0, next;

	while (off < n) {
		next = line_end((const uint8_t *)p, n, off);
		if (p[off] == '.') {
			out_add(o, ".", 1);
		}
		out_add(o, p + off, next - off);
		off = next;
	}
	out_add(o, ".\r\n", 3);
}

/* Send message i (TOP lines, or all with lines -1) and compare. */
static void
check_send(struct maildrop *md, size_t i, const struct out *sent, long lines)
{
	struct out	 want = { NULL, 0, 0 };
	char		*got;
	size_t		 n;
	off_t		 off, len;
	int		 fd;

	fuzz_rewind(sink);
	io_init(-1, sink);
	FUZZ_CHECK((fd = md->be->open_msg(md, i, &off, &len)) != -1,
	    "message %zu does not open", i + 1);
	FUZZ_CHECK(io_send_msg(fd, off, len, lines) == 0,
	    "io_send_msg failed on message %zu", i + 1);
	md->be->close_msg(md, fd);
	FUZZ_CHECK(io_flush() == 0, "io_flush");
	got = fuzz_written(sink, &n);
	stuffed(sent->p, lines < 0 ? sent->n : top_len(sent, lines), &want);
	FUZZ_CHECK(n == want.n && memcmp(got, want.p, n) == 0,
	    "message %zu (lines %ld) sent as %zu octets, not %zu", i + 1,
	    lines, n, want.n);
	free(got);
	free(want.p);
}

/* The scan against the reference, message by message. */
static void
check_msgs(struct maildrop *md, const uint8_t *d, size_t n)
{
	struct ref	*r;
	struct out	 sent;
	struct msg	*m;
	uint64_t	 total = 0;
	size_t		 nref, i;
	long		 k;

	if ((r = calloc(n / SEP_LEN + 1, sizeof(*r))) == NULL) {
		fuzz_fail("calloc");
	}
	nref = reference(d, n, r);
	FUZZ_CHECK(md->nmsgs == nref, "%zu messages, the reference has %zu",
	    md->nmsgs, nref);
	for (i = 0; i < nref; i++) {
		m = &md->msgs[i];
		FUZZ_CHECK((size_t)m->from == r[i].from &&
		    (size_t)m->off == r[i].off &&
		    (size_t)(m->off + m->len) == r[i].end,
		    "message %zu is [%lld, %lld) after %lld, not [%zu, %zu) "
		    "after %zu", i + 1, (long long)m->off,
		    (long long)(m->off + m->len), (long long)m->from,
		    r[i].off, r[i].end, r[i].from);
		memset(&sent, 0, sizeof(sent));
		as_sent(d + m->off, (size_t)m->len, &sent);
		FUZZ_CHECK(m->size == sent.n, "message %zu: size %llu, sent "
		    "%zu", i + 1, (unsigned long long)m->size, sent.n);
		total += m->size;
		check_send(md, i, &sent, -1);
		for (k = 0; k < TOP_MAX; k++) {
			check_send(md, i, &sent, k);
		}
		free(sent.p);
	}
	FUZZ_CHECK(md->total == total, "total %llu, sizes sum to %llu",
	    (unsigned long long)md->total, (unsigned long long)total);
	free(r);
}

static int
uidl_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static void
check_uidls(const struct maildrop *md)
{
	const char	**v;
	size_t		  i, j, n;

	if ((v = calloc(md->nmsgs + 1, sizeof(*v))) == NULL) {
		fuzz_fail("calloc");
	}
	for (i = 0; i < md->nmsgs; i++) {
		v[i] = md->msgs[i].uidl;
		n = strnlen(v[i], sizeof(md->msgs[i].uidl));
		FUZZ_CHECK(n >= 1 && n <= UIDL_MAX, "UIDL %zu: %zu octets",
		    i + 1, n);
		for (j = 0; j < n; j++) {
			FUZZ_CHECK(v[i][j] > 0x20 && v[i][j] < 0x7f,
			    "UIDL %zu: octet 0x%02x", i + 1,
			    (unsigned char)v[i][j]);
		}
	}
	qsort(v, md->nmsgs, sizeof(*v), uidl_cmp);
	for (i = 1; i < md->nmsgs; i++) {
		FUZZ_CHECK(strcmp(v[i - 1], v[i]) != 0, "UIDL %s twice", v[i]);
	}
	free(v);
}

/* A UIDL that a duplicate got ("-2", "-3"...): which copy gets it
 * depends on the copies that are left, so it may change in UPDATE. */
static int
suffixed(const char *u)
{
	size_t	n = strlen(u), k = n;

	while (k > 0 && u[k - 1] >= '0' && u[k - 1] <= '9') {
		k--;
	}
	return k < n && k > 0 && u[k - 1] == '-';
}

/* Delete some messages; the file must keep exactly the others, each with
 * its From_ line and the empty line after it, and a new scan must find
 * them with the same sizes and UIDLs.  Closes md. */
static void
check_update(struct maildrop *md, const uint8_t *d, size_t n)
{
	struct maildrop	 again;
	struct out	 want = { NULL, 0, 0 };
	struct msg	*kept;
	char		*got;
	size_t		 i, nkept = 0, len, end;
	int		 fd;

	if ((kept = calloc(md->nmsgs + 1, sizeof(*kept))) == NULL) {
		fuzz_fail("calloc");
	}
	for (i = 0; i < md->nmsgs; i++) {
		/* Some pattern that the content decides. */
		md->msgs[i].deleted = (md->msgs[i].size + i) % 3 == 0;
		if (md->msgs[i].deleted) {
			continue;
		}
		end = i + 1 < md->nmsgs ? (size_t)md->msgs[i + 1].from : n;
		out_add(&want, (const char *)d + md->msgs[i].from,
		    end - (size_t)md->msgs[i].from);
		kept[nkept++] = md->msgs[i];
	}
	FUZZ_CHECK(maildrop_update(md) == MD_OK, "UPDATE failed");
	maildrop_close(md);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		fuzz_fail("open %s: %s", path, strerror(errno));
	}
	got = fuzz_slurp(fd, &len);
	close(fd);
	FUZZ_CHECK(len == want.n && (len == 0 ||
	    memcmp(got, want.p, len) == 0),
	    "after UPDATE the mbox has %zu octets, not %zu", len, want.n);
	FUZZ_CHECK(maildrop_open(&again, path, &mbox_backend) == MD_OK,
	    "the mbox UPDATE left does not open");
	FUZZ_CHECK(again.nmsgs == nkept, "%zu messages after UPDATE, not %zu",
	    again.nmsgs, nkept);
	for (i = 0; i < nkept; i++) {
		FUZZ_CHECK(again.msgs[i].size == kept[i].size,
		    "kept message %zu changed size", i + 1);
		FUZZ_CHECK(suffixed(kept[i].uidl) || suffixed(again.msgs[i].uidl)
		    || strcmp(kept[i].uidl, again.msgs[i].uidl) == 0,
		    "kept message %zu: UIDL %s became %s", i + 1, kept[i].uidl,
		    again.msgs[i].uidl);
	}
	maildrop_close(&again);
	free(got);
	free(want.p);
	free(kept);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct maildrop	md;
	enum md_status	st, want;
	int		fd = fuzz_lowest_fd();

	/* Not an mbox unless empty or starting with a From_ line. */
	want = size == 0 || (size >= SEP_LEN && memcmp(data, SEP, SEP_LEN) ==
	    0) ? MD_OK : MD_PERM;
	/* Each input is another mailbox: the last one's cache must not
	 * describe it (pop3d(8) says which rewrites a cache cannot see). The
	 * second scan in check_update reads the cache UPDATE left. */
	(void)unlink(cache);
	fuzz_put(path, data, size);
	st = maildrop_open(&md, path, &mbox_backend);
	FUZZ_CHECK(st == want, "maildrop_open: %d, not %d", st, want);
	if (st == MD_OK) {
		check_msgs(&md, data, size);
		check_uidls(&md);
		check_update(&md, data, size);
	}
	FUZZ_CHECK(access(lock, F_OK) == -1, "dotlock left behind");
	FUZZ_CHECK(access(journal, F_OK) == -1, "journal left behind");
	FUZZ_CHECK(fuzz_lowest_fd() == fd, "descriptor leaked");
	return 0;
}
