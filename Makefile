# Wraps the two README commands; the build itself is Meson + Ninja (build/).
#   make          build build/cove
#   make demo     fresh Debian 12 -> deps, cove, default guest, boot to a shell
#   make check    the whole test suite (what CI runs), after a release build, then
#                 check-sanitize. CHECK_DESKTOP=1 builds the desktop image when it is not
#                 cached (keyed by its inputs, as the debian image: 12-24 min on 2 cores)
#                 so that tests/integration/desktop.sh runs; 0 (the default) leaves that
#                 test to skip unless the image is there already
#   make check-sanitize   unit tests and the VMM's integration tests under ASan+UBSan
#                 (build-sanitize/), any report failing the test
#   make check-tsan   the threaded unit tests under TSan (build-tsan/); not in make check:
#                 it flags the hart's stores to guest RAM racing with a test's reads of it,
#                 which is the model (guest RAM is shared, unsynchronised, as on hardware)
#                 and which a suppression cannot catch reliably (the reader's stack is
#                 often lost)
#   make release  the optimised build in build-release/ (build only)
#   make -s guest-path   print the directory holding the default guest's Image and initrd
#   make install [PREFIX=/usr/local] [DESTDIR=...] [GUEST_DIR=...]
#                 cove, libcove, headers, cove.pc, man page, bash completion and the default
#                 guest (from GUEST_DIR, else $COVE_GUEST_DIR, else guest/build.sh)
#   make deb      Debian packages into build-deb/ (scripts/build-deb.sh)

BUILD ?= build
RELEASE_BUILD ?= build-release
SANITIZE_BUILD ?= build-sanitize
# The integration tests that drive the VMM's own code (not install.sh, fuzz.sh, nor the
# QEMU comparisons guest-qemu.sh, isa-qemu.sh). cli-bundles passes too but takes 130 s
# under ASan: left out to keep check-sanitize near 8 minutes on 2 cores.
SANITIZE_TESTS ?= boot-exec run-command run-signals agent net virtio-hostile disk-check nbd nvme \
	suspend balloon
TSAN_BUILD ?= build-tsan
# The threaded parts: SMP harts, the I/O thread and the devices served on it.
TSAN_TESTS ?= hv/test_hv_async hv/test_hv_cpu devices/test_iothread devices/test_virtio_vsock \
	devices/test_virtio_blk devices/test_virtio_net devices/test_virtio_console devices/test_nvme
PREFIX ?= /usr/local
GUEST_DIR ?=
CHECK_DESKTOP ?= 0

.PHONY: all deps demo check check-sanitize check-tsan release guest guest-path bench clean install deb

all: $(BUILD)/build.ninja
	ninja -C $(BUILD)

$(BUILD)/build.ninja:
	meson setup $(BUILD)

deps:
	./scripts/install-deps.sh

demo: deps
	$(MAKE) all
	@G=$$(guest/build.sh) && exec $(BUILD)/cove run --cpus 2 --memory 512M \
		--kernel "$$G/Image" --initrd "$$G/initrd"

# gcc at -O3 sees warnings (-Werror) that the debug build does not: CI builds both, and
# runs the tests once, on the debug build.
release: $(RELEASE_BUILD)/build.ninja
	ninja -C $(RELEASE_BUILD)

$(RELEASE_BUILD)/build.ninja:
	meson setup $(RELEASE_BUILD) -Dbuildtype=release

check: deps
	$(MAKE) all
	$(MAKE) release
	COVE_TEST_DESKTOP_BUILD=$(CHECK_DESKTOP) tests/run.sh
	$(MAKE) check-sanitize

# A report of either sanitizer aborts the process, so the test fails; leaks too (LSan),
# but for third-party libraries' own in tests/sanitize/lsan.supp.
check-sanitize: $(SANITIZE_BUILD)/build.ninja
	ninja -C $(SANITIZE_BUILD)
	BUILD=$(SANITIZE_BUILD) \
	ASAN_OPTIONS=detect_leaks=1:halt_on_error=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
	LSAN_OPTIONS=suppressions=$(CURDIR)/tests/sanitize/lsan.supp:print_suppressions=0 \
	tests/run.sh tests/unit/ $(patsubst %,integration/%.sh,$(SANITIZE_TESTS))

check-tsan: $(TSAN_BUILD)/build.ninja
	BUILD=$(TSAN_BUILD) \
	TSAN_OPTIONS=halt_on_error=1:suppressions=$(CURDIR)/tests/sanitize/tsan.supp \
	tests/run.sh $(patsubst %,tests/unit/%,$(TSAN_TESTS))

# gcc's TSan does not model standalone fences (hv/soft orders its SMP handshakes with
# them) and warns; the handshakes also take locks, which it does model.
$(TSAN_BUILD)/build.ninja:
	meson setup $(TSAN_BUILD) -Db_sanitize=thread -Db_lundef=false -Dc_args=-Wno-tsan

$(SANITIZE_BUILD)/build.ninja:
	meson setup $(SANITIZE_BUILD) -Db_sanitize=address,undefined -Db_lundef=false

guest:
	@guest/build.sh >/dev/null

guest-path:
	@guest/build.sh

# The prefix is the build directory's (meson configure); meson install rebuilds what changed.
install: $(BUILD)/build.ninja
	meson configure $(BUILD) -Dprefix=$(PREFIX) -Dguest_dir=$(GUEST_DIR)
	DESTDIR="$(DESTDIR)" meson install -C $(BUILD)

deb:
	scripts/build-deb.sh

bench: all
	bench/bench.sh

clean:
	rm -rf $(BUILD) $(RELEASE_BUILD) $(SANITIZE_BUILD) $(TSAN_BUILD)
