# Wraps the two README commands; the build itself is Meson + Ninja (build/).
#   make          build build/cove
#   make demo     fresh Debian 12 -> deps, cove, default guest, boot to a shell
#   make check    the whole test suite (what CI runs)
#   make -s guest-path   print the directory holding the default guest's Image and initrd

BUILD ?= build

.PHONY: all deps demo check guest guest-path bench clean

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

check: deps
	$(MAKE) all
	tests/run.sh

guest:
	@guest/build.sh >/dev/null

guest-path:
	@guest/build.sh

bench: all
	bench/bench.sh

clean:
	rm -rf $(BUILD)
