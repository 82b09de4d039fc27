# Ember build: `make` -> build/ember, build/libember.a, build/libember.so.
#   make test | test-asan | demo | bench | install PREFIX=... | clean
#   make ARCH=aarch64 | ARCH=armv7      cross-compile (Debian cross gcc); `make test ARCH=...` runs under qemu-user
#   make CC=clang BUILD=build/clang     another compiler into its own folder;  V=1 shows commands
ARCH ?= native
PREFIX ?= /usr/local

ifeq ($(ARCH),native)
  BUILD ?= build
  HOST := $(shell uname -m)
else ifeq ($(ARCH),aarch64)
  CC := aarch64-linux-gnu-gcc
  BUILD ?= build/aarch64
  RUNNER ?= qemu-aarch64
  HOST := aarch64
  STATIC := -static
  SYSROOT ?= .cache/sysroot/aarch64
  TRIPLET := aarch64-linux-gnu
else ifeq ($(ARCH),armv7)
  CC := arm-linux-gnueabihf-gcc
  BUILD ?= build/armv7
  RUNNER ?= qemu-arm
  HOST := armv7l
  STATIC := -static
  SYSROOT ?= .cache/sysroot/armv7
  TRIPLET := arm-linux-gnueabihf
  ARCH_CFLAGS := -march=armv7-a -mfpu=vfpv3-d16 -mfloat-abi=hard
else
  $(error ARCH must be native, aarch64 or armv7)
endif

ifneq ($(filter x86_64 amd64,$(HOST)),)
  ISA := x86
else ifneq ($(filter aarch64 arm64 armv7l armv7 armhf,$(HOST)),)
  ISA := arm
else
  ISA := generic
endif

# Cross builds take the target's headers and static libraries from a folder `scripts/setup --cross` unpacks
# (before the host's /usr/include, which Debian's cross compilers also search).
ifdef SYSROOT
  ARCH_CFLAGS += -isystem $(SYSROOT)/usr/include -isystem $(SYSROOT)/usr/include/$(TRIPLET)
  SYSROOT_LIBS := -L$(SYSROOT)/lib
endif
WARN := -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wno-unused-parameter
CFLAGS ?= -O2 -g
EMBER_CFLAGS := -std=c11 -D_GNU_SOURCE -D_FILE_OFFSET_BITS=64 -fPIC -fvisibility=hidden $(WARN) -Iinclude -Isrc $(ARCH_CFLAGS)
LDLIBS := $(SYSROOT_LIBS) -lz -lutf8proc -lm -lpthread
# `ember chat` line editing with the system's libedit (Debian libedit-dev), native builds only; optional.
ifeq ($(ARCH),native)
  HAVE_LIBEDIT := $(shell test -f /usr/include/editline/readline.h && echo 1)
endif
ifeq ($(HAVE_LIBEDIT),1)
  $(BUILD)/obj/src/cli/cmd_chat.o: DEFS := -DEMBER_HAVE_LIBEDIT
  CLI_LDLIBS := -ledit
endif

# Library sources: every .c of these modules; per-ISA kernels only for their architecture.
MODULES := core io kernels ops graph text llm
LIB_SRC := $(foreach m,$(MODULES),$(wildcard src/$(m)/*.c)) $(wildcard src/kernels/$(ISA)/*.c)
# Applications (face, llm apps) sit on the public API and may use system libraries the core must not.
APP_SRC := $(wildcard src/apps/*/*.c)
APP_LDLIBS := $(if $(APP_SRC),-lsqlite3 -lpng -ljpeg)
CLI_SRC := $(wildcard src/cli/*.c)
TEST_SRC := $(wildcard tests/test_*.c)

LIB_OBJ := $(LIB_SRC:%.c=$(BUILD)/obj/%.o)
APP_OBJ := $(APP_SRC:%.c=$(BUILD)/obj/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(BUILD)/obj/%.o)
TESTS := $(TEST_SRC:tests/%.c=$(BUILD)/tests/%)

# Kernel files named for an instruction set get that set's flags; CPU detection picks them at run time.
$(BUILD)/obj/%_avx2.o: ISA_FLAGS := -mavx2 -mfma -mf16c
$(BUILD)/obj/%_avx512.o: ISA_FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mfma -mf16c
$(BUILD)/obj/%_vnni.o: ISA_FLAGS := -mavx512f -mavx512bw -mavx512vl -mavx512dq -mavx512vnni -mfma -mf16c
ifeq ($(ARCH),armv7)
$(BUILD)/obj/%_neon.o: ISA_FLAGS := -mfpu=neon-vfpv4
else ifeq ($(ISA),arm)
$(BUILD)/obj/%_dotprod.o: ISA_FLAGS := -march=armv8.2-a+dotprod
$(BUILD)/obj/%_fp16.o: ISA_FLAGS := -march=armv8.2-a+fp16
endif

.PHONY: all test test-asan demo bench bench-gemm install clean fuzz fuzz-tokenizer fuzz-smoke
all: $(BUILD)/ember $(BUILD)/libember.a $(BUILD)/libember.so

Q := $(if $(V),,@)
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC  $<")
	$(Q)$(CC) $(EMBER_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS) $(ISA_FLAGS) $(DEFS) -MMD -MP -c $< -o $@

$(BUILD)/libember.a: $(LIB_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(BUILD)/libember.so: $(LIB_OBJ)
	$(Q)$(CC) -shared -Wl,-soname,libember.so.0 $(CFLAGS) $(EXTRA_CFLAGS) -o $@ $^ $(LDLIBS)

$(BUILD)/libember-apps.a: $(APP_OBJ)
	@mkdir -p $(@D)
	@rm -f $@
	$(Q)$(AR) rcs $@ $^

$(BUILD)/ember: $(CLI_OBJ) $(BUILD)/libember-apps.a $(BUILD)/libember.a
	@$(if $(V),,echo "  LD  $@")
	$(Q)$(CC) $(CFLAGS) $(EXTRA_CFLAGS) $(STATIC) -o $@ $(CLI_OBJ) $(BUILD)/libember-apps.a $(BUILD)/libember.a $(APP_LDLIBS) $(CLI_LDLIBS) $(LDLIBS)

$(BUILD)/tests/%: tests/%.c tests/check.h $(BUILD)/libember-apps.a $(BUILD)/libember.a
	@mkdir -p $(@D)
	@$(if $(V),,echo "  CC  $<")
	$(Q)$(CC) $(EMBER_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS) $(STATIC) -MMD -MP -o $@ $< $(BUILD)/libember-apps.a \
		$(BUILD)/libember.a $(APP_LDLIBS) $(LDLIBS)

test: all $(TESTS)
	@scripts/run-tests $(BUILD) $(RUNNER)

SAN := -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer
test-asan:
	EMBER_SANITIZE=1 $(MAKE) BUILD=build/asan CFLAGS="-O1 -g" EXTRA_CFLAGS="$(SAN)" test

demo:
	scripts/setup
	$(MAKE) all
	scripts/demo $(BUILD)

bench: all
	bench/run $(BUILD)

# Kernel micro-benchmarks (src/kernels): `make bench-gemm` runs build/bench/gemm (GFLOP/s and % of peak for
# 512/1024/2048 at 1 and 2 threads) and builds build/bench/convnet (the convolutions of MobileNetV2 and
# SqueezeNet 1.1).
bench-gemm: $(BUILD)/bench/gemm $(BUILD)/bench/convnet
	$(BUILD)/bench/gemm --sizes 512,1024,2048 --threads 1,2

# The face pipeline's timing program for bench/face.sh (links the face app and its system libraries).
$(BUILD)/bench/face: bench/face.c $(BUILD)/libember-apps.a $(BUILD)/libember.a
	@mkdir -p $(@D)
	$(Q)$(CC) $(EMBER_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS) $(STATIC) -o $@ $< $(BUILD)/libember-apps.a $(BUILD)/libember.a \
		$(APP_LDLIBS) $(LDLIBS)

$(BUILD)/bench/%: bench/%.c $(BUILD)/libember.a
	@mkdir -p $(@D)
	$(Q)$(CC) $(EMBER_CFLAGS) $(CFLAGS) $(EXTRA_CFLAGS) $(STATIC) -o $@ $< $(BUILD)/libember.a $(LDLIBS)

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib/pkgconfig $(DESTDIR)$(PREFIX)/include/ember
	install -m 755 $(BUILD)/ember $(DESTDIR)$(PREFIX)/bin/
	install -m 644 $(BUILD)/libember.a $(DESTDIR)$(PREFIX)/lib/
	install -m 755 $(BUILD)/libember.so $(DESTDIR)$(PREFIX)/lib/libember.so.0
	ln -sf libember.so.0 $(DESTDIR)$(PREFIX)/lib/libember.so
	install -m 644 include/ember/*.h $(DESTDIR)$(PREFIX)/include/ember/
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@VERSION@|$(shell scripts/version)|' ember.pc.in \
		> $(DESTDIR)$(PREFIX)/lib/pkgconfig/ember.pc

# libFuzzer targets (clang): every tests/fuzz/fuzz_NAME.c becomes build/fuzz/fuzz_NAME (run one with
# -max_total_time=60 CORPUS_DIR). `make fuzz-smoke` runs each briefly (FUZZ_SECONDS) on a seed corpus from
# ../shared; CI does that.
FUZZ_FLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer
FUZZERS := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(wildcard tests/fuzz/fuzz_*.c))
FUZZ_SECONDS ?= 20
fuzz:
	$(MAKE) CC=clang BUILD=build/fuzz CFLAGS="-O1 -g" EXTRA_CFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" \
		build/fuzz/libember.a $(FUZZERS)
build/fuzz/fuzz_%: tests/fuzz/fuzz_%.c build/fuzz/libember.a
	clang -std=c11 -D_GNU_SOURCE -Iinclude -Isrc -O1 -g $(FUZZ_FLAGS) -fsanitize=fuzzer $< build/fuzz/libember.a \
		$(LDLIBS) -o $@
fuzz-tokenizer: fuzz
fuzz-smoke: fuzz
	scripts/fuzz-smoke $(FUZZ_SECONDS) $(FUZZERS)

clean:
	rm -rf build

-include $(shell find $(BUILD)/obj $(BUILD)/tests -name '*.d' 2>/dev/null)
