# scimgate: the two commands a new user needs are `make run` and `make test`.
GO      ?= go
BIN     := bin/scimgate
DATA    ?= ./data
LISTEN  ?= 127.0.0.1:8080
# fuzz budget as a count of executions, not a duration: with a duration, Go 1.26's fuzz coordinator can
# report a spurious 'context deadline exceeded' at the deadline under load (golang/go#75804, fixed in Go 1.27)
FUZZTIME ?= 100000x
# bench: users created before the query phase, concurrent clients, users of the Entra-style cycle
# (match query, then create; also run against a bare net/http handler), and a file for the gateway's
# CPU profile (empty: none)
BENCH_USERS ?= 100000
BENCH_CONCURRENCY ?= 16
BENCH_CYCLES ?= 20000
BENCH_LISTEN ?= 127.0.0.1:18080
BENCH_CPUPROFILE ?=

.PHONY: build run test test-deps fuzz bench bench-scim vet staticcheck proto clean

build:
	$(GO) build -o $(BIN) ./cmd/scimgate

## run: start the gateway with the embedded defaults (SQLite under $(DATA)); prints the base URL and token.
run: build
	./$(BIN) serve --listen $(LISTEN) --data-dir $(DATA)

## test: vet, staticcheck, the whole suite with -race (includes the conformance run against the gateway
## and the kill -9 durability test), then short fuzz runs of the filter parser (filters and PATCH paths) and PATCH.
test: test-deps vet staticcheck
	$(GO) test -race -count=1 ./...
	$(GO) test -run '^$$' -fuzz '^FuzzParseFilter$$' -fuzztime $(FUZZTIME) ./scim
	$(GO) test -run '^$$' -fuzz '^FuzzParsePatchPath$$' -fuzztime $(FUZZTIME) ./scim
	$(GO) test -run '^$$' -fuzz '^FuzzPatch$$' -fuzztime $(FUZZTIME) ./scim

## test-deps: the servers the connector tests run against (MariaDB, PostgreSQL, OpenLDAP slapd), protoc and chromium (the
## reviewer page's browser test), installed with
## apt-get when missing and running as root; otherwise the tests that need them say so loudly and skip.
TEST_PKGS := mariadb-server postgresql slapd ldap-utils protobuf-compiler chromium
test-deps:
	@missing=""; for p in $(TEST_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			echo "installing test servers:$$missing"; \
			apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $$missing; \
		else echo "WARNING: missing$$missing and cannot install them (not root or no apt-get): their tests will skip" >&2; fi; \
	fi

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...

## staticcheck: pinned at $(STATICCHECK_VERSION) (staticcheck 2026.2.2), the newest honnef.co/go/tools the Go module
## proxy serves that builds and runs with Go 1.26; installed from the module proxy into bin/ on first use, like proto's
## plugins (a new version gets its own directory, so changing the pin reinstalls).
STATICCHECK_VERSION := v0.8.2
STATICCHECK := bin/staticcheck-$(STATICCHECK_VERSION)/staticcheck
staticcheck: $(STATICCHECK)
	./$(STATICCHECK) ./...
$(STATICCHECK):
	GOBIN=$(CURDIR)/$(dir $@) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## bench: store micro-benchmarks; the gateway's SCIM creates, PATCHes and userName queries; end-to-end delivery
## benchmarks (engine to the memory connector, SCIM to MariaDB,
## slapd and the gRPC example connector), SCIM creates and their delivery to the memory connector through 1, 2
## and 3 replicas on PostgreSQL and on MariaDB beside one gateway on SQLite (with the database server's CPU),
## reconciliation of 100,000 memory accounts and 50,000 MariaDB rows,
## membership changes in a 50,000-member group beside a 100-member one, and the delivery of a 50,000-member group
## to MariaDB and slapd (each runs once); the gRPC protocol over one connection; then a gateway on $(BENCH_LISTEN)
## in a temporary data dir driven by `scimgate bench scim`. The store's and the gateway's benchmarks whose cost is the
## store's run on SQLite (the baseline), PostgreSQL and MariaDB in one process (sub-benchmarks store=NAME).
BENCH_GATEWAY ?= CreateUser|PatchUser|QueryUserName
BENCH_E2E ?= EngineDelivery|Replicas|SQLEndToEnd|LDAPEndToEnd|GRPCEndToEnd|ReconcileMemory|ReconcileSQL|LargeGroup|LargeGroupDelivery
bench: build test-deps
	$(GO) test -run '^$$' -bench . -benchtime 2s ./internal/store/sqlstore
	$(GO) test -run '^$$' -bench '^Benchmark($(BENCH_GATEWAY))$$' -benchtime 2s ./internal/gateway
	$(GO) test -run '^$$' -bench '^Benchmark($(BENCH_E2E))$$' -benchtime 1x -timeout 60m ./internal/gateway
	$(GO) test -run '^$$' -bench '^BenchmarkProtocol$$' -benchtime 3s ./targets/grpctarget
	$(MAKE) bench-scim

## bench-scim: a gateway on $(BENCH_LISTEN) in a temporary data dir driven by `scimgate bench scim`: creates,
## userName eq queries, PATCHes, then Entra's initial cycle against it and against a bare net/http handler.
## BENCH_CPUPROFILE=FILE profiles the gateway (`go tool pprof -top bin/scimgate FILE`).
bench-scim: build
	@set -e; dir=$$(mktemp -d); \
	./$(BIN) serve --listen $(BENCH_LISTEN) --data-dir $$dir $(if $(BENCH_CPUPROFILE),--cpuprofile $(abspath $(BENCH_CPUPROFILE))) \
		>$$dir/stdout 2>$$dir/stderr & pid=$$!; \
	trap 'kill $$pid 2>/dev/null; wait $$pid 2>/dev/null; rm -rf $$dir' EXIT; \
	for i in $$(seq 1 100); do curl -fs http://$(BENCH_LISTEN)/healthz >/dev/null 2>&1 && break; sleep 0.1; done; \
	./$(BIN) bench scim --url http://$(BENCH_LISTEN)/scim/v2 --token "$$(cat $$dir/scim-token)" \
		--users $(BENCH_USERS) --concurrency $(BENCH_CONCURRENCY) --cycles $(BENCH_CYCLES)

## proto: regenerate the connector protocol's Go code (protoc from Debian's protobuf-compiler; plugins pinned:
## protoc-gen-go at go.mod's google.golang.org/protobuf, protoc-gen-go-grpc at $(PROTOC_GEN_GO_GRPC_VERSION), the
## version TestGeneratedCodeIsFresh checks with).
PROTOC_GEN_GO_GRPC_VERSION := v1.6.0
proto:
	@mkdir -p bin
	$(GO) build -o bin/ google.golang.org/protobuf/cmd/protoc-gen-go
	GOBIN=$(CURDIR)/bin $(GO) install google.golang.org/grpc/cmd/protoc-gen-go-grpc@$(PROTOC_GEN_GO_GRPC_VERSION)
	cd proto/connector/v1 && PATH=$(CURDIR)/bin:$$PATH protoc -I. --go_out=. --go_opt=paths=source_relative \
		--go-grpc_out=. --go-grpc_opt=paths=source_relative connector.proto

clean:
	rm -rf bin
