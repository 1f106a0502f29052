# censorscope build. One Makefile, no generated configuration.
#
#   make                 release-ish build (-O2 -g) into build/release
#   make BUILD=asan      AddressSanitizer + UndefinedBehaviorSanitizer build into build/asan
#   make check           unit + loopback tests (cmocka) for the chosen BUILD
#   make fuzz            libFuzzer targets (clang) into build/fuzz
#   make fuzz-replay     run every fuzz target over its committed corpus (+ a short fuzz burst)
#   make bench           build the benchmark tools
#
# Sources are discovered by wildcard: a new src/<module>/*.c, tests/unit/test_*.c or
# fuzz/fuzz_*.c is picked up without editing this file.

BUILD   ?= release
CC      ?= cc
PKGS    := openssl zlib libidn2 libpcre2-8 sqlite3 cmocka
PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS))
PKG_LIBS   := $(shell pkg-config --libs openssl zlib libidn2 libpcre2-8 sqlite3)
CMOCKA_LIBS := $(shell pkg-config --libs cmocka)

WARN := -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
        -Wmissing-prototypes -Wvla -Wpointer-arith -Wnull-dereference \
        -Wimplicit-fallthrough -Wundef -Wwrite-strings
BASE_CFLAGS := -std=c17 -D_GNU_SOURCE -g $(WARN) -Isrc $(PKG_CFLAGS) -fstack-protector-strong

ifeq ($(BUILD),asan)
  OPT := -O1 -fno-omit-frame-pointer -fsanitize=address,undefined -fno-sanitize-recover=all
  LDSAN := -fsanitize=address,undefined
else
  OPT := -O2 -D_FORTIFY_SOURCE=2
  LDSAN :=
endif

CFLAGS  += $(BASE_CFLAGS) $(OPT)
LDFLAGS += $(LDSAN)
LDLIBS  := $(PKG_LIBS) -lpthread -lm

OUT     := build/$(BUILD)
LIB_SRC := $(wildcard src/util/*.c src/record/*.c src/engine/*.c src/analysis/*.c \
                      src/thproto/*.c src/nettests/*.c src/helper/*.c src/store/*.c src/report/*.c)
CLI_SRC := $(wildcard src/cli/*.c)
LIB_OBJ := $(LIB_SRC:%.c=$(OUT)/%.o)
CLI_OBJ := $(CLI_SRC:%.c=$(OUT)/%.o)
LIB     := $(OUT)/libcensorscope.a
BIN     := $(OUT)/censorscope

TEST_SRC := $(wildcard tests/unit/test_*.c)
TEST_BIN := $(TEST_SRC:tests/unit/%.c=$(OUT)/tests/%)
TEST_SUPPORT := $(wildcard tests/support/*.c)
TEST_SUPPORT_OBJ := $(TEST_SUPPORT:%.c=$(OUT)/%.o)

BENCH_SRC := $(wildcard bench/*.c)
BENCH_BIN := $(BENCH_SRC:bench/%.c=$(OUT)/bench/%)

.PHONY: all check clean fuzz fuzz-replay bench format lint
all: $(BIN)

$(OUT)/%.o: %.c
	@mkdir -p $(dir $@)
	@echo "  CC $<"
	@$(CC) $(CFLAGS) -MMD -MP -c $< -o $@

$(LIB): $(LIB_OBJ)
	@mkdir -p $(dir $@)
	rm -f $@
	ar rcs $@ $^

$(BIN): $(CLI_OBJ) $(LIB)
	$(CC) $(LDFLAGS) -o $@ $(CLI_OBJ) $(LIB) $(LDLIBS)
	@ln -sf $(BUILD)/censorscope build/censorscope

$(OUT)/tests/%: tests/unit/%.c $(LIB) $(TEST_SUPPORT_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests/support $(LDFLAGS) -o $@ $< $(TEST_SUPPORT_OBJ) $(LIB) $(CMOCKA_LIBS) $(LDLIBS)

$(OUT)/bench/%: bench/%.c $(LIB)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(LIB) $(LDLIBS)

bench: $(BIN) $(BENCH_BIN)

# Each unit test is its own process (libuv style); a hung test is killed by timeout.
check: $(BIN) $(TEST_BIN)
	@CS_BIN=$(abspath $(BIN)) scripts/run-unit-tests.sh $(TEST_BIN)

# ---- fuzzing (clang + libFuzzer) ---------------------------------------------------
FUZZ_CC  ?= clang
FUZZ_OUT := build/fuzz
FUZZ_SRC := $(wildcard fuzz/fuzz_*.c)
FUZZ_BIN := $(FUZZ_SRC:fuzz/%.c=$(FUZZ_OUT)/%)
FUZZ_COMMON := -std=c17 -D_GNU_SOURCE -g -O1 -Isrc $(PKG_CFLAGS) -Wall -Wextra -Werror \
               -fno-sanitize-recover=all
FUZZ_LIB_SRC := $(LIB_SRC)

$(FUZZ_OUT)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_COMMON) -fsanitize=fuzzer-no-link,address,undefined -c $< -o $@

$(FUZZ_OUT)/%: fuzz/%.c $(FUZZ_LIB_SRC:%.c=$(FUZZ_OUT)/obj/%.o)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(FUZZ_COMMON) -fsanitize=fuzzer,address,undefined -o $@ $< $(FUZZ_LIB_SRC:%.c=$(FUZZ_OUT)/obj/%.o) $(PKG_LIBS) -lpthread -lm

fuzz: $(FUZZ_BIN)

# Replays the committed corpus of every target, then fuzzes each for FUZZ_SECONDS.
FUZZ_SECONDS ?= 15
fuzz-replay: $(FUZZ_BIN)
	@scripts/fuzz-replay.sh $(FUZZ_SECONDS) $(FUZZ_BIN)

format:
	clang-format -i $(wildcard src/*/*.c src/*/*.h tests/*/*.c tests/*/*.h fuzz/*.c bench/*.c)

clean:
	rm -rf build

-include $(LIB_OBJ:.o=.d) $(CLI_OBJ:.o=.d)
