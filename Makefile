# pulltop - pull container images, drawn live.
#
#   make            build ./pulltop
#   make deps       install what is missing (Debian packages, as root)
#   make check      deps, build, run every test
#   make demo       deps, build, local registry with sample images, dashboard
#   make bench      deps, build, pulltop against skopeo and curl
#   make install    PREFIX=/usr/local

VERSION   = 0.1.0
PREFIX   ?= /usr/local
BINDIR    = $(PREFIX)/bin
MANDIR    = $(PREFIX)/share/man
DATADIR   = $(PREFIX)/share/pulltop

CC       ?= cc
PKGS      = ncursesw libcurl jansson zlib libcrypto libarchive libzstd
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WERROR   ?= $(if $(CI),-Werror,)
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -Wall -Wextra $(WERROR) -D_GNU_SOURCE -pthread \
            -DPULLTOP_DATADIR='"$(DATADIR)"' -DPULLTOP_VERSION='"$(VERSION)"' $(PKG_CFLAGS)
LDLIBS   += $(PKG_LIBS) -pthread -lm

ifneq ($(SANITIZE),)
CFLAGS   += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
LDFLAGS  += -fsanitize=$(SANITIZE)
endif

SRC_OBJS := $(patsubst %.c,%.o,$(filter-out src/main.c,$(wildcard src/*.c)))
UI_OBJS  := $(patsubst %.c,%.o,$(wildcard ui/*.c))
UNIT_BINS := $(patsubst tests/unit/%.c,tests/unit/%,$(wildcard tests/unit/test_*.c))

all: pulltop

pulltop: src/main.o $(SRC_OBJS) $(UI_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

src/%.o: src/%.c src/*.h
	$(CC) $(CFLAGS) -c -o $@ $<

ui/%.o: ui/%.c ui/*.h src/*.h
	$(CC) $(CFLAGS) -Isrc -c -o $@ $<

tests/unit/%: tests/unit/%.c $(SRC_OBJS) tests/unit/unit.h
	$(CC) $(CFLAGS) -Isrc $(LDFLAGS) -o $@ $< $(SRC_OBJS) $(LDLIBS)

units: $(UNIT_BINS)

deps:
	@sh tests/deps.sh

check: deps
	@$(MAKE) --no-print-directory all units
	@bash tests/run.sh

demo: deps
	@$(MAKE) --no-print-directory all
	@bash tests/demo.sh

bench: deps
	@$(MAKE) --no-print-directory all
	@bash tests/bench.sh

install: pulltop
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DATADIR)/themes
	install -m 755 pulltop $(DESTDIR)$(BINDIR)/pulltop
	-install -m 644 man/pulltop.1 $(DESTDIR)$(MANDIR)/man1/pulltop.1
	-install -m 644 man/pulltop-theme.5 $(DESTDIR)$(MANDIR)/man5/pulltop-theme.5
	-install -m 644 themes/*.theme $(DESTDIR)$(DATADIR)/themes/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/pulltop $(DESTDIR)$(MANDIR)/man1/pulltop.1 \
	      $(DESTDIR)$(MANDIR)/man5/pulltop-theme.5
	rm -rf $(DESTDIR)$(DATADIR)

clean:
	rm -f pulltop src/*.o ui/*.o $(UNIT_BINS)

.PHONY: all deps check demo bench install uninstall clean units
