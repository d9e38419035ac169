# cnote - one non-recursive Makefile.
#   make            build everything (objects in build/, or build/asan with SAN=1)
#   make test       install what the tests need (scripts/setup.sh), then run every test
#   make run        set up, build, install the kernelspec and start cnote-server with the web app
#   make fmt / fmt-check
# Quiet unless V=1. Flags from pkg-config. No configure step.

SAN ?= 0
ifeq ($(SAN),1)
BUILD ?= build/asan
SANFLAGS := -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
else
BUILD ?= build
SANFLAGS :=
endif

CC ?= cc
PKGS := libzmq jansson libcrypto
SERVER_PKGS := $(PKGS) libwebsockets libuv sqlite3 libcurl yaml-0.1 libsodium
PKG_CFLAGS := $(shell pkg-config --cflags $(SERVER_PKGS) 2>/dev/null)
PKG_LIBS := $(shell pkg-config --libs $(PKGS) 2>/dev/null)
SERVER_LIBS := $(shell pkg-config --libs $(SERVER_PKGS) 2>/dev/null)

OPT ?= -O2 -g
# snprintf truncation is handled where it matters (paths are checked), so gcc's guesses are off
WARN := -Wall -Wextra -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wformat=2 -Werror \
	$(if $(findstring clang,$(CC)),,-Wno-format-truncation)
CFLAGS_ALL := -std=c11 -D_GNU_SOURCE $(OPT) $(WARN) $(SANFLAGS) -MMD -MP -Iproto -Ikernel/engine \
	-Ikernel/exec -Iserver $(PKG_CFLAGS) $(CFLAGS)
LDFLAGS_ALL := $(SANFLAGS) $(LDFLAGS)

ifeq ($(V),1)
Q :=
else
Q := @
endif

PROTO_SRC := $(wildcard proto/*.c)
PROTO_OBJ := $(PROTO_SRC:%.c=$(BUILD)/%.o)
PROTO_LIB := $(BUILD)/lib/libjp.a

ENGINE_SRC := $(wildcard kernel/engine/*.c)
ENGINE_OBJ := $(ENGINE_SRC:%.c=$(BUILD)/%.o)
KERNEL_SRC := $(wildcard kernel/*.c)
KERNEL_OBJ := $(KERNEL_SRC:%.c=$(BUILD)/%.o)
EXEC_SRC := $(wildcard kernel/exec/*.c)
EXEC_OBJ := $(EXEC_SRC:%.c=$(BUILD)/%.o)

SERVER_SRC := $(wildcard server/*.c)
SERVER_LIB_OBJ := $(patsubst %.c,$(BUILD)/%.o,$(filter-out server/main.c,$(SERVER_SRC)))
SERVER_BIN := $(BUILD)/bin/cnote-server

KERNEL_BIN := $(BUILD)/bin/cnote-kernel
EXEC_BIN := $(BUILD)/bin/cnote-exec
GPU_DRIVER := $(BUILD)/tests/gpu/driver

UNIT_SRC := $(wildcard tests/unit/proto/test_*.c tests/unit/kernel/test_*.c)
SERVER_UNIT_SRC := $(wildcard tests/unit/server/test_*.c)
UNIT_BIN := $(patsubst tests/unit/%.c,$(BUILD)/tests/unit/%,$(UNIT_SRC) $(SERVER_UNIT_SRC))

FUZZ_SRC := $(wildcard tests/fuzz/fuzz_*.c)
FUZZ_BIN := $(patsubst tests/fuzz/%.c,build/fuzz/%,$(FUZZ_SRC))

ALL_C := $(shell find proto kernel server tests bench -name '*.c' -o -name '*.h' 2>/dev/null)

.PHONY: all test unit unit-asan fuzz integration node browser run setup fmt fmt-check clean \
        install-kernelspec bench bench-ws bench-compute web web-test e2e bench-web \
        k8s-images k8s-e2e
SHARE := $(BUILD)/share/cnote
SHARE_FILES := $(SHARE)/include/cnote.h $(SHARE)/kernelspec/logo-32x32.png \
	$(SHARE)/kernelspec/logo-64x64.png $(SHARE)/kernelspec/logo-svg.svg

BUILD_KSPEC := $(BUILD)/share/jupyter/kernels/cnote/kernel.json

# the web app (web/, bundled by esbuild) goes to build/web, next to build/bin where the server
# looks for it; it needs node and web/node_modules (npm ci, see scripts/setup.sh)
WEB_OUT := build/web/index.html
WEB_SRC := $(shell find web/src web/public -type f 2>/dev/null) web/build.mjs web/package-lock.json
HAVE_NODE := $(shell command -v node 2>/dev/null)

all: $(KERNEL_BIN) $(EXEC_BIN) $(SERVER_BIN) $(UNIT_BIN) $(SHARE_FILES) $(BUILD_KSPEC) $(GPU_DRIVER) \
	$(if $(HAVE_NODE),$(WEB_OUT))

web: $(WEB_OUT)
$(WEB_OUT): $(WEB_SRC)
	$(Q)test -d web/node_modules || (cd web && npm ci --no-audit --no-fund --loglevel=error)
	$(Q)node web/build.mjs build/web

# the server finds cnote's own kernelspec next to its binary (build/share/jupyter)
$(BUILD_KSPEC): $(KERNEL_BIN) $(EXEC_BIN) $(SHARE_FILES)
	$(Q)$(KERNEL_BIN) install --prefix $(CURDIR)/$(BUILD) >/dev/null

$(SERVER_BIN): $(BUILD)/server/main.o $(SERVER_LIB_OBJ) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) $^ $(SERVER_LIBS) -lpthread -o $@

$(SHARE)/include/%: kernel/include/%
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

$(SHARE)/kernelspec/%: kernel/kernelspec/%
	@mkdir -p $(dir $@)
	$(Q)cp $< $@

$(BUILD)/%.o: %.c
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  CC      $<")
	$(Q)$(CC) $(CFLAGS_ALL) -c $< -o $@

$(PROTO_LIB): $(PROTO_OBJ)
	@mkdir -p $(dir $@)
	$(Q)rm -f $@ && ar rcs $@ $^

$(KERNEL_BIN): $(KERNEL_OBJ) $(ENGINE_OBJ) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) $(KERNEL_OBJ) $(ENGINE_OBJ) $(PROTO_LIB) $(PKG_LIBS) -lpthread -o $@

# The executor holds the user's state: it links no ZeroMQ and no JSON library, only libc,
# libdl and libm, so a cell sees as few foreign symbols as possible. It exports its runtime
# (the cnote.h API) to the cells it loads.
$(EXEC_BIN): $(EXEC_OBJ)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  LD      $@")
	$(Q)$(CC) $(LDFLAGS_ALL) -rdynamic $(EXEC_OBJ) -Wl,--no-as-needed -lm -ldl -lpthread -Wl,--as-needed -o $@

# The driver of the GPU checks (tests/gpu/run.sh builds it with cc alone on a GPU machine);
# built here too, with the project's warnings, so that it never rots on machines without one.
$(GPU_DRIVER): tests/gpu/driver.c $(ENGINE_OBJ) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST-CC $<")
	$(Q)$(CC) $(CFLAGS_ALL) $< $(ENGINE_OBJ) $(PROTO_LIB) $(LDFLAGS_ALL) -lpthread -o $@

$(BUILD)/tests/unit/server/%: tests/unit/server/%.c $(SERVER_LIB_OBJ) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST-CC $<")
	$(Q)$(CC) $(CFLAGS_ALL) -Iserver -Itests/unit $< $(SERVER_LIB_OBJ) $(PROTO_LIB) \
		$(LDFLAGS_ALL) $(SERVER_LIBS) $$(pkg-config --libs cmocka) -lpthread -o $@

# the plot emitter is tested alone (the rest of the executor needs its control socket)
$(BUILD)/tests/unit/kernel/test_plot: tests/unit/kernel/test_plot.c $(BUILD)/kernel/exec/cnote_plot.o \
		$(BUILD)/kernel/exec/ck_sbuf.o
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST-CC $<")
	$(Q)$(CC) $(CFLAGS_ALL) -Itests/unit $< $(BUILD)/kernel/exec/cnote_plot.o $(BUILD)/kernel/exec/ck_sbuf.o \
		$(LDFLAGS_ALL) $$(pkg-config --libs cmocka) -lm -o $@

$(BUILD)/tests/unit/%: tests/unit/%.c $(ENGINE_OBJ) $(PROTO_LIB)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  TEST-CC $<")
	$(Q)$(CC) $(CFLAGS_ALL) -Ikernel/engine -Itests/unit $< $(ENGINE_OBJ) $(PROTO_LIB) \
		$(LDFLAGS_ALL) $(PKG_LIBS) $$(pkg-config --libs cmocka) -lpthread -o $@

build/fuzz/%: tests/fuzz/%.c $(PROTO_SRC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $<")
	$(Q)clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iproto -Ikernel/engine \
		$(PKG_CFLAGS) $< $(PROTO_SRC) $(ENGINE_SRC) $(PKG_LIBS) -o $@

# the WebSocket bridge, with the kernel manager it is linked against (not called: no manager)
build/fuzz/fuzz_ws: tests/fuzz/fuzz_ws.c server/ws.c server/kmgr.c server/kspecs.c server/zmtp.c \
		$(PROTO_SRC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $<")
	$(Q)clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iproto -Iserver \
		$(PKG_CFLAGS) $< server/ws.c server/kmgr.c server/kspecs.c server/zmtp.c $(PROTO_SRC) \
		$(SERVER_LIBS) -o $@

# what a kernel's port can send to the server's ZMTP client (a Unix socket stands in)
build/fuzz/fuzz_zmtp: tests/fuzz/fuzz_zmtp.c server/zmtp.c $(PROTO_SRC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $<")
	$(Q)clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iproto -Iserver \
		$(PKG_CFLAGS) $< server/zmtp.c $(PROTO_SRC) $(SERVER_LIBS) -o $@

# what the Kubernetes provisioner parses (no network, no loop)
K8S_FUZZ_SRC := server/k8s_watch.c server/k8s_yaml.c server/k8s_pod.c server/k8s_names.c \
	server/k8s_config.c server/k8s_state.c
build/fuzz/fuzz_k8s: tests/fuzz/fuzz_k8s.c $(K8S_FUZZ_SRC) $(PROTO_SRC)
	@mkdir -p $(dir $@)
	@$(if $(Q),echo "  FUZZ    $<")
	$(Q)clang -std=c11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined -Iproto -Iserver \
		$(PKG_CFLAGS) $< $(K8S_FUZZ_SRC) $(PROTO_SRC) $(SERVER_LIBS) -o $@

setup:
	$(Q)$(STAGE) setup scripts/setup.sh

# the kernel-manager tests start real kernels: cnote's (normal build) and ipykernel's
unit: $(UNIT_BIN)
	$(Q)$(MAKE) --no-print-directory SAN=0 BUILD=build install-kernelspec
	$(Q)scripts/run-unit.sh $(BUILD) $(UNIT_BIN)

unit-asan:
	$(Q)$(MAKE) --no-print-directory SAN=1 unit

fuzz: $(FUZZ_BIN)
	$(Q)for f in $(FUZZ_BIN); do echo "  FUZZ-RUN $$f"; \
		mkdir -p build/fuzz/corpus/$$(basename $$f); \
		$$f -runs=$${FUZZ_RUNS:-20000} -max_len=65536 -seed=1 build/fuzz/corpus/$$(basename $$f) \
		tests/fuzz/corpus/$$(basename $$f) \
		>build/fuzz/$$(basename $$f).log 2>&1 || { tail -40 build/fuzz/$$(basename $$f).log; exit 1; }; \
		tail -1 build/fuzz/$$(basename $$f).log; done

integration: all install-kernelspec
	$(Q)scripts/run-integration.sh
# unit tests of the web app (renderers, notebook model, file browser) under node --test + jsdom
web-test:
	$(Q)cd web && node --test --test-reporter=spec test/
# the web app end to end in headless Chromium against a real cnote-server and C kernel
e2e: all install-kernelspec
	$(Q)scripts/run-e2e.sh
bench-web: setup all install-kernelspec
	$(Q)bench/web/run

browser: all install-kernelspec
	$(Q)scripts/run-browser.sh

node: all install-kernelspec
	$(Q)scripts/run-node.sh

install-kernelspec: $(KERNEL_BIN) $(EXEC_BIN) $(SHARE_FILES)
	$(Q)$(KERNEL_BIN) install --prefix $(CURDIR)/.venv >/dev/null

STAGE := scripts/stage.sh
SUB := $(MAKE) --no-print-directory
test: setup
	$(Q)$(STAGE) build $(SUB) all
	$(Q)$(STAGE) fmt-check $(SUB) fmt-check
	$(Q)$(STAGE) unit $(SUB) unit
	$(Q)$(STAGE) unit-asan-ubsan $(SUB) unit-asan
	$(Q)$(STAGE) fuzz $(SUB) fuzz
	$(Q)$(STAGE) web-unit $(SUB) web-test
	$(Q)$(STAGE) integration $(SUB) integration
	$(Q)$(STAGE) node $(SUB) node
	$(Q)$(STAGE) browser $(SUB) browser
	$(Q)$(STAGE) e2e $(SUB) e2e
	$(Q)$(STAGE) k8s-images $(SUB) k8s-images
	$(Q)$(STAGE) k8s $(SUB) k8s-e2e

# Kubernetes: the images' package lists resolve on this Debian release (no container engine
# here) and hold every library the binaries link; the manifests, the golden pods and cnote's pods against a real kube-apiserver built
# from the Go module proxy, with the process kubelet (scripts/run-k8s-e2e.sh)
k8s-images: $(SERVER_BIN) $(KERNEL_BIN) $(EXEC_BIN)
	$(Q)tests/k8s/test_images.sh
k8s-e2e: all install-kernelspec
	$(Q)scripts/run-k8s-e2e.sh

# the server with the web app on http://127.0.0.1:8888/ (notebooks in CNOTE_ROOT, default .);
# it prints the URL with its token
run: setup all install-kernelspec
	$(Q)JUPYTER_PATH=$(CURDIR)/.venv/share/jupyter$${JUPYTER_PATH:+:$$JUPYTER_PATH} \
		$(SERVER_BIN) --root "$${CNOTE_ROOT:-.}"

bench: setup all install-kernelspec
	$(Q).venv/bin/python bench/kernel

bench-ws: setup all install-kernelspec
	$(Q).venv/bin/python bench/ws/run
bench-compute: setup all install-kernelspec
	$(Q).venv/bin/python bench/compute/run

fmt:
	$(Q)clang-format-14 -i $(ALL_C)

fmt-check:
	$(Q)clang-format-14 --dry-run --Werror $(ALL_C) && echo "  FMT     clean"

clean:
	rm -rf build

-include $(shell find build -name '*.d' 2>/dev/null)
