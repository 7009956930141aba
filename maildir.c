/* maildir.c: the Maildir backend: messages in new/ and cur/, UIDL = base
 * name, deletions unlinked in UPDATE, retrieved new mail moved to cur/. */
#include <sys/stat.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"

/* The info a message gets when pop3d moves it from new/ to cur/: seen. */
#define INFO_SEEN	":2,S"

static enum md_status maildir_scan(struct maildrop *);
static int	maildir_open_msg(struct maildrop *, size_t, off_t *, off_t *);
static void	maildir_close_msg(struct maildrop *, int);
static enum md_status maildir_update(struct maildrop *);
static enum md_status maildir_recover(struct maildrop *);
static enum md_status scan_dir(struct maildrop *, int, const char *,
		    size_t *);
static int	add_file(struct maildrop *, int, const char *, const char *,
		    size_t *);
static int	read_size(struct maildrop *, size_t, char *);
static enum md_status fill_sizes(struct maildrop *);
static int	msg_size(int, struct msg *, char *);
static void	set_uidl(struct msg *, const char *);
static int	by_name(const void *, const void *);
static int	sync_dirs(struct maildrop *);
static int	seen_name(const char *, char *, size_t);
static int	find_renamed(struct maildrop *, const char *, char *, size_t);
static int	remove_msg(struct maildrop *, const struct msg *);

const struct backend maildir_backend = {
	"maildir", maildir_scan, maildir_open_msg, maildir_close_msg,
	maildir_update, maildir_recover, NULL
};

/* Maildir leaves nothing half done: each unlink or rename is whole. */
static enum md_status
maildir_recover(struct maildrop *md)
{
	(void)md;
	return MD_OK;
}

/* The base name (before ':') if it is a valid UIDL, else a hash of it. */
static void
set_uidl(struct msg *m, const char *name)
{
	unsigned char	sum[UIDL_HASH_HEX / 2];
	size_t		n = strcspn(name, ":"), i;

	for (i = 0; i < n && name[i] > 0x20 && name[i] < 0x7f; i++) {
		continue;
	}
	if (i == n && n > 0 && n <= UIDL_MAX) {
		memcpy(m->uidl, name, n);
		m->uidl[n] = '\0';
		return;
	}
	crypto_generichash(sum, sizeof(sum), (const unsigned char *)name, n,
	    NULL, 0);
	sodium_bin2hex(m->uidl, sizeof(m->uidl), sum, sizeof(sum));
}

/* Octets of the file as sent with CRLF line ends; buf has IO_CHUNK. */
static int
msg_size(int fd, struct msg *m, char *buf)
{
	struct sizer	sz;
	ssize_t		n;

	sizer_init(&sz);
	while ((n = read(fd, buf, IO_CHUNK)) != 0) {
		if (n == -1 && errno == EINTR) {
			continue;
		}
		if (n == -1) {
			return -1;
		}
		sizer_feed(&sz, buf, (size_t)n);
	}
	m->size = sizer_end(&sz);
	return 0;
}

/* Add dir/name as a message, its size still unknown; -1 only on a hard
 * error.  Only regular files count (a symbolic link is not followed). */
static int
add_file(struct maildrop *md, int dfd, const char *dir, const char *name,
    size_t *cap)
{
	char		 rel[NAME_MAX_LEN + 8];
	struct stat	 st;
	struct msg	*m;

	if (fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		/* Gone meanwhile: another client took it. */
		return errno == ENOENT ? 0 : -1;
	}
	if (!S_ISREG(st.st_mode)) {
		return 0;
	}
	if ((m = maildrop_add(md, cap)) == NULL) {
		log_warnx("%s: more than %d messages", md->path,
		    MAILDROP_MSGS_MAX);
		return -1;
	}
	/* dir is "new" or "cur"; name is at most NAME_MAX_LEN. */
	memcpy(rel, dir, 3);
	rel[3] = '/';
	memcpy(rel + 4, name, strlen(name) + 1);
	m->name = xstrdup(rel);
	m->len = st.st_size;
	m->stamp = maildir_stamp(&st);
	m->size = MAILDIR_SIZE_UNKNOWN;
	set_uidl(m, name);
	return 0;
}

/* Read message i to learn its size: 1 if it went away (or is no longer
 * a regular file), 0, or -1 on a hard error. */
static int
read_size(struct maildrop *md, size_t i, char *buf)
{
	struct msg	*m = &md->msgs[i];
	struct stat	 st;
	int		 fd, r;

	fd = openat(md->fd, m->name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK);
	if (fd == -1) {
		return errno == ENOENT || errno == ELOOP ? 1 : -1;
	}
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return 1;
	}
	m->len = st.st_size;
	m->stamp = maildir_stamp(&st);
	r = msg_size(fd, m, buf);
	close(fd);
	if (r == -1) {
		log_warn("read %s/%s", md->path, m->name);
	}
	return r;
}

static enum md_status
scan_dir(struct maildrop *md, int root, const char *dir, size_t *cap)
{
	DIR		*d;
	struct dirent	*de;
	int		 dfd, r = 0;

	dfd = openat(root, dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (dfd == -1 || (d = fdopendir(dfd)) == NULL) {
		log_warn("%s/%s", md->path, dir);
		if (dfd != -1) {
			close(dfd);
		}
		return MD_PERM;
	}
	while (r == 0 && (de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.' ||
		    strlen(de->d_name) > NAME_MAX_LEN) {
			continue;
		}
		r = add_file(md, dfd, dir, de->d_name, cap);
	}
	closedir(d);
	return r == 0 ? MD_OK : MD_TEMP;
}

/* Messages in the order of their names: delivery time comes first. */
static int
by_name(const void *a, const void *b)
{
	const struct msg	*x = a, *y = b;

	return strcmp(x->name + 4, y->name + 4);
}

/* The sizes the cache does not vouch for, read from the files; a file
 * gone since the directory was read is dropped.  A new cache if anything
 * was read or dropped. */
/* Files the last scan read (for the tests). */
size_t	maildir_files_read;

static enum md_status
fill_sizes(struct maildrop *md)
{
	char	*buf;
	size_t	 i, j, hits;
	int	 r = 0, changed;

	hits = maildir_cache_apply(md, md->fd);
	changed = hits < md->nmsgs;
	maildir_files_read = md->nmsgs - hits;
	buf = xcalloc(1, IO_CHUNK);	/* one read buffer for every file */
	for (i = j = 0; i < md->nmsgs; i++) {
		if (r != -1 && md->msgs[i].size == MAILDIR_SIZE_UNKNOWN &&
		    (r = read_size(md, i, buf)) == 1) {
			free(md->msgs[i].name);
			continue;
		}
		md->msgs[j++] = md->msgs[i];
	}
	free(buf);
	md->nmsgs = j;
	if (r == -1) {
		return MD_TEMP;
	}
	if (changed) {
		maildir_cache_save(md, md->fd);
	}
	return MD_OK;
}

static enum md_status
maildir_scan(struct maildrop *md)
{
	enum md_status	r;
	size_t		cap = 0;
	int		root;

	root = open(md->path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (root == -1) {
		log_warn("open %s", md->path);
		return errno == ENOENT || errno == ELOOP || errno == ENOTDIR ?
		    MD_PERM : MD_TEMP;
	}
	if ((r = scan_dir(md, root, "cur", &cap)) == MD_OK) {
		r = scan_dir(md, root, "new", &cap);
	}
	md->fd = root;
	if (r == MD_OK && md->nmsgs > 0) {
		qsort(md->msgs, md->nmsgs, sizeof(*md->msgs), by_name);
		r = fill_sizes(md);
	}
	return r;
}

static int
maildir_open_msg(struct maildrop *md, size_t i, off_t *off, off_t *len)
{
	int	fd;

	fd = openat(md->fd, md->msgs[i].name, O_RDONLY | O_NOFOLLOW |
	    O_CLOEXEC);
	if (fd == -1) {
		log_warn("open %s/%s", md->path, md->msgs[i].name);
		return -1;
	}
	*off = 0;
	*len = md->msgs[i].len;
	return fd;
}

static void
maildir_close_msg(struct maildrop *md, int fd)
{
	(void)md;
	close(fd);
}

static int
sync_dirs(struct maildrop *md)
{
	static const char *const dirs[] = { "cur", "new" };
	size_t	i;
	int	fd, r = 0;

	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		fd = openat(md->fd, dirs[i], O_RDONLY | O_DIRECTORY |
		    O_CLOEXEC);
		if (fd == -1 || fsync(fd) == -1) {
			log_warn("fsync %s/%s", md->path, dirs[i]);
			r = -1;
		}
		if (fd != -1) {
			close(fd);
		}
	}
	return r;
}

/* The name a retrieved message gets: in cur/, with the seen flag S
 * among its flags in ASCII order (the Maildir convention); 0 when it has
 * it already or its info is not ":2,". */
static int
seen_name(const char *name, char *to, size_t size)
{
	const char	*base = name + 4, *info = strchr(base, ':');
	const char	*flags;
	size_t		 n;

	if (info == NULL) {
		return snprintf(to, size, "cur/%s%s", base, INFO_SEEN) <
		    (int)size;
	}
	if (strncmp(info, ":2,", 3) != 0 || strchr(info + 3, 'S') != NULL) {
		return 0;
	}
	flags = info + 3;
	for (n = 0; flags[n] != '\0' && flags[n] < 'S'; n++) {
		continue;
	}
	return snprintf(to, size, "cur/%.*s:2,%.*sS%s", (int)(info - base),
	    base, (int)n, flags, flags + n) < (int)size;
}

/* A message another program renamed in cur/ during the session (new
 * flags): the same base name before ':'.  Its name in rel, or -1. */
static int
find_renamed(struct maildrop *md, const char *name, char *rel, size_t size)
{
	const char	*base = strchr(name, '/') + 1;
	size_t		 n = strcspn(base, ":");
	struct dirent	*de;
	DIR		*d;
	int		 dfd, r = -1;

	dfd = openat(md->fd, "cur", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1 || (d = fdopendir(dfd)) == NULL) {
		if (dfd != -1) {
			close(dfd);
		}
		return -1;
	}
	while (r == -1 && (de = readdir(d)) != NULL) {
		if (strncmp(de->d_name, base, n) == 0 &&
		    (de->d_name[n] == ':' || de->d_name[n] == '\0')) {
			r = snprintf(rel, size, "cur/%s", de->d_name) <
			    (int)size ? 0 : -1;
		}
	}
	closedir(d);
	return r;
}

/* Remove one message; one found renamed under cur/ is removed there. */
static int
remove_msg(struct maildrop *md, const struct msg *m)
{
	char	rel[NAME_MAX_LEN + 8];

	if (unlinkat(md->fd, m->name, 0) == 0) {
		return 0;
	}
	if (errno == ENOENT && find_renamed(md, m->name, rel,
	    sizeof(rel)) == 0 && unlinkat(md->fd, rel, 0) == 0) {
		return 0;
	}
	if (errno == ENOENT) {
		return 0;		/* gone already: another client took it */
	}
	log_warn("unlink %s/%s", md->path, m->name);
	return -1;
}

/* Unlink each deleted message; mark each retrieved one seen in cur/.
 * Every step is one atomic name change, so a crash leaves each message
 * wholly in place or wholly done. */
static enum md_status
maildir_update(struct maildrop *md)
{
	char		 to[NAME_MAX_LEN + 16];
	struct msg	*m;
	size_t		 i;
	int		 failed = 0;

	for (i = 0; i < md->nmsgs; i++) {
		m = &md->msgs[i];
		if (m->deleted) {
			failed |= remove_msg(md, m) == -1;
		} else if (m->retrieved && seen_name(m->name, to, sizeof(to)) &&
		    renameat(md->fd, m->name, md->fd, to) == -1 &&
		    errno != ENOENT) {
			log_warn("rename %s/%s", md->path, m->name);
		}
	}
	if (sync_dirs(md) == -1) {
		failed = 1;
	}
	return failed ? MD_TEMP : MD_OK;
}
