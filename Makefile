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

LIBOBJS =	auth.o maildrop.o mbox.o maildir.o io.o log.o util.o
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

$(TESTS): $(LIBOBJS) tests/testlib.h
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
	@set -e; for t in $(TESTS); do echo "== $$t"; ./$$t; done

# The whole test suite again under AddressSanitizer and UBSan: a fresh
# build, any report fails the run, and the tree is left clean.
SAN_FLAGS =	-O1 -g -fno-omit-frame-pointer -fsanitize=address,undefined \
		-fno-sanitize-recover=all
check-sanitize: deps-check
	$(MAKE) clean
	$(MAKE) check CFLAGS="$(SAN_FLAGS)" LDFLAGS="-fsanitize=address,undefined"
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
