/* maildrop.c: maildrop locations, the session lock, backend dispatch,
 * UPDATE and the UIDLs that every backend shares. */
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "pop3d.h"

#define SESSION_LOCK_MBOX	".pop3d-lock"	/* beside the mbox: PATH.pop3d-lock */
#define SESSION_LOCK_MAILDIR	"/.pop3d-lock"	/* inside the Maildir */

static int	expand_one(char *, size_t *, const char *, size_t);
static int	expand_var(char, const char *, const char *, const char **,
		    size_t *);
static enum md_status session_lock(struct maildrop *);
static size_t	uidl_hash(const char *);
static int	uidl_insert(size_t *, size_t, struct msg *, size_t, size_t *);

/* Append n octets of s to out (of *len so far); -1 if too long. */
static int
expand_one(char *out, size_t *len, const char *s, size_t n)
{
	if (*len + n >= LOCATION_MAX) {
		return -1;
	}
	memcpy(out + *len, s, n);
	*len += n;
	out[*len] = '\0';
	return 0;
}

/* The value of %c: *val and *n; -1 with an unknown or empty variable. */
static int
expand_var(char c, const char *user, const char *home, const char **val,
    size_t *n)
{
	const char	*at = strchr(user, '@');

	switch (c) {
	case 'u':
		*val = user;
		*n = strlen(user);
		break;
	case 'n':
		*val = user;
		*n = at != NULL ? (size_t)(at - user) : strlen(user);
		break;
	case 'd':
		*val = at != NULL ? at + 1 : "";
		*n = strlen(*val);
		break;
	case 'h':
		*val = home != NULL ? home : "";
		*n = strlen(*val);
		return *n == 0 ? -1 : 0;
	case '%':
		*val = "%";
		*n = 1;
		return 0;
	default:
		return -1;
	}
	/* A user name must not walk out of the directory it is put in. */
	if (*n == 0 || memchr(*val, '/', *n) != NULL ||
	    (*n <= 2 && strncmp(*val, "..", *n) == 0)) {
		return -1;
	}
	return 0;
}

char *
maildrop_expand(const char *loc, const char *user, const char *home,
    const struct backend **be, const char **err)
{
	char		 out[LOCATION_MAX];
	const char	*p, *val;
	size_t		 len = 0, n;
	struct stat	 st;
	int		 explicit = 1;

	out[0] = '\0';
	if (strncmp(loc, "mbox:", 5) == 0) {
		*be = &mbox_backend;
		loc += 5;
	} else if (strncmp(loc, "maildir:", 8) == 0) {
		*be = &maildir_backend;
		loc += 8;
	} else {
		explicit = 0;
	}
	p = loc;
	if (*p == '~') {
		if (home == NULL || *home == '\0') {
			*err = "~ in location but no home";
			return NULL;
		}
		if (expand_one(out, &len, home, strlen(home)) == -1) {
			goto toolong;
		}
		p++;
	}
	for (; *p != '\0'; p++) {
		if (*p != '%') {
			if (expand_one(out, &len, p, 1) == -1) {
				goto toolong;
			}
			continue;
		}
		if (expand_var(p[1], user, home, &val, &n) == -1) {
			*err = p[1] == 'h' ? "%h in location but no home" :
			    "unknown, empty or unsafe % expansion in location";
			return NULL;
		}
		if (expand_one(out, &len, val, n) == -1) {
			goto toolong;
		}
		p++;
	}
	if (out[0] != '/') {
		*err = "location is not an absolute path";
		return NULL;
	}
	while (len > 1 && out[len - 1] == '/') {
		out[--len] = '\0';
	}
	if (!explicit) {
		*be = (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) ?
		    &maildir_backend : &mbox_backend;
	}
	return xstrdup(out);
toolong:
	*err = "location too long";
	return NULL;
}

/* One session per maildrop: an flock on a file of our own, so that MDAs,
 * which lock the mailbox itself, are never held up by a session. */
static enum md_status
session_lock(struct maildrop *md)
{
	char	path[LOCATION_MAX + 32];
	int	fd;

	(void)snprintf(path, sizeof(path), "%s%s", md->path,
	    md->be == &mbox_backend ? SESSION_LOCK_MBOX : SESSION_LOCK_MAILDIR);
	auth_lock_group(1);
	fd = open(path, O_RDWR | O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0600);
	auth_lock_group(0);
	if (fd == -1) {
		log_warn("session lock %s", path);
		return errno == ENOENT || errno == EACCES ? MD_PERM : MD_TEMP;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) == -1) {
		if (errno != EWOULDBLOCK) {
			log_warn("flock %s", path);
		}
		close(fd);
		return errno == EWOULDBLOCK ? MD_INUSE : MD_TEMP;
	}
	md->lockfd = fd;
	return MD_OK;
}

enum md_status
maildrop_open(struct maildrop *md, const char *path, const struct backend *be)
{
	enum md_status	st;

	memset(md, 0, sizeof(*md));
	md->fd = md->lockfd = -1;
	md->be = be;
	md->path = xstrdup(path);
	if ((st = session_lock(md)) != MD_OK ||
	    (st = be->recover(md)) != MD_OK ||
	    (st = be->scan(md)) != MD_OK) {
		maildrop_close(md);
		return st;
	}
	maildrop_fix_uidls(md);
	return MD_OK;
}

enum md_status
maildrop_update(struct maildrop *md)
{
	size_t	i;

	for (i = 0; i < md->nmsgs; i++) {
		if (md->msgs[i].deleted) {
			break;
		}
	}
	if (i == md->nmsgs && md->be != &maildir_backend) {
		return MD_OK;		/* nothing to do, nothing to lock */
	}
	return md->be->update(md);
}

const char *
maildrop_pending(const char *path, const struct backend *be)
{
	return be->pending != NULL ? be->pending(path) : NULL;
}

void
maildrop_close(struct maildrop *md)
{
	size_t	i;

	for (i = 0; i < md->nmsgs; i++) {
		free(md->msgs[i].name);
	}
	free(md->msgs);
	free(md->path);
	if (md->fd != -1) {
		close(md->fd);
	}
	if (md->lockfd != -1) {
		close(md->lockfd);	/* releases the session lock */
	}
	memset(md, 0, sizeof(*md));
	md->fd = md->lockfd = -1;
}

struct msg *
maildrop_add(struct maildrop *md, size_t *cap)
{
	struct msg	*m;

	if (md->nmsgs >= MAILDROP_MSGS_MAX) {
		return NULL;
	}
	if (md->nmsgs == *cap) {
		*cap = *cap == 0 ? 64 : *cap * 2;
		md->msgs = xreallocarray(md->msgs, *cap, sizeof(*md->msgs));
	}
	m = &md->msgs[md->nmsgs++];
	memset(m, 0, sizeof(*m));
	return m;
}

/* FNV-1a: the UIDL table only needs a spread, not a secret. */
static size_t
uidl_hash(const char *s)
{
	size_t	h = 2166136261u;

	for (; *s != '\0'; s++) {
		h = (h ^ (unsigned char)*s) * 16777619u;
	}
	return h;
}

/* Put message i in the open-addressed table unless its UIDL is taken;
 * -1 if taken, with *holder the message that has it.  mask is the table
 * size less one. */
static int
uidl_insert(size_t *tab, size_t mask, struct msg *msgs, size_t i,
    size_t *holder)
{
	size_t	h;

	for (h = uidl_hash(msgs[i].uidl) & mask; tab[h] != 0;
	    h = (h + 1) & mask) {
		if (strcmp(msgs[tab[h] - 1].uidl, msgs[i].uidl) == 0) {
			*holder = tab[h] - 1;
			return -1;
		}
	}
	tab[h] = i + 1;
	return 0;
}

/* A UIDL that is already taken (an identical message, a copied X-UIDL)
 * gets the first free of "-2", "-3"... in file order, so every UIDL stays
 * unique.  next[j] remembers where the search for message j's UIDL as a
 * base stopped (every suffix below it is taken), so that many copies of
 * one UIDL cost linear, not quadratic, time. */
void
maildrop_fix_uidls(struct maildrop *md)
{
	char	 base[UIDL_MAX + 1], suffix[16];
	size_t	*tab, *next, size = 64, i, j, k, taken;
	int	 n;

	while (size < md->nmsgs * 2) {
		size *= 2;
	}
	tab = xcalloc(size, sizeof(*tab));
	next = xcalloc(md->nmsgs + 1, sizeof(*next));
	for (i = 0; i < md->nmsgs; i++) {
		md->total += md->msgs[i].size;
		if (uidl_insert(tab, size - 1, md->msgs, i, &j) == 0) {
			continue;
		}
		memcpy(base, md->msgs[i].uidl, sizeof(base));
		k = next[j] != 0 ? next[j] : 2;
		do {
			n = snprintf(suffix, sizeof(suffix), "-%zu", k++);
			(void)snprintf(md->msgs[i].uidl,
			    sizeof(md->msgs[i].uidl), "%.*s%s", UIDL_MAX - n,
			    base, suffix);
		} while (uidl_insert(tab, size - 1, md->msgs, i, &taken) == -1);
		next[j] = k;
	}
	free(next);
	free(tab);
}
