# pulltop - pull container images, drawn live.
#
#   make            build ./pulltop
#   make deps       install what is missing (Debian packages, as root)
#   make check      deps, build, run every test
#   make check-sanitize  the tests again under ASan+UBSan and TSan
#   make fuzz       explore: every fuzz target for FUZZ_SECONDS (default 30)
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

# O=DIR builds out of tree (the sanitizer builds use build/asan and
# build/tsan); the default builds in place, so `make` gives ./pulltop.
O        ?= .
OPT      ?= -O2 -g
WERROR   ?= $(if $(CI),-Werror,)
ALL_CFLAGS = $(OPT) -std=c11 -Wall -Wextra $(WERROR) -D_GNU_SOURCE -pthread \
            -DPULLTOP_DATADIR='"$(DATADIR)"' -DPULLTOP_VERSION='"$(VERSION)"' \
            $(PKG_CFLAGS) $(CFLAGS)
ALL_LDFLAGS = $(LDFLAGS)
LIBS     = $(PKG_LIBS) -pthread -lm $(LDLIBS)

ifneq ($(SANITIZE),)
ALL_CFLAGS  += -fsanitize=$(SANITIZE) -fno-omit-frame-pointer
ALL_LDFLAGS += -fsanitize=$(SANITIZE)
endif

# Objects are rebuilt whenever the compiler or its flags change.
BUILD_ID := $(shell echo '$(CC) $(ALL_CFLAGS) $(ALL_LDFLAGS)' | cksum | cut -d' ' -f1)
STAMP    := $(O)/.build-$(BUILD_ID)

# Layering. Each folder of src/ is one subsystem with one public header
# named after it; a folder sees only the headers of the folders listed for
# it here, so a wrong include does not compile. ui/ sees the model, the
# views and util, never the registry, the store or the engine.
SUBSYSTEMS := util config oci registry store unpack model docker engine view watch
SEES_util     :=
SEES_model    := util
SEES_config   := util
SEES_oci      := util
SEES_registry := util config oci
SEES_store    := util oci
SEES_unpack   := util
SEES_docker   := util config model oci registry store
SEES_engine   := util config oci registry store unpack model docker
SEES_view     := util config model
SEES_watch    := util config model oci
SEES_ui       := util config model view
SEES_main     := $(SUBSYSTEMS) ui
sees = $(foreach d,$(SEES_$(1)),-I$(if $(filter ui,$(d)),ui,src/$(d)))

SRC_OBJS := $(patsubst %.c,$(O)/%.o,$(wildcard src/*/*.c))
UI_OBJS  := $(patsubst %.c,$(O)/%.o,$(wildcard ui/*.c))
UNIT_BINS := $(patsubst %.c,$(O)/%,$(wildcard tests/unit/test_*.c))
# unit tests may look inside any subsystem
UNIT_INC := $(foreach d,$(SUBSYSTEMS),-Isrc/$(d))

all: $(O)/pulltop

$(STAMP):
	@mkdir -p $(addprefix $(O)/src/,$(SUBSYSTEMS)) $(O)/ui $(O)/tests/unit
	@rm -f $(O)/.build-* $(O)/src/*.o $(O)/src/*/*.o $(O)/ui/*.o
	@touch $@

$(O)/pulltop: $(O)/src/main.o $(SRC_OBJS) $(UI_OBJS)
	$(CC) $(ALL_LDFLAGS) -o $@ $^ $(LIBS)

$(O)/src/main.o: src/main.c src/*/*.h ui/*.h $(STAMP)
	$(CC) $(ALL_CFLAGS) $(call sees,main) -c -o $@ $<

.SECONDEXPANSION:
$(O)/src/%.o: src/%.c src/$$(*D)/*.h $$(foreach d,$$(SEES_$$(*D)),src/$$(d)/*.h) $(STAMP)
	$(CC) $(ALL_CFLAGS) -Isrc/$(*D) $(call sees,$(*D)) -c -o $@ $<

$(O)/ui/%.o: ui/%.c ui/*.h $(foreach d,$(SEES_ui),src/$(d)/*.h) $(STAMP)
	$(CC) $(ALL_CFLAGS) -Iui $(call sees,ui) -c -o $@ $<

$(O)/tests/unit/%: tests/unit/%.c $(SRC_OBJS) tests/unit/unit.h
	$(CC) $(ALL_CFLAGS) $(UNIT_INC) $(ALL_LDFLAGS) -o $@ $< $(SRC_OBJS) $(LIBS)

units: $(UNIT_BINS)

deps:
	@sh tests/deps.sh

# check, check-sanitize, demo and bench build on every core
BUILD_JOBS ?= $(shell nproc 2>/dev/null || echo 1)

check: deps
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) all units
	@bash tests/run.sh

# The unit and integration tests again under AddressSanitizer and UBSan,
# and the concurrent pull, cancel and retry tests under ThreadSanitizer;
# any report fails the run.
SAN_TESTS  ?= t-engine t-faults t-auth t-unpack t-dashboard t-cancel t-misbehave
TSAN_TESTS ?= t-faults t-dashboard t-cancel
check-sanitize: deps
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) O=build/asan SANITIZE=address,undefined OPT='-O1 -g' all units
	@PULLTOP=$(CURDIR)/build/asan/pulltop UNIT_DIR=build/asan/tests/unit \
	    SANITIZER=asan bash tests/run.sh $(SAN_TESTS)
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) O=build/tsan SANITIZE=thread OPT='-O1 -g' all
	@PULLTOP=$(CURDIR)/build/tsan/pulltop UNIT_DIR=none \
	    SANITIZER=tsan bash tests/run.sh $(TSAN_TESTS)

# libFuzzer targets for every parser of outside input (clang).
FUZZ_SECONDS ?= 30
fuzz: deps
	@FUZZ_SECONDS=$(FUZZ_SECONDS) bash tests/fuzz/run.sh

demo: deps
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) all
	@bash tests/demo.sh

bench: deps
	@$(MAKE) --no-print-directory -j$(BUILD_JOBS) all
	@bash tests/bench.sh

install: pulltop
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DATADIR)/themes
	install -m 755 pulltop $(DESTDIR)$(BINDIR)/pulltop
	install -m 644 man/pulltop.1 $(DESTDIR)$(MANDIR)/man1/pulltop.1
	install -m 644 man/pulltop-theme.5 $(DESTDIR)$(MANDIR)/man5/pulltop-theme.5
	install -m 644 themes/*.theme $(DESTDIR)$(DATADIR)/themes/

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/pulltop $(DESTDIR)$(MANDIR)/man1/pulltop.1 \
	      $(DESTDIR)$(MANDIR)/man5/pulltop-theme.5
	rm -rf $(DESTDIR)$(DATADIR)

clean:
	rm -rf pulltop src/*.o src/*/*.o ui/*.o .build-* $(UNIT_BINS) build

.PHONY: all deps check check-sanitize fuzz demo bench install uninstall clean units
