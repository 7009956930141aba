/* tests/check_maildir.c: Check tests for maildir.c through maildrop.c:
 * which files are messages, their order, sizes and UIDLs, RETR, and what
 * UPDATE unlinks and moves. */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"
#include "tests/sendlib.h"
#include "tests/testlib.h"

#define PATH_LEN	512
#define BIG_MSG		(3 * IO_CHUNK + 17)

static void	 setup(void);
static void	 teardown(void);
static int	 rm_one(const char *, const struct stat *, int, struct FTW *);
static void	 put(const char *, const void *, size_t);
static int	 exists(const char *);
static void	 populate(void);
static void	 open_ok(struct maildrop *);
static size_t	 find(const struct maildrop *, const char *);
static size_t	 random_file(size_t, char *, uint32_t *);
static size_t	 open_check_sizes(void);
static Suite	*maildir_suite(void);

static char	tmpdir[64];
static char	maildir[PATH_LEN];

/* The test Maildir: file (under the Maildir), content. */
/* One character longer than a UIDL may be. */
#define LONG_NAME	"1700000004.xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx" \
			"xxxxxxxxxxxxxxxxxxxxxxxxxxxxxx"
static const struct {
	const char	*file;
	const char	*content;
	size_t		 n;
} files[] = {
#define F(f, c)	{ f, c, sizeof(c) - 1 }
	F("new/1700000000.M1P2.host", "Subject: a\n\nbody a\n"),
	F("cur/1700000001.M2P3.host:2,S", "Subject: b\n\n.dot\nlast"),
	F("new/1699999999.M0P1.host", "Subject: first\r\n\r\nearly\r\n"),
	F("cur/1700000002.M3P4.host:2,RS", ""),
	F("cur/1700000003.we ird:2,", "Subject: weird\n\nw\n"),
	F("new/" LONG_NAME, "Subject: long\n\nl\n"),
	F("new/1700000005.\303\251t\303\251", "Subject: utf8\n\nu\n"),
	F("new/.hidden", "Subject: hidden\n\nh\n"),
	F("cur/.1700000006.dot:2,S", "Subject: dotfile\n\nd\n"),
	F("tmp/1700000007.M7P7.host", "Subject: in tmp\n\nt\n"),
#undef F
};
#define NFILES		(sizeof(files) / sizeof(files[0]))
#define NMESSAGES	7	/* the files above, less dotfiles and tmp/ */

/* ---- helpers ---- */

static void
setup(void)
{
	static const char *const dirs[] = { "", "/new", "/cur", "/tmp" };
	char	path[PATH_LEN + 8];
	size_t	i;

	strcpy(tmpdir, "/tmp/check_maildir.XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(tmpdir));
	snprintf(maildir, sizeof(maildir), "%s/Maildir", tmpdir);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		snprintf(path, sizeof(path), "%s%s", maildir, dirs[i]);
		ck_assert_int_eq(mkdir(path, 0700), 0);
	}
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
}

/* Write a file under the Maildir. */
static void
put(const char *rel, const void *p, size_t n)
{
	char	path[2 * PATH_LEN];
	int	fd;

	snprintf(path, sizeof(path), "%s/%s", maildir, rel);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(write(fd, p, n), (ssize_t)n);
	close(fd);
}

/* Does a file or link exist under the Maildir? */
static int
exists(const char *rel)
{
	char		path[2 * PATH_LEN];
	struct stat	st;

	snprintf(path, sizeof(path), "%s/%s", maildir, rel);
	return lstat(path, &st) == 0;
}

/* The files, plus what must be skipped: a subdirectory and a symlink. */
static void
populate(void)
{
	char	path[2 * PATH_LEN], target[2 * PATH_LEN];
	size_t	i;

	for (i = 0; i < NFILES; i++) {
		put(files[i].file, files[i].content, files[i].n);
	}
	snprintf(path, sizeof(path), "%s/cur/1700000008.subdir:2,S", maildir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(target, sizeof(target), "%s/outside", tmpdir);
	put("../outside", "Subject: outside\n\no\n", 20);
	snprintf(path, sizeof(path), "%s/cur/1700000009.link:2,S", maildir);
	ck_assert_int_eq(symlink(target, path), 0);
}

static void
open_ok(struct maildrop *md)
{
	ck_assert_int_eq(maildrop_open(md, maildir, &maildir_backend), MD_OK);
	ck_assert_ptr_eq(md->be, &maildir_backend);
}

#define RETR(md, i, lines, w)	\
	expect_retr((md), (i), (lines), (w), sizeof(w) - 1)

/* The index of the message named name ("new/..." or "cur/..."). */
static size_t
find(const struct maildrop *md, const char *name)
{
	size_t	i;

	for (i = 0; i < md->nmsgs; i++) {
		if (strcmp(md->msgs[i].name, name) == 0) {
			return i;
		}
	}
	ck_abort_msg("%s is not a message", name);
	return 0;
}

/* ---- scan ---- */

START_TEST(test_scan)
{
	static const struct {
		const char	*name;
		off_t		 len;
		uint64_t	 size;
		const char	*uidl;	/* NULL: a hash */
	} want[NMESSAGES] = {
		{ "new/1699999999.M0P1.host", 25, 25,
		    "1699999999.M0P1.host" },
		{ "new/1700000000.M1P2.host", 19, 22,
		    "1700000000.M1P2.host" },
		{ "cur/1700000001.M2P3.host:2,S", 21, 26,
		    "1700000001.M2P3.host" },
		{ "cur/1700000002.M3P4.host:2,RS", 0, 0,
		    "1700000002.M3P4.host" },
		{ "cur/1700000003.we ird:2,", 18, 21, NULL },
		{ "new/" LONG_NAME, 17, 20, NULL },
		{ "new/1700000005.\303\251t\303\251", 17, 20, NULL },
	};
	struct maildrop	md;
	uint64_t	total = 0;
	size_t		i;

	populate();
	open_ok(&md);
	ck_assert_uint_eq(md.nmsgs, NMESSAGES);
	for (i = 0; i < NMESSAGES; i++) {
		ck_assert_str_eq(md.msgs[i].name, want[i].name);
		ck_assert_int_eq(md.msgs[i].len, want[i].len);
		ck_assert_uint_eq(md.msgs[i].size, want[i].size);
		if (want[i].uidl != NULL) {
			ck_assert_str_eq(md.msgs[i].uidl, want[i].uidl);
		} else {
			ck_assert_msg(is_hash_uidl(md.msgs[i].uidl),
			    "%s: UIDL %s", want[i].name, md.msgs[i].uidl);
		}
		total += want[i].size;
	}
	ck_assert_uint_eq(md.total, total);
	check_unique(&md);
	ck_assert_uint_eq(strlen(LONG_NAME), UIDL_MAX + 1);
	maildrop_close(&md);
}
END_TEST

START_TEST(test_retr)
{
	struct maildrop	md;

	populate();
	open_ok(&md);
	RETR(&md, 0, -1, "Subject: first\r\n\r\nearly\r\n.\r\n");
	RETR(&md, 1, -1, "Subject: a\r\n\r\nbody a\r\n.\r\n");
	RETR(&md, 2, -1, "Subject: b\r\n\r\n..dot\r\nlast\r\n.\r\n");
	RETR(&md, 2, 0, "Subject: b\r\n\r\n.\r\n");
	RETR(&md, 3, -1, ".\r\n");
	maildrop_close(&md);
}
END_TEST

START_TEST(test_big_message)
{
	struct maildrop	 md;
	struct buf	 b;
	char		*c;
	size_t		 i;

	c = xcalloc(BIG_MSG, 1);
	for (i = 0; i < BIG_MSG; i++) {
		c[i] = i % 77 == 76 ? '\n' : i % 201 == 200 ? '\r' : 'b';
	}
	memcpy(c, "S: s\n\n.", 7);
	put("new/1700000000.big", c, BIG_MSG);
	open_ok(&md);
	ck_assert_uint_eq(md.nmsgs, 1);
	ck_assert_int_eq(md.msgs[0].len, BIG_MSG);
	ck_assert_uint_eq(md.msgs[0].size, ref_size(c, BIG_MSG));
	retr(&md, 0, -1, &b);
	ck_assert_uint_eq(b.n, md.msgs[0].size + 1 + 3);
	free(b.p);
	maildrop_close(&md);
	free(c);
}
END_TEST

/* File k of test_sizes_random into c (3 * IO_CHUNK); its length. */
static size_t
random_file(size_t k, char *c, uint32_t *seed)
{
	static const char	pick[] = "a\r\n\n.";
	size_t			n, i;

	n = k < 40 ? IO_CHUNK - 20 + k : k < 60 ? k - 40 :
	    (*seed = *seed * 1103515245 + 12345) % (3 * IO_CHUNK);
	for (i = 0; i < n; i++) {
		*seed = *seed * 1103515245 + 12345;
		c[i] = pick[(*seed >> 16) % (sizeof(pick) - 1)];
	}
	if (k < 40 && n > IO_CHUNK) {
		c[IO_CHUNK - 1] = '\r';	/* CR LF across two reads */
		c[IO_CHUNK] = '\n';
	}
	return n;
}

/* Sizes of files full of CRs and LFs, of every length around a read's
 * end, with a CR LF split across two reads, and with or without a final
 * line end, are what the reference counts. */
START_TEST(test_sizes_random)
{
	struct maildrop	 md;
	char		 name[64], *c;
	size_t		 n, i, k;
	uint32_t	 seed = 7;

	c = xcalloc(3 * IO_CHUNK, 1);
	for (k = 0; k < 200; k++) {
		n = random_file(k, c, &seed);
		(void)snprintf(name, sizeof(name), "new/17000%05zu.r", k);
		put(name, c, n);
	}
	open_ok(&md);
	ck_assert_uint_eq(md.nmsgs, 200);
	seed = 7;
	for (k = 0; k < 200; k++) {
		n = random_file(k, c, &seed);
		(void)snprintf(name, sizeof(name), "new/17000%05zu.r", k);
		i = find(&md, name);
		ck_assert_int_eq(md.msgs[i].len, (off_t)n);
		ck_assert_uint_eq(md.msgs[i].size, ref_size(c, n));
	}
	maildrop_close(&md);
	free(c);
}
END_TEST

START_TEST(test_empty_and_missing)
{
	char		path[PATH_LEN + 8];
	struct maildrop	md;

	open_ok(&md);
	ck_assert_uint_eq(md.nmsgs, 0);
	ck_assert_uint_eq(md.total, 0);
	ck_assert_int_eq(maildrop_update(&md), MD_OK);
	maildrop_close(&md);
	/* Without new/, or not there at all: not a Maildir. */
	snprintf(path, sizeof(path), "%s/new", maildir);
	ck_assert_int_eq(rmdir(path), 0);
	ck_assert_int_eq(maildrop_open(&md, maildir, &maildir_backend),
	    MD_PERM);
	snprintf(path, sizeof(path), "%s/none", tmpdir);
	ck_assert_int_eq(maildrop_open(&md, path, &maildir_backend), MD_PERM);
}
END_TEST

START_TEST(test_in_use)
{
	struct maildrop	md, md2;

	populate();
	open_ok(&md);
	ck_assert_int_eq(maildrop_open(&md2, maildir, &maildir_backend),
	    MD_INUSE);
	ck_assert_uint_eq(md.nmsgs, NMESSAGES);
	maildrop_close(&md);
	open_ok(&md2);
	ck_assert_uint_eq(md2.nmsgs, NMESSAGES);
	maildrop_close(&md2);
}
END_TEST

/* Same base name in new/ and cur/ (a copy): still two UIDLs. */
START_TEST(test_same_base_name)
{
	struct maildrop	md;

	put("new/1700000000.M1P2.host", "a\n", 2);
	put("cur/1700000000.M1P2.host:2,S", "a\n", 2);
	open_ok(&md);
	ck_assert_uint_eq(md.nmsgs, 2);
	check_unique(&md);
	ck_assert_str_eq(md.msgs[0].uidl, "1700000000.M1P2.host");
	ck_assert_str_eq(md.msgs[1].uidl, "1700000000.M1P2.host-2");
	maildrop_close(&md);
}
END_TEST

/* A message another client took meanwhile: RETR fails cleanly, and
 * UPDATE does not fail for want of it. */
START_TEST(test_vanished)
{
	char		path[2 * PATH_LEN];
	struct maildrop	md;
	off_t		off, len;

	populate();
	open_ok(&md);
	ck_assert_str_eq(md.msgs[1].name, "new/1700000000.M1P2.host");
	snprintf(path, sizeof(path), "%s/%s", maildir, md.msgs[1].name);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_int_eq(md.be->open_msg(&md, 1, &off, &len), -1);
	md.msgs[1].deleted = 1;
	md.msgs[2].deleted = 1;
	ck_assert_int_eq(maildrop_update(&md), MD_OK);
	ck_assert(!exists("cur/1700000001.M2P3.host:2,S"));
	maildrop_close(&md);
}
END_TEST

/* ---- UPDATE ---- */

START_TEST(test_update)
{
	char		saved[NMESSAGES][UIDL_MAX + 1];
	struct maildrop	md;
	size_t		i, k;

	populate();
	open_ok(&md);
	for (i = 0; i < NMESSAGES; i++) {
		strcpy(saved[i], md.msgs[i].uidl);
	}
	/* 0 new/ retrieved: moved.  1 new/: deleted.  2 cur/ retrieved:
	 * stays.  3 cur/: deleted.  4 cur/: untouched.  5 new/ LONG_NAME,
	 * retrieved: moved, same hash UIDL.  6 new/, retrieved and
	 * deleted: gone. */
	md.msgs[0].retrieved = 1;
	md.msgs[1].deleted = 1;
	md.msgs[2].retrieved = 1;
	md.msgs[3].deleted = 1;
	md.msgs[5].retrieved = 1;
	md.msgs[6].retrieved = 1;
	md.msgs[6].deleted = 1;
	ck_assert_int_eq(maildrop_update(&md), MD_OK);
	maildrop_close(&md);

	ck_assert(!exists("new/1699999999.M0P1.host"));
	ck_assert(exists("cur/1699999999.M0P1.host:2,S"));
	ck_assert(!exists("new/1700000000.M1P2.host"));
	ck_assert(!exists("cur/1700000000.M1P2.host:2,S"));
	ck_assert(exists("cur/1700000001.M2P3.host:2,S"));
	ck_assert(!exists("cur/1700000002.M3P4.host:2,RS"));
	ck_assert(exists("cur/1700000003.we ird:2,"));
	ck_assert(!exists("new/" LONG_NAME));
	ck_assert(exists("cur/" LONG_NAME ":2,S"));
	ck_assert(!exists("new/1700000005.\303\251t\303\251"));
	ck_assert(!exists("cur/1700000005.\303\251t\303\251:2,S"));
	/* What is not a message is never touched. */
	ck_assert(exists("tmp/1700000007.M7P7.host"));
	ck_assert(exists("new/.hidden"));
	ck_assert(exists("cur/.1700000006.dot:2,S"));
	ck_assert(exists("cur/1700000008.subdir:2,S"));
	ck_assert(exists("cur/1700000009.link:2,S"));

	open_ok(&md);
	ck_assert_uint_eq(md.nmsgs, 4);
	ck_assert_str_eq(md.msgs[find(&md, "cur/1699999999.M0P1.host:2,S")]
	    .uidl, saved[0]);
	ck_assert_str_eq(md.msgs[find(&md, "cur/1700000001.M2P3.host:2,S")]
	    .uidl, saved[2]);
	ck_assert_str_eq(md.msgs[find(&md, "cur/1700000003.we ird:2,")]
	    .uidl, saved[4]);
	k = find(&md, "cur/" LONG_NAME ":2,S");
	ck_assert_str_eq(md.msgs[k].uidl, saved[5]);
	RETR(&md, 0, -1, "Subject: first\r\n\r\nearly\r\n.\r\n");
	maildrop_close(&md);
}
END_TEST

/* A session without UPDATE changes nothing; one with nothing marked
 * moves nothing that was not retrieved. */
/* A retrieved message gets S among its flags in ASCII order; one that
 * another program renamed (new flags) during the session is still the
 * one deleted. */
START_TEST(test_update_flags)
{
	struct maildrop	md;
	char		path[2 * PATH_LEN], to[2 * PATH_LEN];

	put("cur/1700000001.a.h:2,F", "Subject: a\n\n", 13);
	put("cur/1700000002.b.h:2,T", "Subject: b\n\n", 13);
	put("cur/1700000003.c.h", "Subject: c\n\n", 13);
	put("cur/1700000004.d.h:2,S", "Subject: d\n\n", 13);
	put("cur/1700000005.e.h:2,", "Subject: e\n\n", 13);
	open_ok(&md);
	ck_assert_uint_eq(md.nmsgs, 5);
	md.msgs[0].retrieved = md.msgs[1].retrieved = 1;
	md.msgs[2].retrieved = md.msgs[3].retrieved = 1;
	md.msgs[4].deleted = 1;
	/* Another client flags message 5 while the session runs. */
	snprintf(path, sizeof(path), "%s/cur/1700000005.e.h:2,", maildir);
	snprintf(to, sizeof(to), "%s/cur/1700000005.e.h:2,R", maildir);
	ck_assert_int_eq(rename(path, to), 0);
	ck_assert_int_eq(maildrop_update(&md), MD_OK);
	maildrop_close(&md);
	ck_assert(exists("cur/1700000001.a.h:2,FS"));
	ck_assert(exists("cur/1700000002.b.h:2,ST"));
	ck_assert(exists("cur/1700000003.c.h:2,S"));
	ck_assert(exists("cur/1700000004.d.h:2,S"));
	ck_assert(!exists("cur/1700000005.e.h:2,R"));
	ck_assert(!exists("cur/1700000001.a.h:2,F"));
}
END_TEST

START_TEST(test_update_nothing)
{
	char		saved[NMESSAGES][UIDL_MAX + 1];
	struct maildrop	md;
	size_t		i;

	populate();
	open_ok(&md);
	for (i = 0; i < NMESSAGES; i++) {
		strcpy(saved[i], md.msgs[i].uidl);
		md.msgs[i].deleted = 1;
		md.msgs[i].retrieved = 1;
	}
	maildrop_close(&md);
	open_ok(&md);
	ck_assert_uint_eq(md.nmsgs, NMESSAGES);
	ck_assert_int_eq(maildrop_update(&md), MD_OK);
	maildrop_close(&md);
	for (i = 0; i < NFILES; i++) {
		ck_assert_msg(exists(files[i].file), "%s", files[i].file);
	}
	open_ok(&md);
	for (i = 0; i < NMESSAGES; i++) {
		ck_assert_str_eq(md.msgs[i].uidl, saved[i]);
	}
	maildrop_close(&md);
}
END_TEST

/* ---- the size cache (DIR/.pop3d-cache, pop3d(8) "The Maildir cache") ---- */

/* Open, check every size against the file's content, and close; the
 * number of files the scan read. */
static size_t
open_check_sizes(void)
{
	struct maildrop	 md;
	struct buf	 b;
	char		 path[2 * PATH_LEN];
	size_t		 i, n;

	open_ok(&md);
	n = maildir_files_read;
	for (i = 0; i < md.nmsgs; i++) {
		snprintf(path, sizeof(path), "%s/%s", maildir, md.msgs[i].name);
		read_file(path, &b);
		ck_assert_int_eq(md.msgs[i].len, (off_t)b.n);
		ck_assert_uint_eq(md.msgs[i].size, ref_size(b.p, b.n));
		free(b.p);
	}
	maildrop_close(&md);
	return n;
}

START_TEST(test_cache_sizes)
{
	struct timespec	ts[2];
	char		path[2 * PATH_LEN];

	populate();
	ck_assert_uint_eq(open_check_sizes(), NMESSAGES);
	ck_assert(exists(".pop3d-cache"));
	ck_assert_uint_eq(open_check_sizes(), 0);
	/* Moved to cur/ with flags, as UPDATE does: still the same file. */
	snprintf(path, sizeof(path), "%s/new/1700000000.M1P2.host", maildir);
	ck_assert_int_eq(rename(path, strcat(strcpy(path + PATH_LEN + 8,
	    maildir), "/cur/1700000000.M1P2.host:2,S")), 0);
	ck_assert_uint_eq(open_check_sizes(), 0);
	/* Rewritten in place: another size, or the same size at another
	 * time: read again. */
	put("cur/1700000001.M2P3.host:2,S", "Subject: b\n\nlonger\n", 20);
	ck_assert_uint_eq(open_check_sizes(), 1);
	put("cur/1700000001.M2P3.host:2,S", "Subject: b\r\n\r\nlonger", 20);
	ts[0].tv_sec = ts[1].tv_sec = 1000000000;
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	snprintf(path, sizeof(path), "%s/cur/1700000001.M2P3.host:2,S",
	    maildir);
	ck_assert_int_eq(utimensat(AT_FDCWD, path, ts, 0), 0);
	ck_assert_uint_eq(open_check_sizes(), 1);
	ck_assert_uint_eq(open_check_sizes(), 0);
	/* A new file, and one gone. */
	put("new/1700000010.new", "Subject: n\n\nn\n", 15);
	snprintf(path, sizeof(path), "%s/new/1699999999.M0P1.host", maildir);
	ck_assert_int_eq(unlink(path), 0);
	ck_assert_uint_eq(open_check_sizes(), 1);
	ck_assert_uint_eq(open_check_sizes(), 0);
}
END_TEST

/* A cache damaged at any octet, cut short anywhere, or in the way as a
 * symbolic link, gives nothing. */
START_TEST(test_cache_damaged)
{
	struct buf	good, b;
	char		path[2 * PATH_LEN], target[2 * PATH_LEN];
	size_t		i;

	populate();
	(void)open_check_sizes();
	snprintf(path, sizeof(path), "%s/.pop3d-cache", maildir);
	read_file(path, &good);
	ck_assert_uint_gt(good.n, 100);
	for (i = 0; i < good.n; i++) {
		good.p[i] ^= 0x01;
		put(".pop3d-cache", good.p, good.n);
		good.p[i] ^= 0x01;
		ck_assert_uint_eq(open_check_sizes(), NMESSAGES);
		put(".pop3d-cache", good.p, i);
		ck_assert_uint_eq(open_check_sizes(), NMESSAGES);
	}
	put(".pop3d-cache", good.p, good.n);
	ck_assert_uint_eq(open_check_sizes(), 0);
	ck_assert_int_eq(unlink(path), 0);
	snprintf(target, sizeof(target), "%s/target", tmpdir);
	put("../target", "keep", 4);
	ck_assert_int_eq(symlink(target, path), 0);
	ck_assert_uint_eq(open_check_sizes(), NMESSAGES);
	read_file(target, &b);
	ck_assert_uint_eq(b.n, 4);
	free(b.p);
	free(good.p);
}
END_TEST

/* Two files of one base name are never taken from the cache. */
START_TEST(test_cache_same_base)
{
	put("new/1700000000.M1P2.host", "a\n", 2);
	put("cur/1700000000.M1P2.host:2,S", "a\nb\n", 4);
	ck_assert_uint_eq(open_check_sizes(), 2);
	ck_assert_uint_eq(open_check_sizes(), 2);
}
END_TEST

static Suite *
maildir_suite(void)
{
	Suite	*s = suite_create("maildir");
	TCase	*tc;

	tc = tcase_create("scan");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_scan);
	tcase_add_test(tc, test_retr);
	tcase_add_test(tc, test_big_message);
	tcase_add_test(tc, test_sizes_random);
	tcase_add_test(tc, test_cache_sizes);
	tcase_add_test(tc, test_cache_damaged);
	tcase_add_test(tc, test_cache_same_base);
	tcase_add_test(tc, test_empty_and_missing);
	tcase_add_test(tc, test_in_use);
	tcase_add_test(tc, test_same_base_name);
	tcase_add_test(tc, test_vanished);
	suite_add_tcase(s, tc);

	tc = tcase_create("update");
	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_update);
	tcase_add_test(tc, test_update_nothing);
	tcase_add_test(tc, test_update_flags);
	suite_add_tcase(s, tc);
	return s;
}

int
main(void)
{
	return run_unit_suite(maildir_suite());
}
