# pop3d: a small inetd-style POP3 server.  See README.md and INSTALL.

PREFIX ?=	/usr/local
SBINDIR ?=	$(PREFIX)/sbin
MANDIR ?=	$(PREFIX)/share/man
CC ?=		cc
PKG_CONFIG ?=	pkg-config
CFLAGS ?=	-O2 -g
WARNINGS =	-Wall -Wextra -Werror -Wstrict-prototypes -Wmissing-prototypes \
		-Wshadow -Wpointer-arith -Wcast-qual -Wsign-compare
SODIUM_CFLAGS =	$$($(PKG_CONFIG) --cflags libsodium)
SODIUM_LIBS =	$$($(PKG_CONFIG) --libs libsodium)
ALL_CFLAGS =	$(WARNINGS) -D_GNU_SOURCE $(SODIUM_CFLAGS) $(CFLAGS)

LIBOBJS =	auth.o maildrop.o mbox.o mbox_cache.o maildir.o maildir_cache.o \
		cachefile.o io.o log.o util.o
OBJS =		pop3d.o privsep.o $(LIBOBJS)
HDRS =		pop3d.h params.h
CHECK_CFLAGS =	$$($(PKG_CONFIG) --cflags check)
CHECK_LIBS =	$$($(PKG_CONFIG) --libs check)
# One Check runner per module; each links the real objects it tests.
UNIT_TESTS =	tests/check_util tests/check_io tests/check_maildrop \
		tests/check_mbox tests/check_maildir tests/check_auth
# Runners that drive the built ./pop3d, and the real clients, launchers
# and MDAs through tests/integration/*.
SYSTEM_TESTS =	tests/check_session tests/check_integration
TESTS =		$(UNIT_TESTS) $(SYSTEM_TESTS)

all: pop3d

pop3d: $(OBJS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -o $@ $(OBJS) $(SODIUM_LIBS)

.c.o:
	$(CC) $(ALL_CFLAGS) -c $<

$(OBJS): $(HDRS)

$(TESTS): $(LIBOBJS) tests/testlib.h tests/sendlib.h
# check_auth stands in for the log and the maildrop code to watch them.
tests/check_auth: tests/check_auth.c auth.o
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -I. $(LDFLAGS) -o $@ $< auth.o \
	    $(SODIUM_LIBS) $(CHECK_LIBS)
tests/check_%: tests/check_%.c
	$(CC) $(ALL_CFLAGS) $(CHECK_CFLAGS) -I. $(LDFLAGS) -o $@ $< \
	    $(LIBOBJS) $(SODIUM_LIBS) $(CHECK_LIBS)

deps-check:
	@sh tests/deps.sh check

# Every test: unit runners first, then the server end to end.  Each
# runner ends with Check's summary line; any failure stops make.
check: deps-check
	@$(MAKE) --no-print-directory pop3d $(TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; ./$$t; done; \
	for t in $(SYSTEM_TESTS); do echo "== $$t"; $(SYSTEM_ENV) ./$$t; done

# The whole test suite again under AddressSanitizer and UBSan: a fresh
# build, any report fails the run, and the tree is left clean.
SAN_FLAGS =	-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
		-fno-sanitize-recover=all
# LeakSanitizer cannot trace a process that changed its uid (pop3d as
# root, the privsep child): the runners that start pop3d run it without
# leak checks here; make check-valgrind checks those processes for leaks.
check-sanitize: deps-check
	$(MAKE) clean
	$(MAKE) check CFLAGS="$(SAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined" \
	    SYSTEM_ENV="ASAN_OPTIONS=detect_leaks=0"
	$(MAKE) clean

install: pop3d
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(MANDIR)/man5
	install -m 755 pop3d $(DESTDIR)$(SBINDIR)/pop3d
	install -m 644 pop3d.8 $(DESTDIR)$(MANDIR)/man8/pop3d.8
	install -m 644 pop3d.passwd.5 $(DESTDIR)$(MANDIR)/man5/pop3d.passwd.5

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/pop3d $(DESTDIR)$(MANDIR)/man8/pop3d.8 \
	    $(DESTDIR)$(MANDIR)/man5/pop3d.passwd.5

clean:
	rm -f pop3d *.o $(TESTS)

.PHONY: all clean check check-sanitize deps-check install uninstall

deps-demo:
	@sh tests/deps.sh demo

# Serve a demo maildrop through systemd-socket-activate on 127.0.0.1.
demo: deps-demo
	@$(MAKE) --no-print-directory pop3d
	@sh tests/demo.sh

.PHONY: demo deps-demo

# A fully static pop3d for small hosts: libc and libsodium are linked in,
# so the target needs nothing but the kernel.  CC and PKG_CONFIG choose a
# cross toolchain (from a clean tree, so every object is built by it):
#   make clean && make static CC=aarch64-linux-gnu-gcc \
#       PKG_CONFIG=aarch64-linux-gnu-pkg-config
STATIC_LIBS =	$$($(PKG_CONFIG) --static --libs libsodium)

static: pop3d-static

pop3d-static: $(OBJS)
	$(CC) $(ALL_CFLAGS) $(LDFLAGS) -static -o $@ $(OBJS) $(STATIC_LIBS)

clean: clean-static
clean-static:
	rm -f pop3d-static

.PHONY: static clean-static

# Benchmarks against Dovecot, popa3d and Courier (bench/, BENCHMARKS.md);
# never part of check.  Needs root.  BENCH_PROFILES=small for a quick run.
BENCH_PROFILES ?=	small big huge
BENCH_RUNS ?=

bench/out/popbench: bench/popbench.c
	@mkdir -p bench/out
	$(CC) $(WARNINGS) -D_GNU_SOURCE -O2 -g $(LDFLAGS) -o $@ \
	    bench/popbench.c

bench: pop3d bench/out/popbench
	BENCH_PROFILES="$(BENCH_PROFILES)" BENCH_RUNS="$(BENCH_RUNS)" \
	    python3 bench/bench.py

.PHONY: bench

# ---- fuzzing: libFuzzer harnesses in tests/fuzz/ (see each file's head),
# built with clang whatever CC is, under ASan and UBSan, into
# tests/fuzz/build/ so that the normal objects stay as they are.  Each
# runs FUZZ_SECONDS from its seeds in tests/fuzz/corpus/NAME; what it
# finds is kept in tests/fuzz/build/corpus/NAME for the next run.  A
# crash, a leak, a sanitizer report or a broken invariant fails make and
# leaves the input in tests/fuzz/build/NAME-crash-* (or -leak-, -timeout-).
FUZZ_CC =	clang
FUZZ_SECONDS =	60
FUZZ_DIR =	tests/fuzz
FUZZ_BUILD =	$(FUZZ_DIR)/build
FUZZERS =	dialogue mbox passwd authplain
FUZZ_PKGS =	clang libclang-rt-14-dev
FUZZ_CFLAGS =	$(WARNINGS) -D_GNU_SOURCE $(SODIUM_CFLAGS) -I. -g -O1 \
		-fno-omit-frame-pointer -fsanitize=address,undefined \
		-fno-sanitize-recover=all
# -close_fd_mask=3: pop3d's log and --check's report go to /dev/null;
# libFuzzer's lines and the sanitizers' reports still come out.
FUZZ_FLAGS =	-max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 \
		-close_fd_mask=3 -timeout=10
FUZZ_LIB =	$(FUZZ_BUILD)/fuzzlib.o $(FUZZ_BUILD)/maildrop.o \
		$(FUZZ_BUILD)/mbox.o $(FUZZ_BUILD)/mbox_cache.o \
		$(FUZZ_BUILD)/maildir.o $(FUZZ_BUILD)/maildir_cache.o \
		$(FUZZ_BUILD)/cachefile.o $(FUZZ_BUILD)/io.o \
		$(FUZZ_BUILD)/log.o $(FUZZ_BUILD)/util.o
FUZZ_LINK =	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< \
		    $(filter %.o,$^) $(SODIUM_LIBS)

$(FUZZ_BUILD)/%.o: %.c $(HDRS)
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<
$(FUZZ_BUILD)/fuzzlib.o: $(FUZZ_DIR)/fuzzlib.c $(FUZZ_DIR)/fuzz.h
	@mkdir -p $(FUZZ_BUILD)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c -o $@ \
	    $(FUZZ_DIR)/fuzzlib.c
# fuzz_dialogue and fuzz_authplain compile pop3d.c (and auth.c) in.
$(FUZZ_BUILD)/fuzz_dialogue: $(FUZZ_DIR)/fuzz_dialogue.c pop3d.c auth.c \
    $(HDRS) $(FUZZ_DIR)/fuzz.h $(FUZZ_LIB) $(FUZZ_BUILD)/privsep.o
	$(FUZZ_LINK)
$(FUZZ_BUILD)/fuzz_authplain: $(FUZZ_DIR)/fuzz_authplain.c pop3d.c \
    $(HDRS) $(FUZZ_DIR)/fuzz.h $(FUZZ_LIB) $(FUZZ_BUILD)/auth.o \
    $(FUZZ_BUILD)/privsep.o
	$(FUZZ_LINK)
$(FUZZ_BUILD)/fuzz_mbox: $(FUZZ_DIR)/fuzz_mbox.c $(HDRS) $(FUZZ_DIR)/fuzz.h \
    $(FUZZ_LIB) $(FUZZ_BUILD)/auth.o
	$(FUZZ_LINK)
$(FUZZ_BUILD)/fuzz_passwd: $(FUZZ_DIR)/fuzz_passwd.c $(HDRS) \
    $(FUZZ_DIR)/fuzz.h $(FUZZ_LIB) $(FUZZ_BUILD)/auth.o
	$(FUZZ_LINK)

deps-fuzz:
	@POP3D_EXTRA_PKGS="$(FUZZ_PKGS)" sh tests/deps.sh build

fuzz: deps-fuzz
	@$(MAKE) --no-print-directory $(FUZZERS:%=$(FUZZ_BUILD)/fuzz_%)
	@set -e; for f in $(FUZZERS); do \
	    mkdir -p $(FUZZ_BUILD)/corpus/$$f; \
	    dict=; if [ -f $(FUZZ_DIR)/$$f.dict ]; then \
	        dict=-dict=$(FUZZ_DIR)/$$f.dict; fi; \
	    echo "== fuzz_$$f, $(FUZZ_SECONDS) s"; \
	    if ! $(FUZZ_BUILD)/fuzz_$$f $(FUZZ_FLAGS) $$dict \
	        -artifact_prefix=$(FUZZ_BUILD)/$$f- \
	        $(FUZZ_BUILD)/corpus/$$f $(FUZZ_DIR)/corpus/$$f \
	        >$(FUZZ_BUILD)/$$f.log 2>&1; then \
	        tail -n 60 $(FUZZ_BUILD)/$$f.log; \
	        echo "fuzz_$$f FAILED: $(FUZZ_BUILD)/$$f.log, input in" \
	            "$(FUZZ_BUILD)/$$f-*"; \
	        exit 1; \
	    fi; \
	    grep -E 'DONE|stat::' $(FUZZ_BUILD)/$$f.log; \
	done

clean: clean-fuzz
clean-fuzz:
	rm -rf $(FUZZ_BUILD)

.PHONY: fuzz deps-fuzz clean-fuzz

# ---- static analysis: cppcheck, clang-tidy and gcc -fanalyzer on every
# top-level source; a finding of any of them fails make.  A false
# positive is silenced at its line, with the reason beside it.
ANALYZE_SRCS =	$(wildcard *.c)
ANALYZE_CC =	gcc
CPPCHECK =	cppcheck
CLANG_TIDY =	clang-tidy
# clang-tidy: the bug-finding families, less what only gives advice:
#  bugprone-easily-swappable-parameters: about signatures, not bugs;
#  bugprone-implicit-widening-of-multiplication-result: fires only on
#   params.h constants (IO_CHUNK, UIDL_HEADER_MAX) that the compiler
#   folds, and which cannot be size_t since off_t is compared with them;
#  clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling:
#   wants memcpy_s and the like (C11 Annex K), which glibc does not have;
#  clang-analyzer-optin.performance.Padding: struct layout advice.
# One file a run: clang-tidy 14 carries va_list state from one file into
# the next, and then reports valist.Uninitialized where it is not.
TIDY_CHECKS =	-*,bugprone-*,cert-*,clang-analyzer-*,misc-*,portability-*,$\
		performance-*,-bugprone-easily-swappable-parameters,$\
		-bugprone-implicit-widening-of-multiplication-result,$\
		-clang-analyzer-security.insecureAPI.DeprecatedOrUnsafeBufferHandling,$\
		-clang-analyzer-optin.performance.Padding

deps-analyze:
	@POP3D_EXTRA_PKGS="cppcheck clang-tidy" sh tests/deps.sh build

analyze: deps-analyze
	@st=0; \
	echo "== cppcheck"; \
	$(CPPCHECK) -q --enable=warning,portability,performance \
	    --error-exitcode=1 --inline-suppr -D_GNU_SOURCE \
	    $(ANALYZE_SRCS) || st=1; \
	for f in $(ANALYZE_SRCS); do \
	    echo "== clang-tidy $$f"; \
	    $(CLANG_TIDY) --quiet -checks='$(TIDY_CHECKS)' \
	        --warnings-as-errors='*' $$f -- $(WARNINGS) -D_GNU_SOURCE \
	        $(SODIUM_CFLAGS) -I. || st=1; \
	done; \
	for f in $(ANALYZE_SRCS); do \
	    echo "== $(ANALYZE_CC) -fanalyzer $$f"; \
	    $(ANALYZE_CC) -fanalyzer $(WARNINGS) -D_GNU_SOURCE \
	        $(SODIUM_CFLAGS) -O2 -c -o /dev/null $$f || st=1; \
	done; \
	exit $$st

.PHONY: analyze deps-analyze

# ---- the session tests with every pop3d they start, and its privsep
# child, under valgrind memcheck.  valgrind writes to files of its own, not
# to pop3d's stderr, which the tests read; an error or a definite leak
# makes pop3d exit 99, so that its test fails, and fails the target with
# valgrind's report.  A normal build: no sanitizers (after a build with
# them, make clean first).
VALGRIND =	valgrind
VALGRIND_FLAGS = --quiet --vgdb=no --error-exitcode=99 --leak-check=full \
		--errors-for-leak-kinds=definite,indirect \
		--show-leak-kinds=definite,indirect --trace-children=yes

deps-valgrind:
	@POP3D_EXTRA_PKGS=valgrind sh tests/deps.sh check

check-valgrind: deps-valgrind
	@$(MAKE) --no-print-directory pop3d tests/check_session
	@d=$$(mktemp -d /tmp/pop3d-valgrind.XXXXXX) || exit 1; st=0; \
	POP3D_WRAPPER="$(VALGRIND) $(VALGRIND_FLAGS) \
	    --log-file=$$d/pop3d.%p.log" ./tests/check_session || st=1; \
	if ! ls $$d | grep -q .; then echo "valgrind did not run"; st=1; fi; \
	for f in $$d/*; do \
	    if [ -s $$f ]; then echo "== $$f"; cat $$f; st=1; fi; \
	done; \
	if [ $$st = 0 ]; then rm -rf $$d; \
	else echo "check-valgrind FAILED: valgrind's files in $$d"; fi; \
	exit $$st

.PHONY: check-valgrind deps-valgrind
