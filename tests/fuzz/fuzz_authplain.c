/* tests/fuzz/fuzz_authplain.c: libFuzzer harness for the AUTH PLAIN
 * decoder, plain_decode in pop3d.c (compiled in: it is static).  The
 * fuzz_dialogue harness reaches it too, behind the line reader and a
 * password check; this one runs it alone, tens of thousands of times a
 * second, against RFC 4616 as written here: the decoded response is
 * authzid NUL authcid NUL passwd, exactly two NULs, the authcid not
 * empty, the authzid empty or the authcid.  The input is the base64 text,
 * up to its first NUL (a command line holds none); a first octet with
 * the high bit set (never base64) picks smaller buffers instead. */
#include <sys/types.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

int	 pop3d_main(int, char **);
#define main		pop3d_main
#include "../../pop3d.c"
#undef main

/* Decoded octets that plain_decode's buffer holds, with its NUL. */
#define DECODED_MAX	(AUTH_LINE_MAX - 1)

struct plain {
	const char	*authz, *authc, *pass;
	size_t		 zlen, clen, plen;
};

static int	 reference(const unsigned char *, size_t, struct plain *);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_init();
	if (sodium_init() < 0) {
		fuzz_fail("sodium_init");
	}
	return 0;
}

/* Split the decoded response; 0 if it is authzid NUL authcid NUL passwd
 * with an authcid and an authzid that may log in, else -1. */
static int
reference(const unsigned char *d, size_t n, struct plain *p)
{
	const unsigned char	*nul1, *nul2;

	if ((nul1 = memchr(d, '\0', n)) == NULL ||
	    (nul2 = memchr(nul1 + 1, '\0', n - (size_t)(nul1 + 1 - d))) ==
	    NULL || memchr(nul2 + 1, '\0', n - (size_t)(nul2 + 1 - d)) !=
	    NULL) {
		return -1;
	}
	p->authz = (const char *)d;
	p->zlen = (size_t)(nul1 - d);
	p->authc = (const char *)nul1 + 1;
	p->clen = (size_t)(nul2 - nul1 - 1);
	p->pass = (const char *)nul2 + 1;
	p->plen = n - (size_t)(nul2 + 1 - d);
	if (p->clen == 0) {
		return -1;
	}
	if (p->zlen != 0 && (p->zlen != p->clen ||
	    memcmp(p->authz, p->authc, p->clen) != 0)) {
		return -1;
	}
	return 0;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char		 user[USER_MAX + 1], pass[PASS_MAX + 2];
	unsigned char	*dec;
	char		*b64;
	struct plain	 p;
	size_t		 usize = sizeof(user), psize = sizeof(pass), n = 0, i;
	int		 got, want;

	/* Smaller buffers too, to reach the length checks cheaply. */
	if (size > 0 && (data[0] & 0x80) != 0) {
		usize = (size_t)(data[0] & 0x0f) + 1;
		psize = (size_t)((data[0] >> 4) & 0x07) + 1;
		data++;
		size--;
	}
	if ((b64 = strndup((const char *)data, size)) == NULL ||
	    (dec = malloc(size + 1)) == NULL) {
		fuzz_fail("malloc");
	}
	memset(user, 'U', sizeof(user));
	memset(pass, 'P', sizeof(pass));
	got = plain_decode(b64, user, usize, pass, psize);
	if (sodium_base642bin(dec, size + 1, b64, strlen(b64), NULL, &n, NULL,
	    sodium_base64_VARIANT_ORIGINAL) != 0 || n > DECODED_MAX) {
		want = -1;
	} else {
		want = reference(dec, n, &p);
		if (want == 0 && (p.clen >= usize || p.plen >= psize)) {
			want = -1;
		}
	}
	FUZZ_CHECK(got == want, "plain_decode: %d, reference: %d", got, want);
	if (got == 0) {
		FUZZ_CHECK(strlen(user) == p.clen &&
		    memcmp(user, p.authc, p.clen) == 0, "wrong authcid");
		FUZZ_CHECK(strlen(pass) == p.plen &&
		    memcmp(pass, p.pass, p.plen) == 0, "wrong password");
	}
	for (i = usize; i < sizeof(user); i++) {
		FUZZ_CHECK(user[i] == 'U', "wrote past the user buffer");
	}
	for (i = psize; i < sizeof(pass); i++) {
		FUZZ_CHECK(pass[i] == 'P', "wrote past the password buffer");
	}
	free(dec);
	free(b64);
	return 0;
}
