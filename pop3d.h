/* pop3d.h: types and interfaces shared between pop3d's modules. */
#ifndef POP3D_H
#define POP3D_H

#include <sys/stat.h>
#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "params.h"

/* ---- log.c: the one place that writes log lines ---- */

enum log_dest { LOG_TO_SYSLOG, LOG_TO_STDERR };

/* Open the log; nothing is ever written to fd 2 unless dest is stderr. */
void	 log_init(enum log_dest);
/* Find the client's address: socket on fd 0, else REMOTE_HOST/TCPREMOTEIP. */
void	 log_find_remote(int);
/* Name the user in every later line (NULL forgets it). */
void	 log_set_user(const char *);
void	 log_info(const char *, ...) __attribute__((format(printf, 1, 2)));
void	 log_warnx(const char *, ...) __attribute__((format(printf, 1, 2)));
/* As log_warnx, with ": strerror(errno)" appended. */
void	 log_warn(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Log and exit 1: for states a session cannot go on from. */
void	 fatalx(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));
void	 fatal(const char *, ...) __attribute__((format(printf, 1, 2), noreturn));

/* ---- io.c: bounded line reader with timer, buffered writer ---- */

#define IO_EOF		(-1)	/* peer closed */
#define IO_TIMEOUT	(-2)	/* no complete line within the timeout */
#define IO_ERROR	(-3)	/* read or write failed */
#define IO_TOOLONG	(-4)	/* line over the limit; discarded up to LF */
#define IO_NUL		(-5)	/* line held a NUL byte; discarded */

void	 io_init(int, int);
/* Read one line without its CRLF or LF into buf (NUL-terminated); the
 * line with its CRLF may be at most max octets.  Returns the length or an
 * IO_ code; the whole line must arrive within timeout seconds. */
int	 io_getline(char *, size_t, size_t, int);
void	 io_write(const void *, size_t);
void	 io_puts(const char *);
void	 io_printf(const char *, ...) __attribute__((format(printf, 1, 2)));
/* Write out what is buffered; -1 on error.  Octets written so far. */
int	 io_flush(void);
uint64_t io_sent(void);

/* Send octets [off, off+len) of fd as a multi-line response body:
 * CRLF line ends, dot-stuffed, ended by ".".  With lines >= 0, send the
 * header, the empty line and at most that many body lines (TOP).
 * Returns 0, or -1 with the error logged (the response is then cut). */
int	 io_send_msg(int, off_t, off_t, long);

/* Take the input read but not yet used (at most size octets), and give
 * input back to be read first: how the privsep child hands over. */
size_t	 io_take_input(char *, size_t);
void	 io_give_input(const char *, size_t);
/* Count octets another process sent on this connection (privsep child). */
void	 io_add_sent(uint64_t);

/* ---- util.c: checked numbers ---- */

/* Parse a whole decimal string in [min, max]; -1 on any junk or overflow. */
int	 parse_ulong(const char *, unsigned long, unsigned long,
	    unsigned long *);
void	*xcalloc(size_t, size_t);
void	*xreallocarray(void *, size_t, size_t);
char	*xstrdup(const char *);
/* How many octets of p[0, n) are c, sixteen at a time. */
uint64_t count_octet(const char *, size_t, char);
/* FNV-1a, 64 bits: tells values apart; no defence against anyone. */
uint64_t fnv1a64(const void *, size_t);
/* path and a suffix ("PATH.lock" and the like) into a buffer; fatal if
 * it does not fit. */
void	 path_with(char *, size_t, const char *, const char *);
/* Octets a buffer for path_with needs beyond LOCATION_MAX: suffixes, and a
 * host name and pid for a dotlock's temporary name. */
#define PATH_EXTRA	64
/* Little-endian 64-bit numbers in the caches' files. */
uint64_t get_le64(const unsigned char *);
void	 put_le64(unsigned char *, uint64_t);
/* ms since an arbitrary start, from the monotonic clock. */
uint64_t now_ms(void);
void	 sleep_ms(unsigned long);

/* ---- auth.c: password file and credentials ---- */

enum auth_verdict { AUTH_OK, AUTH_FAIL, AUTH_TEMP };

struct auth_user {
	char	*user;		/* as given by the client */
	int	 has_uid;	/* the entry named a uid */
	uid_t	 uid;
	gid_t	 gid;
	char	*home;		/* NULL if none */
	char	*mail;		/* mail= or userdb_mail=, NULL if none */
	const char *why;	/* AUTH_FAIL: the reason, for the log only */
};

/* Check user and password against the password file.  Costs the same for
 * unknown users.  On AUTH_OK fills *au (free with auth_user_free). */
enum auth_verdict auth_check(const char *, const char *, const char *,
	    struct auth_user *);
void	 auth_user_free(struct auth_user *);
/* As root: switch to au's uid, gid and groups for good; refuses uid 0 and
 * entries without a uid.  As another user: stay.  -1 on failure (logged). */
int	 auth_become(const struct auth_user *);
/* As root, name the group (e.g. mail) that may create lock files in a
 * spool directory: auth_become keeps it as the saved gid only. */
void	 auth_set_lock_group(gid_t);
/* Take (1) or drop (0) the lock group as effective gid around lock and
 * journal files; no-op without one.  errno is kept. */
void	 auth_lock_group(int);
/* --hash: read a password from stdin, print its hash made with ops passes
 * and mem octets (0: libsodium's interactive limits); exit status. */
int	 auth_hash_main(unsigned long long, size_t);
/* --check: validate every entry; problems to stdout; number of problems. */
int	 auth_check_file(const char *, const char *);

/* ---- pop3d.c and privsep.c: logins ---- */

enum attempt { ATT_OK, ATT_FAIL, ATT_LAST, ATT_TEMP };

/* Verify one (user, password) pair, log it, and on failure wait the
 * failure delay and count it in *failures (ATT_LAST: the connection must
 * close).  On ATT_OK *au is filled (free with auth_user_free). */
enum attempt login_attempt(const char *, const char *, struct auth_user *,
	    int *);
/* As root: fork; the child (0 returned) runs as the privsep user, the
 * parent gets the child's pid.  *sock is each side's end of the pair. */
pid_t	 privsep_fork(const char *, int *);
/* Child: have the monitor verify a pair. */
enum attempt privsep_ask(int, const char *, const char *);
/* Child, after ATT_OK: pass the unread input to the monitor and exit. */
void	 privsep_handoff(int) __attribute__((noreturn));
/* Monitor: verify what the child sends until a login succeeds (*au filled,
 * the child's unread input given back to io); if the child ends the
 * session first, exit as it did. */
void	 privsep_monitor(int, pid_t, int, struct auth_user *);

/* ---- maildrop.c: locations, locking, backends, UPDATE ---- */

enum md_status { MD_OK, MD_INUSE, MD_TEMP, MD_PERM };

struct msg {
	off_t	 from;		/* mbox: offset of the From_ line */
	off_t	 off;		/* mbox: first octet after the From_ line */
	off_t	 len;		/* octets in the file (mbox) or file size */
	uint64_t size;		/* octets as sent, CRLF line ends */
	char	*name;		/* maildir: "new/..." or "cur/..." */
	uint64_t stamp;		/* what a cache checks: mbox: digest of the
				 * From_ line; maildir: of inode, size, mtime */
	char	 uidl[UIDL_MAX + 1];
	unsigned deleted:1;
	unsigned retrieved:1;
};

struct maildrop;

struct backend {
	const char *name;
	/* Fill md->msgs; MD_PERM for a malformed maildrop (logged). */
	enum md_status (*scan)(struct maildrop *);
	/* Open message i: fd, offset and length in it; -1 logged. */
	int	(*open_msg)(struct maildrop *, size_t, off_t *, off_t *);
	void	(*close_msg)(struct maildrop *, int);
	/* Remove the deleted messages durably; MD_OK or MD_TEMP. */
	enum md_status (*update)(struct maildrop *);
	/* Finish what a killed UPDATE left; MD_OK, MD_TEMP or MD_PERM. */
	enum md_status (*recover)(struct maildrop *);
	/* What a killed UPDATE left at path (for --check), or NULL. */
	const char *(*pending)(const char *);
};

struct maildrop {
	const struct backend *be;
	char	*path;		/* mbox file or Maildir directory */
	int	 fd;		/* mbox: the mailbox, -1 if missing */
	int	 lockfd;	/* session lock (flock) */
	dev_t	 dev;
	ino_t	 ino;
	off_t	 scanned;	/* mbox: octets scanned at login */
	struct msg *msgs;
	size_t	 nmsgs;
	uint64_t total;		/* sum of sizes */
};

extern const struct backend mbox_backend;
extern const struct backend maildir_backend;

/* Expand a location (mbox:P, maildir:P or P) for user and home into
 * a malloc'd path; *be gets the backend.  NULL with *err set on failure. */
char	*maildrop_expand(const char *, const char *, const char *,
	    const struct backend **, const char **);
/* Lock and scan a maildrop; on MD_OK the session owns md. */
enum md_status maildrop_open(struct maildrop *, const char *,
	    const struct backend *);
enum md_status maildrop_update(struct maildrop *);
/* For --check: what an interrupted UPDATE left beside the maildrop at
 * path (the next login completes it), or NULL. */
const char *maildrop_pending(const char *, const struct backend *);
void	 maildrop_close(struct maildrop *);
/* Give every message a unique UIDL (dedupe, fallbacks); called by scans. */
void	 maildrop_fix_uidls(struct maildrop *);
/* Append a message slot; NULL past MAILDROP_MSGS_MAX. */
struct msg *maildrop_add(struct maildrop *, size_t *);

/* mbox.c helpers exported for maildrop.c and the tests. */
/* Take and drop the MDA locks (fcntl and PATH.lock) on md. */
enum md_status mbox_lock(struct maildrop *);
void	 mbox_unlock(struct maildrop *);
/* cachefile.c: a cache file's records, streamed through a fixed buffer
 * with a BLAKE2b of every octet read or written. */
#define CACHE_SUM	16		/* octets of a cache's checksum */
struct cstream;
/* A stream on fd from offset at, with left octets to read (0 to write). */
struct cstream *cs_new(int, off_t, uint64_t);
void	 cs_free(struct cstream *);
/* Octets still to read; or, writing, written so far. */
uint64_t cs_left(const struct cstream *);
/* The next n octets, hashed; -1 past what is left or on an error. */
int	 cs_get(struct cstream *, void *, size_t);
/* Buffer n octets, hashed; -1 on a write error. */
int	 cs_put(struct cstream *, const void *, size_t);
int	 cs_flush(struct cstream *);
/* The checksum: what passed, then the n-octet header with its CACHE_SUM
 * octets at sumoff taken as zero. */
void	 cs_sum(struct cstream *, const void *, size_t, size_t,
	    unsigned char *);

/* mbox_cache.c: the scan's results kept in PATH.pop3d-cache. */
int	 mbox_cache_load(struct maildrop *, const struct stat *);
void	 mbox_cache_save(struct maildrop *, const struct stat *);
void	 mbox_cache_drop(const char *);
/* The digest of a From_ line's first MBOX_FROM_DIGEST octets (FNV-1a: it
 * tells lines apart, it guards against no one). */
uint64_t mbox_from_digest(const char *, size_t);
/* maildir_cache.c: the sizes of the last scan in DIR/.pop3d-cache. */
#define MAILDIR_SIZE_UNKNOWN	UINT64_MAX
uint64_t maildir_stamp(const struct stat *);
/* Fill the sizes the cache vouches for; how many it gave. */
size_t	 maildir_cache_apply(struct maildrop *, int);
void	 maildir_cache_save(struct maildrop *, int);
/* Files the last Maildir scan read (for the tests). */
extern size_t maildir_files_read;
/* Test knobs: CACHE_RACY_SECS, and the octets the last scan read. */
extern long mbox_cache_racy_secs;
extern off_t mbox_scan_octets;
/* Octets the scan maps at once (MBOX_SCAN_WINDOW; tests make it small). */
extern size_t mbox_scan_window;

/* The size of a message as io_send_msg sends it, fed in pieces (io.c). */
struct sizer {
	uint64_t size;		/* octets so far, as sent */
	int	 lastcr;	/* last octet seen was CR */
	int	 lastlf;	/* last octet seen was LF (or nothing seen) */
};
void	 sizer_init(struct sizer *);
void	 sizer_feed(struct sizer *, const char *, size_t);
uint64_t sizer_end(const struct sizer *);

#endif
