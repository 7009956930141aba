/* params.h: every limit, default and tunable of pop3d, each with its reason. */
#ifndef POP3D_PARAMS_H
#define POP3D_PARAMS_H

#define POP3D_VERSION		"0.1.0"
#define POP3D_IMPLEMENTATION	"pop3d-" POP3D_VERSION

/* Default files and locations (pop3d(8), pop3d.passwd(5)). */
#define DEF_PASSWD_FILE		"/etc/pop3d/passwd"
#define DEF_MAILDROP		"mbox:/var/mail/%u"
#define LOG_IDENT		"pop3d"

/* RFC 1939 3: the autologout timer is at least 10 minutes after login. */
#define DEF_TIMEOUT		600
#define MIN_TIMEOUT		1
#define MAX_TIMEOUT		86400
/* Before login a client has no business idling: a short timer frees the slot. */
#define DEF_LOGIN_TIMEOUT	60

/* RFC 2449 4: a command line is at most 255 octets including the CRLF. */
#define CMD_LINE_MAX		255
/* RFC 5034 4: an AUTH continuation line may be longer than a command; base64
 * of user, authzid and a password of PASS_MAX, with room to spare. */
#define AUTH_LINE_MAX		1024

/* Longest user name we look up; passwd-file users are short words. */
#define USER_MAX		64
/* Passwords longer than this are refused before hashing, so that no client
 * can make one verification cost more than any other. */
#define PASS_MAX		256

/* Failed logins: each answered after a floor delay, the connection closed
 * after this many, so that one connection cannot run a dictionary. */
#define AUTH_FAIL_MAX		3
#define AUTH_FAIL_DELAY_MS	2000
/* A failed login is answered no sooner than this after it began, even
 * with --fail-delay=0, so that the reply time does not tell a known user
 * from an unknown one.  A success is answered at once. */
#define AUTH_FLOOR_MS		250
/* --fail-delay may lower the delay (tests, benchmarks) or raise it this far. */
#define AUTH_FAIL_DELAY_MAX_MS	60000

/* Password file: one entry a line, fields separated by ':'. */
#define PASSWD_LINE_MAX		4096
#define PASSWD_SIZE_MAX		(64L * 1024 * 1024)

/* UIDL: RFC 1939 7 allows 1 to 70 characters in 0x21-0x7E. */
#define UIDL_MAX		70
/* A content UIDL is this many hex digits of a BLAKE2b hash (128 bits). */
#define UIDL_HASH_HEX		32
/* At most this much of a message's From_ line and header fields feeds its
 * content UIDL (mbox.c: uidl_fields). */
#define UIDL_HEADER_MAX		(64 * 1024)

/* Caps on a maildrop, so a session's memory stays bounded. */
#define MAILDROP_MSGS_MAX	1000000
#define MAILDROP_SIZE_MAX	((long long)64 * 1024 * 1024 * 1024)
#define LOCATION_MAX		4096
/* A Maildir file name (NAME_MAX on Linux). */
#define NAME_MAX_LEN		255

/* mbox locking (Debian policy 11.6): dotlock and fcntl, both retried. */
#define LOCK_TRIES		30
#define LOCK_RETRY_MS		500
/* A dotlock older than this is stale (liblockfile and procmail use 5 min). */
#define DOTLOCK_STALE_SECS	300

/* The unprivileged user the pre-login dialogue runs as when pop3d starts
 * as root: its own, so that a compromised child shares nothing (nobody is
 * shared by many daemons).  --privsep-user changes it. */
#define PRIVSEP_USER		"pop3d"

/* Client input buffered at once; also what the privsep child hands over. */
#define IO_INBUF		4096
/* I/O chunk for reading mail.  The output buffer is larger: RETR of a
 * 500 MiB mbox took some 10% less of pop3d's CPU with 128 KiB writes to
 * the client than with 64 KiB (half the write and poll calls); 256 KiB
 * did no better. */
#define IO_CHUNK		(64 * 1024)
#define IO_OUTBUF		(128 * 1024)
/* TOP's first read: a header seldom needs more (a power of 2 that divides
 * IO_CHUNK; io.c doubles it from there). */
#define IO_TOP_READ		(4 * 1024)
/* RETR or TOP to a client that waits for it (nothing more in the input) is
 * written out whenever this much is ready, so that the client reads while
 * pop3d makes the rest. */
#define IO_EARLY_FLUSH		(8 * 1024)
/* The mbox scan maps this much of the file at a time: 4 MiB was 10%
 * faster on a 500 MiB mbox but added up to 4 MiB of page-cache pages to a
 * session's RSS while mapped; 1 MiB fits the address space of any host. */
#define MBOX_SCAN_WINDOW	(1024 * 1024)
/* The scan's cache (PATH.pop3d-cache) trusts an mbox whose size and times
 * are unchanged only if they were this old when it was written: a change
 * within the same timestamp tick would not show (pop3d(8), "The mbox
 * cache"). */
#define CACHE_RACY_SECS		2
/* The cache checks this much of each From_ line (sender and date). */
#define MBOX_FROM_DIGEST	64

/* Argon2id cost for --hash: libsodium's interactive limits by default. */
#define HASH_OPS_MIN		1ULL
#define HASH_MEM_MIN_KIB	8ULL
/* 4 GiB: more than any host this daemon is meant for should spend. */
#define HASH_MEM_MAX_KIB	(4ULL * 1024 * 1024)

/* --hash-mem counts KiB (as argon2's m= does); libsodium wants octets. */
#define HASH_MEM_UNIT		1024ULL

/* auth.c names a scheme ({TAG} or $id$) in messages only when it is this
 * short and made of name characters, so that a plaintext password which
 * happens to start with '{' or '$' is never printed. */
#define SCHEME_NAME_MAX		32
/* auth.c writes its stand-in hash for unknown users in the layout that
 * crypto_pwhash_str writes: Argon2 version 1.3 (19), one lane, a 32-octet
 * tag, so that verifying against it costs what verifying a real one does. */
#define DUMMY_ARGON2_VERSION	19
#define DUMMY_ARGON2_LANES	1
#define DUMMY_HASH_BYTES	32

#endif
