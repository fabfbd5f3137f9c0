# alegate — top-level build.
#
#   make                 build alegated, alegatectl and the libraries into $(O)
#   make check           build and run every test (unit + netns), needs root
#   make check-unit      unit tests only (no root, no network)
#   make SANITIZE=1 ...  build everything with ASan + UBSan
#   make fuzz FUZZ_SECONDS=60   run every libFuzzer harness (clang)
#   make bench           build the benchmark programs
#   make install PREFIX=/usr/local DESTDIR=
#
# O selects the build directory, so several builds (plain, sanitized, fuzz)
# can live side by side: make O=build-asan SANITIZE=1 check

O        ?= build
PREFIX   ?= /usr/local
SBINDIR  ?= $(PREFIX)/sbin
BINDIR   ?= $(PREFIX)/bin
MANDIR   ?= $(PREFIX)/share/man
INCLUDEDIR ?= $(PREFIX)/include
SYSCONFDIR ?= /etc
# systemd's own answer where it is installed; else under PREFIX
# (/usr/lib/systemd/system for PREFIX=/usr, a local unit directory for
# /usr/local, which systemd reads as well).
UNITDIR  ?= $(if $(filter /usr,$(PREFIX)),$(or $(shell $(PKG_CONFIG) --variable=systemdsystemunitdir systemd 2>/dev/null),/usr/lib/systemd/system),$(PREFIX)/lib/systemd/system)
BASHCOMPDIR ?= $(PREFIX)/share/bash-completion/completions
# sysusers.d, found the same way as UNITDIR
SYSUSERSDIR ?= $(if $(filter /usr,$(PREFIX)),$(or $(shell $(PKG_CONFIG) --variable=sysusersdir systemd 2>/dev/null),/usr/lib/sysusers.d),$(PREFIX)/lib/sysusers.d)
DESTDIR  ?=

CC       ?= cc
PKG_CONFIG ?= pkg-config
WARN     := -Wall -Wextra -Wshadow -Wmissing-prototypes -Wformat=2 \
            -Wwrite-strings -Wstrict-prototypes -Wno-unused-parameter
CFLAGS   ?= -O2 -g
CFLAGS   += -std=c11 -D_GNU_SOURCE $(WARN) -Werror -I. -Iinclude -Ilib -pthread
LDFLAGS  ?=
LDFLAGS  += -pthread

# Fuzzing builds instrument every library for coverage, not only the harness.
ifeq ($(EXTRA_FUZZ),1)
CFLAGS   += -fsanitize=fuzzer-no-link
endif

ifeq ($(SANITIZE),1)
CFLAGS   += -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
endif

# External libraries, found through pkg-config (installed by scripts/bootstrap).
LINUX_PKGS := libmnl libnetfilter_queue nettle
DAEMON_PKGS := jansson libseccomp libcap-ng libsystemd sqlite3
PKG_CFLAGS = $(shell $(PKG_CONFIG) --cflags $(1) 2>/dev/null)
PKG_LIBS   = $(shell $(PKG_CONFIG) --libs $(1) 2>/dev/null)

BASE_SRC   := $(sort $(wildcard lib/base/*.c))
ENGINE_SRC := $(sort $(wildcard lib/engine/*.c))
NET_SRC    := $(sort $(wildcard lib/net/*.c))
LINUX_SRC  := $(sort $(wildcard lib/linux/*.c))
CTL_SRC    := $(sort $(wildcard lib/ctl/*.c))
RULE_SRC   := $(sort $(wildcard lib/rule/*.c))
DAEMON_SRC := $(sort $(wildcard daemon/*.c))
CLI_SRC    := $(sort $(wildcard cli/*.c))

BASE_LIB   := $(O)/libagbase.a
ENGINE_LIB := $(O)/libagengine.a
NET_LIB    := $(O)/libagnet.a
LINUX_LIB  := $(O)/libaglinux.a
CTL_LIB    := $(O)/libagctl.a
RULE_LIB   := $(O)/libagrule.a

obj = $(patsubst %.c,$(O)/%.o,$(1))

ALL_LIBS_LDLIBS = $(call PKG_LIBS,$(LINUX_PKGS) $(DAEMON_PKGS)) -lbpf -lelf -lz

.PHONY: all clean check check-unit check-netns check-tsan bench fuzz install uninstall FORCE
all: $(O)/alegated $(O)/alegatectl

$(O)/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(EXTRA_CFLAGS) -MMD -MP -c -o $@ $<

$(O)/lib/linux/%.o: EXTRA_CFLAGS = $(call PKG_CFLAGS,$(LINUX_PKGS))
$(O)/daemon/%.o $(O)/cli/%.o $(O)/lib/ctl/%.o $(O)/lib/rule/%.o: EXTRA_CFLAGS = $(call PKG_CFLAGS,$(DAEMON_PKGS) $(LINUX_PKGS))

$(BASE_LIB):   $(call obj,$(BASE_SRC))
$(ENGINE_LIB): $(call obj,$(ENGINE_SRC))
$(NET_LIB):    $(call obj,$(NET_SRC))
$(LINUX_LIB):  $(call obj,$(LINUX_SRC))
$(CTL_LIB):    $(call obj,$(CTL_SRC))
$(RULE_LIB):   $(call obj,$(RULE_SRC))
$(O)/%.a:
	@mkdir -p $(dir $@)
	rm -f $@ && ar rcs $@ $^

# Callout modules (dlopen) call the engine's functions in alegated: export
# them all, the ones alegated itself does not use (wfp.h) too.
$(O)/alegated: $(call obj,$(DAEMON_SRC)) $(RULE_LIB) $(CTL_LIB) $(LINUX_LIB) $(NET_LIB) $(ENGINE_LIB) $(BASE_LIB)
	$(CC) $(LDFLAGS) -rdynamic -o $@ $(filter-out $(ENGINE_LIB) $(BASE_LIB),$^) \
	    -Wl,--whole-archive $(ENGINE_LIB) -Wl,--no-whole-archive $(BASE_LIB) $(ALL_LIBS_LDLIBS) -ldl

# Example callout modules: shared objects alegated loads (callout_modules).
# They link nothing of alegate: the engine's functions come from alegated.
EXAMPLE_SRC := $(sort $(wildcard examples/*.c))
EXAMPLE_SO  := $(patsubst examples/%.c,$(O)/examples/%.so,$(EXAMPLE_SRC))
all: $(EXAMPLE_SO)
$(O)/examples/%.so: examples/%.c include/alegate/wfp.h include/alegate/engine.h include/alegate/addr.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fPIC -shared $(LDFLAGS) -o $@ $<

$(O)/alegatectl: $(call obj,$(CLI_SRC)) $(RULE_LIB) $(CTL_LIB) $(BASE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(call PKG_LIBS,jansson)

# ---- eBPF fast path (lib/linux/bpf, lib/linux/fastpath*.c; docs/FASTPATH.md)
# The BPF object is built with clang -target bpf against a vmlinux.h dumped
# from this machine's kernel BTF (CO-RE: libbpf adapts it to the running
# kernel at load) and embedded in lib/linux/fastpath.o as a libbpf skeleton.
# Without BTF, bpftool or clang at build time, fastpath.o is built with
# AG_FP_NO_BPF: ag_fp_open() then says so and the daemon runs on NFQUEUE.
BPF_CLANG   ?= clang
BPFTOOL     ?= bpftool
VMLINUX_BTF ?= /sys/kernel/btf/vmlinux
FP_BPF_DIR  := $(O)/lib/linux/bpf
FP_ARCH     := $(shell uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
FP_HAVE_BPF := $(if $(wildcard $(VMLINUX_BTF)),$(shell command -v $(BPFTOOL) >/dev/null 2>&1 && \
		command -v $(BPF_CLANG) >/dev/null 2>&1 && echo 1))
ifeq ($(FP_HAVE_BPF),1)
$(FP_BPF_DIR)/vmlinux.h:
	@mkdir -p $(dir $@)
	$(BPFTOOL) btf dump file $(VMLINUX_BTF) format c > $@.tmp && mv $@.tmp $@
$(FP_BPF_DIR)/fastpath.bpf.o: lib/linux/bpf/fastpath.bpf.c lib/linux/bpf/fp_shared.h $(FP_BPF_DIR)/vmlinux.h
	$(BPF_CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(FP_ARCH) -Wall -Werror \
	    -I$(FP_BPF_DIR) -Ilib -c -o $@ $<
$(FP_BPF_DIR)/fastpath.skel.h: $(FP_BPF_DIR)/fastpath.bpf.o
	$(BPFTOOL) gen skeleton $< name fastpath_bpf > $@.tmp && mv $@.tmp $@
$(O)/lib/linux/fastpath.o: $(FP_BPF_DIR)/fastpath.skel.h
$(O)/lib/linux/fastpath.o: EXTRA_CFLAGS = $(call PKG_CFLAGS,$(LINUX_PKGS)) -I$(FP_BPF_DIR)
# The exec monitor (lib/linux/execmon.c): the same way, its own object.
$(FP_BPF_DIR)/exec.bpf.o: lib/linux/bpf/exec.bpf.c lib/linux/bpf/exec_shared.h $(FP_BPF_DIR)/vmlinux.h
	$(BPF_CLANG) -g -O2 -target bpf -D__TARGET_ARCH_$(FP_ARCH) -Wall -Werror \
	    -I$(FP_BPF_DIR) -Ilib -c -o $@ $<
$(FP_BPF_DIR)/exec.skel.h: $(FP_BPF_DIR)/exec.bpf.o
	$(BPFTOOL) gen skeleton $< name exec_bpf > $@.tmp && mv $@.tmp $@
$(O)/lib/linux/execmon.o: $(FP_BPF_DIR)/exec.skel.h
$(O)/lib/linux/execmon.o: EXTRA_CFLAGS = -I$(FP_BPF_DIR)
else
$(O)/lib/linux/fastpath.o: EXTRA_CFLAGS = $(call PKG_CFLAGS,$(LINUX_PKGS)) -DAG_FP_NO_BPF
$(O)/lib/linux/execmon.o: EXTRA_CFLAGS = -DAG_EM_NO_BPF
endif
# ---- end eBPF

# ---- alegate-notify (notify/; man/alegate-notify.1; contrib/alegate-notify.*) ----
# A per-user client of the control socket that shows waiting flows as desktop
# notifications over D-Bus (sd-bus from libsystemd).  Installed with an XDG
# autostart file and a systemd --user unit.
NOTIFY_PKGS := jansson libsystemd
NOTIFY_SRC  := $(sort $(wildcard notify/*.c))
USERUNITDIR ?= /usr/lib/systemd/user
XDGAUTOSTARTDIR ?= $(SYSCONFDIR)/xdg/autostart
APPLICATIONSDIR ?= $(PREFIX)/share/applications
.PHONY: install-notify uninstall-notify
all: $(O)/alegate-notify
$(O)/notify/%.o: EXTRA_CFLAGS = $(call PKG_CFLAGS,$(NOTIFY_PKGS))
$(O)/alegate-notify: $(call obj,$(NOTIFY_SRC)) $(CTL_LIB) $(BASE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(call PKG_LIBS,$(NOTIFY_PKGS))
# the fake notification server of tests/netns/test_notify.sh
$(O)/tests/tools/ag_notifyd: tests/netns/tools/ag_notifyd.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call PKG_CFLAGS,$(NOTIFY_PKGS)) $(LDFLAGS) -o $@ $< $(call PKG_LIBS,$(NOTIFY_PKGS))
$(O)/tests/unit/test_notify_text: tests/unit/test_notify_text.c tests/unit/check.h notify/text.c notify/notify.h
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call PKG_CFLAGS,jansson) -Itests/unit $(LDFLAGS) -o $@ $< notify/text.c \
	    $(call PKG_LIBS,jansson)
install: install-notify
install-notify: $(O)/alegate-notify
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(USERUNITDIR) \
	    $(DESTDIR)$(XDGAUTOSTARTDIR) $(DESTDIR)$(APPLICATIONSDIR)
	install -m 0755 $(O)/alegate-notify $(DESTDIR)$(BINDIR)/alegate-notify
	install -m 0644 man/alegate-notify.1 $(DESTDIR)$(MANDIR)/man1/
	sed 's|@BINDIR@|$(BINDIR)|g' contrib/alegate-notify.service.in > $(DESTDIR)$(USERUNITDIR)/alegate-notify.service
	sed 's|@BINDIR@|$(BINDIR)|g' contrib/alegate-notify.desktop.in > $(DESTDIR)$(XDGAUTOSTARTDIR)/alegate-notify.desktop
	sed 's|@BINDIR@|$(BINDIR)|g' contrib/alegate-notify.desktop.in > $(DESTDIR)$(APPLICATIONSDIR)/alegate-notify.desktop
uninstall: uninstall-notify
uninstall-notify:
	rm -f $(DESTDIR)$(BINDIR)/alegate-notify $(DESTDIR)$(MANDIR)/man1/alegate-notify.1
	rm -f $(DESTDIR)$(USERUNITDIR)/alegate-notify.service
	rm -f $(DESTDIR)$(XDGAUTOSTARTDIR)/alegate-notify.desktop $(DESTDIR)$(APPLICATIONSDIR)/alegate-notify.desktop
# ---- end alegate-notify

# ---- alegate-web (web/; docs/WEB.md) ------------------------------------------
# An unprivileged HTTP front end of the control socket on libmicrohttpd.  The
# page (web/assets/*) is compiled in: web/embed.sh turns the files into
# $(O)/web/assets.c, rebuilt whenever one of them changes.
WEB_PKGS   := libmicrohttpd jansson
WEB_SRC    := $(sort $(wildcard web/*.c))
WEB_ASSETS := $(sort $(wildcard web/assets/*))
all: $(O)/alegate-web
$(O)/web/assets.c: web/embed.sh $(WEB_ASSETS)
	@mkdir -p $(dir $@)
	sh web/embed.sh $@ $(WEB_ASSETS)
$(O)/web/%.o: EXTRA_CFLAGS = $(call PKG_CFLAGS,$(WEB_PKGS))
$(O)/web/assets.o: $(O)/web/assets.c
	$(CC) $(CFLAGS) -c -o $@ $<
$(O)/alegate-web: $(call obj,$(WEB_SRC)) $(O)/web/assets.o $(CTL_LIB) $(BASE_LIB)
	$(CC) $(LDFLAGS) -o $@ $^ $(call PKG_LIBS,$(WEB_PKGS))
WEB_USER_GROUP ?= alegate
install-web: $(O)/alegate-web
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(UNITDIR)
	install -m 0755 $(O)/alegate-web $(DESTDIR)$(BINDIR)/alegate-web
	install -m 0644 man/alegate-web.8 $(DESTDIR)$(MANDIR)/man8/
	sed -e 's|@BINDIR@|$(BINDIR)|g' -e 's|@CONTROL_GROUP@|$(WEB_USER_GROUP)|g' \
	    contrib/alegate-web.service.in > $(DESTDIR)$(UNITDIR)/alegate-web.service
uninstall-web:
	rm -f $(DESTDIR)$(BINDIR)/alegate-web $(DESTDIR)$(MANDIR)/man8/alegate-web.8
	rm -f $(DESTDIR)$(UNITDIR)/alegate-web.service
install: install-web
uninstall: uninstall-web
.PHONY: install-web uninstall-web
# ---- end alegate-web

# ---- tests -------------------------------------------------------------
# Every tests/unit/test_*.c is one binary, linked against all libraries.
UNIT_SRC  := $(sort $(wildcard tests/unit/test_*.c))
UNIT_BIN  := $(patsubst tests/unit/%.c,$(O)/tests/unit/%,$(UNIT_SRC))
# Helper programs that netns tests run (clients, servers, probes).
TOOL_SRC  := $(sort $(wildcard tests/netns/tools/*.c))
TOOL_BIN  := $(patsubst tests/netns/tools/%.c,$(O)/tests/tools/%,$(TOOL_SRC))
# Tests and fuzzers link the libraries.  Only those whose subject is the
# daemon itself (its control socket, its fast-path policy, its resolvers)
# link its objects as well, main.c aside.
DAEMON_OBJ := $(call obj,$(filter-out daemon/main.c,$(DAEMON_SRC)))
DAEMON_TESTS := test_control test_fastpath test_resolvers test_history fuzz_control
$(patsubst %,$(O)/tests/unit/%,$(DAEMON_TESTS)) $(patsubst %,$(O)/fuzz/%,$(DAEMON_TESTS)): \
	EXTRA_OBJ = $(DAEMON_OBJ)
$(patsubst %,$(O)/tests/unit/%,$(DAEMON_TESTS)) $(patsubst %,$(O)/fuzz/%,$(DAEMON_TESTS)): \
	$(DAEMON_OBJ)

# alegatectl's OpenSnitch converter, tested without a daemon.
$(O)/tests/unit/test_opensnitch: EXTRA_OBJ = $(O)/cli/opensnitch.o
$(O)/tests/unit/test_opensnitch: $(O)/cli/opensnitch.o

# Engine tests need the engine only: they build even while other modules are mid-change.
ENGINE_UNIT_BIN := $(filter $(O)/tests/unit/test_engine%,$(UNIT_BIN))
$(ENGINE_UNIT_BIN): $(O)/tests/unit/%: tests/unit/%.c tests/unit/check.h tests/unit/engine_fixture.h $(ENGINE_LIB) $(BASE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/unit $(LDFLAGS) -o $@ $< $(ENGINE_LIB) $(BASE_LIB)

$(O)/tests/unit/%: tests/unit/%.c tests/unit/check.h tests/unit/errlines.h $(RULE_LIB) $(CTL_LIB) $(LINUX_LIB) $(NET_LIB) $(ENGINE_LIB) $(BASE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call PKG_CFLAGS,$(LINUX_PKGS) $(DAEMON_PKGS)) -Itests/unit $(LDFLAGS) -o $@ $< \
	    $(EXTRA_OBJ) $(RULE_LIB) $(CTL_LIB) $(LINUX_LIB) $(NET_LIB) $(ENGINE_LIB) $(BASE_LIB) $(ALL_LIBS_LDLIBS) -lm

# a FUSE file whose flush waits (libfuse3): a test tool only
$(O)/tests/tools/ag_fuse_stall: tests/netns/tools/ag_fuse_stall.c
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call PKG_CFLAGS,fuse3) $(LDFLAGS) -o $@ $< $(shell $(PKG_CONFIG) --libs fuse3)

$(O)/tests/tools/%: tests/netns/tools/%.c $(CTL_LIB) $(LINUX_LIB) $(NET_LIB) $(ENGINE_LIB) $(BASE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call PKG_CFLAGS,$(LINUX_PKGS)) $(LDFLAGS) -o $@ $< \
	    $(CTL_LIB) $(LINUX_LIB) $(NET_LIB) $(ENGINE_LIB) $(BASE_LIB) $(ALL_LIBS_LDLIBS)

tests: $(UNIT_BIN) $(TOOL_BIN) all

# Completion from any thread under ThreadSanitizer (clang): the engine and the
# tests that complete from a worker while the owner classifies.
TSAN_CC    ?= clang
TSAN_O     ?= build-tsan
TSAN_TESTS := test_engine_threads test_engine_wfp_names
check-tsan:
	@mkdir -p $(TSAN_O)
	@for t in $(TSAN_TESTS); do \
		$(TSAN_CC) -O1 -g -std=c11 -D_GNU_SOURCE -fsanitize=thread -I. -Iinclude -Ilib \
			-Itests/unit -pthread -o $(TSAN_O)/$$t tests/unit/$$t.c $(ENGINE_SRC) $(BASE_SRC) || exit 1; \
	done
	@rc=0; for t in $(TSAN_TESTS); do \
		TSAN_OPTIONS="halt_on_error=1 exitcode=66" ./$(TSAN_O)/$$t || rc=1; \
	done > $(TSAN_O)/out 2>&1; grep -v ' passed, ' $(TSAN_O)/out; \
	awk '/^[0-9]+ passed, [0-9]+ failed/ { p += $$1; f += $$3 } \
	     END { printf "%d passed, %d failed\n", p, f }' $(TSAN_O)/out; exit $$rc

check-unit: $(UNIT_BIN)
	tests/run --build $(O) --unit

check-netns: tests
	tests/run --build $(O) --netns

check: tests
	tests/run --build $(O)

# ---- benchmarks ----------------------------------------------------------
BENCH_SRC := $(sort $(wildcard bench/*.c))
BENCH_BIN := $(patsubst bench/%.c,$(O)/bench/%,$(BENCH_SRC))
$(O)/bench/engine_bench: bench/engine_bench.c $(ENGINE_LIB) $(BASE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(ENGINE_LIB) $(BASE_LIB)
$(O)/bench/complete_bench: bench/complete_bench.c $(ENGINE_LIB) $(BASE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(ENGINE_LIB) $(BASE_LIB)
# history_bench drives the daemon's history module itself.
$(O)/bench/history_bench: EXTRA_OBJ = $(DAEMON_OBJ)
$(O)/bench/history_bench: $(DAEMON_OBJ)
$(O)/bench/%: bench/%.c $(RULE_LIB) $(CTL_LIB) $(LINUX_LIB) $(NET_LIB) $(ENGINE_LIB) $(BASE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(call PKG_CFLAGS,$(LINUX_PKGS) $(DAEMON_PKGS)) $(LDFLAGS) -o $@ $< \
	    $(EXTRA_OBJ) $(RULE_LIB) $(CTL_LIB) $(LINUX_LIB) $(NET_LIB) $(ENGINE_LIB) $(BASE_LIB) $(ALL_LIBS_LDLIBS) -lm
bench: all $(BENCH_BIN) $(TOOL_BIN)

# ---- fuzzing (clang + libFuzzer) -------------------------------------------
FUZZ_SRC := $(sort $(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 60
fuzz:
	$(MAKE) O=build-fuzz CC=clang SANITIZE=1 EXTRA_FUZZ=1 fuzz-bins
	tests/fuzz/run build-fuzz $(FUZZ_SECONDS)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,$(O)/fuzz/%,$(FUZZ_SRC))
fuzz-bins: $(FUZZ_BIN)
$(O)/fuzz/%: tests/fuzz/%.c tests/fuzz/errlines.h $(RULE_LIB) $(CTL_LIB) $(LINUX_LIB) $(NET_LIB) $(ENGINE_LIB) $(BASE_LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -fsanitize=fuzzer $(call PKG_CFLAGS,$(LINUX_PKGS) $(DAEMON_PKGS)) $(LDFLAGS) -fsanitize=fuzzer -o $@ $< \
	    $(EXTRA_OBJ) $(RULE_LIB) $(CTL_LIB) $(LINUX_LIB) $(NET_LIB) $(ENGINE_LIB) $(BASE_LIB) $(ALL_LIBS_LDLIBS)

# ---- install -----------------------------------------------------------------
install: all
	install -d $(DESTDIR)$(SBINDIR) $(DESTDIR)$(BINDIR)
	install -m 0755 $(O)/alegated $(DESTDIR)$(SBINDIR)/alegated
	install -m 0755 $(O)/alegatectl $(DESTDIR)$(BINDIR)/alegatectl
	install -d $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(MANDIR)/man8
	install -m 0644 man/alegate.conf.5 $(DESTDIR)$(MANDIR)/man5/
	install -m 0644 man/alegated.8 man/alegatectl.8 $(DESTDIR)$(MANDIR)/man8/
	# the headers a callout module is written against
	install -d $(DESTDIR)$(INCLUDEDIR)/alegate
	install -m 0644 include/alegate/engine.h include/alegate/callouts.h \
	    include/alegate/wfp.h include/alegate/addr.h $(DESTDIR)$(INCLUDEDIR)/alegate/
	# Configuration and default rules only on a first install: never
	# overwrite what the administrator changed, never bring back a rule
	# they deleted.
	install -d $(DESTDIR)$(SYSCONFDIR)/alegate
	[ -e $(DESTDIR)$(SYSCONFDIR)/alegate/alegate.conf ] || \
	    install -m 0644 etc/alegate.conf $(DESTDIR)$(SYSCONFDIR)/alegate/alegate.conf
	[ -d $(DESTDIR)$(SYSCONFDIR)/alegate/rules.d ] || { \
	    install -d $(DESTDIR)$(SYSCONFDIR)/alegate/rules.d && \
	    install -m 0644 etc/rules.d/*.json $(DESTDIR)$(SYSCONFDIR)/alegate/rules.d/; }
	install -d $(DESTDIR)$(UNITDIR)
	sed 's|@SBINDIR@|$(SBINDIR)|g' contrib/alegated.service.in > $(DESTDIR)$(UNITDIR)/alegated.service
	install -d $(DESTDIR)$(BASHCOMPDIR)
	install -m 0644 contrib/alegatectl.bash-completion $(DESTDIR)$(BASHCOMPDIR)/alegatectl
	# the control group (alegate-web.service joins it): a sysusers.d file,
	# applied at once on this machine; a staged install (DESTDIR) leaves
	# that to its package's postinst
	install -d $(DESTDIR)$(SYSUSERSDIR)
	sed 's|@CONTROL_GROUP@|$(WEB_USER_GROUP)|g' contrib/alegate.sysusers.in > $(DESTDIR)$(SYSUSERSDIR)/alegate.conf
	[ -n "$(DESTDIR)" ] || ! command -v systemd-sysusers >/dev/null || \
	    systemd-sysusers $(SYSUSERSDIR)/alegate.conf

uninstall:
	rm -f $(DESTDIR)$(SBINDIR)/alegated $(DESTDIR)$(BINDIR)/alegatectl
	rm -f $(DESTDIR)$(MANDIR)/man5/alegate.conf.5 $(DESTDIR)$(MANDIR)/man8/alegated.8 $(DESTDIR)$(MANDIR)/man8/alegatectl.8
	rm -f $(DESTDIR)$(UNITDIR)/alegated.service $(DESTDIR)$(BASHCOMPDIR)/alegatectl
	rm -f $(DESTDIR)$(SYSUSERSDIR)/alegate.conf
	rm -f $(DESTDIR)$(INCLUDEDIR)/alegate/engine.h $(DESTDIR)$(INCLUDEDIR)/alegate/callouts.h \
	    $(DESTDIR)$(INCLUDEDIR)/alegate/wfp.h $(DESTDIR)$(INCLUDEDIR)/alegate/addr.h
	-rmdir $(DESTDIR)$(INCLUDEDIR)/alegate 2>/dev/null

clean:
	rm -rf $(O) build-fuzz build-asan

-include $(shell find $(O) -name '*.d' 2>/dev/null)
