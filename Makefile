# Switchyard build, test and demo entry points. `make demo` and `make test`
# install what they need (apt-get) through `make deps`.
GO      ?= go
BIN     := bin/switchyard
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
export GOFLAGS := -buildvcs=false

.PHONY: all deps deps-test build test lint demo bench sysbench fuzz clean docker-image

all: build

deps:
	@scripts/deps.sh

# The compatibility suite also drives PHP, Python, Perl, Ruby, Java and Node clients.
deps-test: deps
	@scripts/deps-compat.sh

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/switchyard

lint:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null; git ls-files -o --exclude-standard '*.go' 2>/dev/null)); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

test: deps-test lint build
	$(GO) test -race -count=1 -timeout 25m ./...

demo: deps build
	@scripts/demo.sh

bench: deps build
	$(BIN) bench

# sysbench oltp_read_write, 16 threads x 60 s per ps-mode, through the proxy
# and directly, zero errors and identical nodes required (THREADS, TIME).
sysbench: deps build
	@scripts/sysbench.sh

# Static Linux binary and the FROM-scratch image switchyard:local (see Dockerfile).
docker-image:
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags "-s -w -X main.version=$(VERSION)" -o bin/switchyard-linux-amd64 ./cmd/switchyard
	docker build -t switchyard:local .

fuzz:
	@scripts/fuzz.sh

clean:
	rm -rf bin
