/* tests/fuzz/fuzzlib.c: scratch files, memory descriptors and failure
 * reports for the libFuzzer harnesses. */
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

#define NFTW_FDS	16

static int	 report_fd = -1;
static char	 dir[64];

static int	 rm_one(const char *, const struct stat *, int, struct FTW *);
static void	 rm_dir(void);

void
fuzz_init(void)
{
	if (report_fd == -1) {
		report_fd = fcntl(2, F_DUPFD_CLOEXEC, 3);
	}
}

void
fuzz_fail(const char *fmt, ...)
{
	va_list	ap;

	va_start(ap, fmt);
	if (report_fd != -1) {
		dprintf(report_fd, "fuzz: invariant broken: ");
		vdprintf(report_fd, fmt, ap);
		dprintf(report_fd, "\n");
	}
	va_end(ap);
	abort();
}

static int
rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
	(void)st;
	(void)ftw;
	if (type == FTW_DP) {
		(void)rmdir(path);
	} else {
		(void)unlink(path);
	}
	return 0;
}

static void
rm_dir(void)
{
	if (dir[0] != '\0') {
		(void)nftw(dir, rm_one, NFTW_FDS, FTW_DEPTH | FTW_PHYS);
	}
}

const char *
fuzz_dir(void)
{
	struct stat	st;

	if (dir[0] != '\0') {
		return dir;
	}
	if (stat("/dev/shm", &st) == 0 && S_ISDIR(st.st_mode) &&
	    access("/dev/shm", W_OK) == 0) {
		strcpy(dir, "/dev/shm/pop3d-fuzz.XXXXXX");
	} else {
		strcpy(dir, "/tmp/pop3d-fuzz.XXXXXX");
	}
	if (mkdtemp(dir) == NULL) {
		fuzz_fail("mkdtemp %s: %s", dir, strerror(errno));
	}
	atexit(rm_dir);
	return dir;
}

char *
fuzz_path(char *buf, size_t size, const char *name)
{
	if ((size_t)snprintf(buf, size, "%s/%s", fuzz_dir(), name) >= size) {
		fuzz_fail("path too long: %s", name);
	}
	return buf;
}

void
fuzz_put(const char *path, const void *data, size_t n)
{
	int	fd;

	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd == -1 || (n > 0 && write(fd, data, n) != (ssize_t)n) ||
	    close(fd) == -1) {
		fuzz_fail("write %s: %s", path, strerror(errno));
	}
}

void
fuzz_unlink(const char *path)
{
	if (unlink(path) == -1 && errno != ENOENT) {
		fuzz_fail("unlink %s: %s", path, strerror(errno));
	}
}

int
fuzz_memfd(const char *name)
{
	int	fd;

	if ((fd = memfd_create(name, MFD_CLOEXEC)) == -1) {
		fuzz_fail("memfd_create: %s", strerror(errno));
	}
	return fd;
}

void
fuzz_rewind(int fd)
{
	if (lseek(fd, 0, SEEK_SET) == -1) {
		fuzz_fail("lseek: %s", strerror(errno));
	}
}

/* Rewinding, not truncating, keeps the memfd's pages: much cheaper. */
char *
fuzz_written(int fd, size_t *n)
{
	char	*buf;
	off_t	 end;

	if ((end = lseek(fd, 0, SEEK_CUR)) == -1) {
		fuzz_fail("lseek: %s", strerror(errno));
	}
	if ((buf = malloc((size_t)end + 1)) == NULL) {
		fuzz_fail("malloc");
	}
	if (end > 0 && pread(fd, buf, (size_t)end, 0) != end) {
		fuzz_fail("pread: %s", strerror(errno));
	}
	buf[end] = '\0';
	*n = (size_t)end;
	return buf;
}

char *
fuzz_slurp(int fd, size_t *n)
{
	struct stat	 st;
	char		*buf;

	if (fstat(fd, &st) == -1) {
		fuzz_fail("fstat: %s", strerror(errno));
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		fuzz_fail("malloc");
	}
	if (st.st_size > 0 &&
	    pread(fd, buf, (size_t)st.st_size, 0) != st.st_size) {
		fuzz_fail("pread: %s", strerror(errno));
	}
	buf[st.st_size] = '\0';
	*n = (size_t)st.st_size;
	return buf;
}

int
fuzz_lowest_fd(void)
{
	int	fd;

	if ((fd = open("/dev/null", O_RDONLY | O_CLOEXEC)) == -1) {
		fuzz_fail("open /dev/null: %s", strerror(errno));
	}
	close(fd);
	return fd;
}
