/* tests/fuzz/fuzz.h: what the libFuzzer harnesses share. */
#ifndef FUZZ_H
#define FUZZ_H

#include <stddef.h>
#include <stdint.h>

int	 LLVMFuzzerInitialize(int *, char ***);
int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* Keep a descriptor for our own reports: make fuzz runs the harnesses
 * with -close_fd_mask=3, which sends fd 1 and 2 (pop3d's log) to
 * /dev/null.  Call first thing in LLVMFuzzerInitialize. */
void	 fuzz_init(void);
/* A broken invariant: say which on the kept descriptor, then abort so
 * that libFuzzer saves the input. */
void	 fuzz_fail(const char *, ...)
	    __attribute__((format(printf, 1, 2), noreturn));
#define FUZZ_CHECK(cond, ...) do {					\
	if (!(cond)) {							\
		fuzz_fail(__VA_ARGS__);					\
	}								\
} while (0)

/* A scratch directory, on tmpfs when there is one (UPDATE fsyncs),
 * removed at exit; fuzz_path writes the name of a file in it into buf. */
const char *fuzz_dir(void);
char	*fuzz_path(char *, size_t, const char *);
/* Replace a file's content; unlink a file that may not exist. */
void	 fuzz_put(const char *, const void *, size_t);
void	 fuzz_unlink(const char *);
/* A memory-backed descriptor; fuzz_rewind starts it over, and
 * fuzz_written returns what was written since, in a malloc'd buffer (*n
 * octets, NUL after them). */
int	 fuzz_memfd(const char *);
void	 fuzz_rewind(int);
char	*fuzz_written(int, size_t *);
/* A whole file in a malloc'd buffer, read from fd's start. */
char	*fuzz_slurp(int, size_t *);
/* The lowest free descriptor: equal before and after an input, or the
 * input leaked one. */
int	 fuzz_lowest_fd(void);

#endif
