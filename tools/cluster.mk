# Global limits (issue 15): Redis, the RLS v3 service and two Envoy replicas.
# Included by the top-level Makefile; uses its `wasm`, `$(ENVOY)` and PYTHON.
#
#   make run-cluster     Redis :10103, rate-limit service :10102, mock upstream :10101,
#                        replica A :10100 (admin :9911), replica B :10110 (admin :9912)
#   make ratelimit-bin   builds target/debug/tollgate-ratelimit
#   make redis           installs Debian's redis-server when it is missing
#
# Ctrl-C stops everything. The same `make token` tokens work against both replicas.

CLUSTER_SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
RATELIMIT_BIN := $(TARGET_DIR)/debug/tollgate-ratelimit

.PHONY: run-cluster ratelimit-bin redis

# Dev profile, like the token tool: shares the e2e build.
ratelimit-bin:
	cargo build --quiet -p tollgate-tools --bin tollgate-ratelimit

redis:
	@command -v redis-server >/dev/null || { $(CLUSTER_SUDO) apt-get update -qq \
	  && $(CLUSTER_SUDO) apt-get install -y -qq redis-server; }
	@command -v redis-server >/dev/null || { echo "error: redis-server is missing (apt-get install redis-server)" >&2; exit 1; }

# Each process is started in the background and recorded; the trap stops
# them all, by pid, whatever way the recipe ends.
run-cluster: wasm ratelimit-bin redis $(ENVOY)
	@pids=(); trap 'kill $${pids[@]} 2>/dev/null || true; wait 2>/dev/null || true' EXIT INT TERM; \
	redis-server --port 10103 --bind 127.0.0.1 --save '' --appendonly no --daemonize no --loglevel warning & pids+=($$!); \
	$(RATELIMIT_BIN) --config envoy/cluster/ratelimit.json --port 10102 --redis 127.0.0.1:10103 & pids+=($$!); \
	exec 3< <(exec $(PYTHON) envoy/demo/mock_upstream.py --port 10101); pids+=($$!); \
	read -r -t 10 ready <&3 || { echo "error: the mock upstream did not start on 127.0.0.1:10101" >&2; exit 1; }; \
	$(ENVOY) -c envoy/cluster/replica-a.yaml --concurrency 2 -l warning --component-log-level wasm:info \
	  --disable-hot-restart & pids+=($$!); \
	$(ENVOY) -c envoy/cluster/replica-b.yaml --concurrency 2 -l warning --component-log-level wasm:info \
	  --disable-hot-restart & pids+=($$!); \
	echo; \
	echo "Tollgate cluster: replicas http://127.0.0.1:10100 and http://127.0.0.1:10110 (admin :9911, :9912)"; \
	echo "Shared limits: rate-limit service :10102 (envoy/cluster/ratelimit.json), Redis :10103"; \
	echo "In another terminal:"; \
	echo "  TOKEN=\$$(make -s token)"; \
	echo "  for p in 10100 10110 10100 10110; do curl -s -o /dev/null -w '%{http_code} ' localhost:\$$p/v1/chat/completions \\"; \
	echo "       -H \"authorization: Bearer \$$TOKEN\" -H 'content-type: application/json' \\"; \
	echo "       -d '{\"model\":\"m\",\"messages\":[{\"role\":\"user\",\"content\":\"hello\"}]}'; done"; \
	echo "Ctrl-C stops everything."; \
	echo; \
	wait -n $${pids[@]}
