# Wraps the two README commands; the build itself is Meson + Ninja (build/).
#   make          build build/cove
#   make demo     fresh Debian 12 -> deps, cove, default guest, boot to a shell
#   make check    the whole test suite (what CI runs), after a release build
#   make release  the optimised build in build-release/ (build only)
#   make -s guest-path   print the directory holding the default guest's Image and initrd
#   make install [PREFIX=/usr/local] [DESTDIR=...] [GUEST_DIR=...]
#                 cove, libcove, headers, cove.pc, man page, bash completion and the default
#                 guest (from GUEST_DIR, else $COVE_GUEST_DIR, else guest/build.sh)
#   make deb      Debian packages into build-deb/ (scripts/build-deb.sh)

BUILD ?= build
RELEASE_BUILD ?= build-release
PREFIX ?= /usr/local
GUEST_DIR ?=

.PHONY: all deps demo check release guest guest-path bench clean install deb

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
	tests/run.sh

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
	rm -rf $(BUILD) $(RELEASE_BUILD)
