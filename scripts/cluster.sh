#!/usr/bin/env bash
# cluster.sh: start a three-site mqttds cluster on this machine, for trying replication.
#
#   scripts/cluster.sh            build, start sites 1-3, wait until they serve, print how to use
#                                 them, and stop all three on Ctrl-C (or after CLUSTER_TIME)
#
# Site i listens for MQTT on 127.0.0.1:1883+i (1884, 1885, 1886) and for the other sites on
# 127.0.0.1:7945+i; its data is in $CLUSTER_DIR/site-i (default ./cluster-data; kept across runs,
# so a second run restarts the same cluster). Every shard is replicated on the three sites: stop
# any one (kill -9 its PID) and the other two go on; publish on one site and read a durable session
# on another. Logs go to $CLUSTER_DIR/site-i.log. Environment: CLUSTER_DIR, CLUSTER_TIME (default
# 1h: the sites are stopped after it).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${CLUSTER_DIR:-./cluster-data}
limit=${CLUSTER_TIME:-1h}
go build -o bin/mqttds ./tools/mqttds
mkdir -p "$dir"
pids=()
stop() {
  trap - EXIT INT TERM
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  echo "cluster stopped"
}
trap stop EXIT INT TERM
for i in 1 2 3; do
  seeds=()
  for j in 1 2 3; do [ "$j" = "$i" ] || seeds+=("127.0.0.1:$((7945 + j))"); done
  MQTTDS_API_BIND= \
  MQTTDS_DURABLE_STORAGE_MESSAGES_N_SITES=3 \
  MQTTDS_DURABLE_STORAGE_MESSAGES_REPLICATION_FACTOR=3 \
  MQTTDS_DURABLE_STORAGE_MESSAGES_CLUSTER_BIND="127.0.0.1:$((7945 + i))" \
  MQTTDS_DURABLE_STORAGE_MESSAGES_CLUSTER_SEEDS="$(IFS=,; echo "${seeds[*]}")" \
    bin/mqttds serve --bind "127.0.0.1:$((1883 + i))" --data-dir "$dir/site-$i" >"$dir/site-$i.log" 2>&1 &
  pids+=($!)
done
for i in 1 2 3; do
  for _ in $(seq 600); do
    grep -q "mqttds started" "$dir/site-$i.log" 2>/dev/null && break
    if ! kill -0 "${pids[$((i - 1))]}" 2>/dev/null; then echo "site $i failed:"; cat "$dir/site-$i.log"; exit 1; fi
    sleep 0.1
  done
  grep -q "mqttds started" "$dir/site-$i.log" || { echo "site $i did not start:"; cat "$dir/site-$i.log"; exit 1; }
done
cat <<MSG
cluster of 3 sites up (data in $dir, logs in $dir/site-*.log):
  site 1  mqtt 127.0.0.1:1884  pid ${pids[0]}
  site 2  mqtt 127.0.0.1:1885  pid ${pids[1]}
  site 3  mqtt 127.0.0.1:1886  pid ${pids[2]}
try: a durable subscriber on site 1, a publisher on site 2, kill -9 site 1, reconnect to site 3.
Ctrl-C stops the cluster (or it stops after $limit).
MSG
sleep "$limit" &
wait $! || true
