#!/usr/bin/env bash
# compare.sh: run the same `mqttds bench` scenarios against Mosquitto and mqttds on this machine, in
# one run, and print one table with both brokers' figures and their ratio.
#
# Both brokers listen on spare 127.0.0.1 ports with persistence on and their data in a temporary
# directory; both are stopped by PID when the script ends, however it ends. They get the same
# flow-control limits (64 messages in flight each way, unlimited session queues); everything else
# is each broker's default. Scenarios (64-byte
# payloads, MQTT 5):
#
#   conn        CONNS connections at CONN_RATE/s, held; broker VmRSS growth per connection
#   conn-durable the same with a session expiry of SESSION_EXPIRY (clean start): on mqttds each
#               CONNECT creates a durable session, stored before its CONNACK; on Mosquitto a
#               persistent session in memory
#   qos0-p2p    4 publishers -> 4 subscribers (bench/i -> bench/i), QoS 0 at RATE0 msg/s in total
#   qos0-unpaced the same unpaced: each publisher writes as fast as its connection takes messages
#               (the goal "QoS 0 at least 1.5x Mosquitto"); a broker that drops QoS 0 messages
#               shows it as loss
#   qos1-p2p    the same at QoS 1, as fast as a 64-message in-flight window per publisher allows
#   qos1-10k    the same at QoS 1 paced at RATE1 msg/s in total: the latency goal's load (p99 under
#               3 ms at 10k msg/s)
#   qos1-durable the qos1-p2p load with every client holding a session that outlives it (MQTT 5
#               session expiry SESSION_EXPIRY): on mqttds the subscribers' sessions are durable, so
#               each message is on disk before its PUBACK; on Mosquitto they are persistent sessions
#               kept in memory and snapshotted
#   qos1-durable-half the same paced at DURABLE_RATE msg/s in total (about half of mqttds's
#               qos1-durable rate): the latency goal's load (p99 under 10 ms)
#   qos0-fanin  4 publishers -> 1 subscriber on bench/#, QoS 0 at RATE0 msg/s in total
#   qos1-fanin  the same at QoS 1, unpaced
#   durable     an offline session, DURABLE_MSGS QoS 1 messages, kill -9 and restart of the broker,
#               reconnect: how many acknowledged messages arrive
#
# Each scenario runs on one broker right after the other, so both see about the same machine load.
# The connection scenario runs first, on freshly started brokers, so the memory figure is not
# skewed by heap left over from message traffic. Environment knobs (defaults in brackets):
# DURATION [10s], DRAIN [15s: how long subscribers may catch up after publishing], RATE0 [20000],
# RATE1 [10000], CONNS [2000], CONN_RATE [2000], DURABLE_MSGS [10000], DURABLE_RATE [10000],
# SESSION_EXPIRY [3600],
# RESULTS [a temporary file: where the RESULT lines go], SCENARIOS [all eleven, in the order above],
# BIN [build bin/mqttds from the working tree], COMMIT [what to call the mqttds code in the header].
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${DURATION:-10s}
DRAIN=${DRAIN:-15s}
SCENARIOS=${SCENARIOS:-conn conn-durable qos0-p2p qos0-unpaced qos1-p2p qos1-10k qos1-durable qos1-durable-half qos0-fanin qos1-fanin durable}
RATE0=${RATE0:-20000}
RATE1=${RATE1:-10000}
CONNS=${CONNS:-2000}
CONN_RATE=${CONN_RATE:-2000}
DURABLE_MSGS=${DURABLE_MSGS:-10000}
DURABLE_RATE=${DURABLE_RATE:-10000}
SESSION_EXPIRY=${SESSION_EXPIRY:-3600}
# Both brokers get the same flow-control limits: INFLIGHT unacknowledged QoS 1/2 messages in each
# direction (the bench clients' own window is 64 too) and no cap on a session's queue, so the
# durable scenario measures persistence rather than a queue limit.
INFLIGHT=64
# BIN: a prebuilt mqttds binary to use instead of building bin/mqttds from the working tree.
BIN=${BIN:-}

work=$(mktemp -d -t mqttds-compare.XXXXXX)
RESULTS=${RESULTS:-$work/results.txt}
: > "$RESULTS"

log() { printf '== %s\n' "$*" >&2; }

# stop_pidfile ends the process whose PID the file holds (SIGTERM, then SIGKILL) and waits until
# it is gone. Only PIDs this script started are ever in these files.
stop_pidfile() {
	local f=$1 pid
	[ -s "$f" ] || return 0
	pid=$(cat "$f")
	kill -TERM "$pid" 2>/dev/null || true
	for _ in $(seq 50); do gone "$pid" && break; sleep 0.1; done
	gone "$pid" || kill -KILL "$pid" 2>/dev/null || true
	rm -f "$f"
}

# gone: the process has exited and closed its files (a zombie whose threads have all exited counts
# as gone). A killed Go program's main thread turns zombie before its other threads are torn down,
# and its files (the data directory's lock) stay open until the last one is.
gone() {
	[ ! -e "/proc/$1" ] || { grep -q '^State:.*Z' "/proc/$1/status" 2>/dev/null && [ "$(ls "/proc/$1/task" 2>/dev/null | wc -l)" -le 1 ]; }
}

cleanup() {
	stop_pidfile "$work/mosquitto.pid"
	stop_pidfile "$work/mqttds.pid"
	rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# free_port prints a TCP port on 127.0.0.1 that nothing listens on, below the kernel's range of
# ephemeral ports (where the load generator's own client ports come from, so a listener there
# could find its port taken by an outgoing connection).
free_port() {
	local p low=32768
	if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
		read -r low _ </proc/sys/net/ipv4/ip_local_port_range
	fi
	[ "$low" -gt 12000 ] || low=32768
	for _ in $(seq 100); do
		p=$((10000 + RANDOM % (low - 10000)))
		if ! (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
			echo "$p"
			return
		fi
	done
	echo "no free port found" >&2
	return 1
}

# wait_port waits up to 10 s for something to listen on 127.0.0.1:$1.
wait_port() {
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	echo "nothing listens on 127.0.0.1:$1 after 10 s" >&2
	return 1
}

# --- Mosquitto ----------------------------------------------------------------------------------
if ! command -v mosquitto >/dev/null 2>&1 && [ ! -x /usr/sbin/mosquitto ]; then
	log "installing mosquitto from Debian"
	apt-get install -y mosquitto >/dev/null 2>&1 || { apt-get update >/dev/null && apt-get install -y mosquitto >/dev/null; }
fi
MOSQUITTO=$(command -v mosquitto || echo /usr/sbin/mosquitto)

MQ_PORT=$(free_port)
mkdir -p "$work/mosquitto"
cat > "$work/mosquitto/mosquitto.conf" <<CONF
user $(id -un)
listener $MQ_PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $work/mosquitto/
max_inflight_messages $INFLIGHT
max_queued_messages 0
log_dest file $work/mosquitto/mosquitto.log
CONF
# The start script doubles as the restart command of the durable scenario.
cat > "$work/start-mosquitto.sh" <<SH
#!/bin/sh
$MOSQUITTO -c $work/mosquitto/mosquitto.conf >>$work/mosquitto/stderr.log 2>&1 </dev/null &
echo \$! > $work/mosquitto.pid
SH
cat > "$work/restart-mosquitto.sh" <<SH
#!/bin/sh
pid=\$(cat $work/mosquitto.pid)
kill -9 \$pid
while [ -e /proc/\$pid ] && ! { grep -q '^State:.*Z' /proc/\$pid/status 2>/dev/null && [ "\$(ls /proc/\$pid/task 2>/dev/null | wc -l)" -le 1 ]; }; do sleep 0.02; done
exec $work/start-mosquitto.sh
SH
chmod +x "$work"/*.sh

# --- mqttds ------------------------------------------------------------------------------------
# COMMIT names the mqttds code measured, for the table's header.
if [ -z "$BIN" ]; then
	BIN=bin/mqttds
	log "building $BIN"
	COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
	git diff --quiet HEAD 2>/dev/null || COMMIT="$COMMIT plus uncommitted changes"
	go build -o "$BIN" ./tools/mqttds
fi
COMMIT=${COMMIT:-"prebuilt $BIN"}
BIN=$(cd "$(dirname "$BIN")" && pwd)/$(basename "$BIN")
HAVE_SERVE=0
if "$BIN" help serve >/dev/null 2>&1; then HAVE_SERVE=1; fi
MD_PORT=$(free_port)
API_PORT=$(free_port)
mkdir -p "$work/mqttds/data"
cat > "$work/start-mqttds.sh" <<SH
#!/bin/sh
# The queue bound is a large number, not 0: server.Options turns a 0 from the configuration into
# its default of 1000.
export MQTTDS_MQTT_MAX_INFLIGHT=$INFLIGHT MQTTDS_MQTT_RECEIVE_MAXIMUM=$INFLIGHT MQTTDS_MQTT_MAX_MQUEUE_LEN=100000000
export MQTTDS_API_BIND=127.0.0.1:$API_PORT
$BIN serve --bind 127.0.0.1:$MD_PORT --data-dir $work/mqttds/data >>$work/mqttds/stderr.log 2>&1 </dev/null &
echo \$! > $work/mqttds.pid
SH
cat > "$work/restart-mqttds.sh" <<SH
#!/bin/sh
pid=\$(cat $work/mqttds.pid)
kill -9 \$pid
while [ -e /proc/\$pid ] && ! { grep -q '^State:.*Z' /proc/\$pid/status 2>/dev/null && [ "\$(ls /proc/\$pid/task 2>/dev/null | wc -l)" -le 1 ]; }; do sleep 0.02; done
exec $work/start-mqttds.sh
SH
chmod +x "$work"/*.sh

# --- the runs ----------------------------------------------------------------------------------
# bench BROKER PORT SCENARIO MODE ARGS...: one run, progress to stderr, RESULT line to $RESULTS.
bench() {
	local broker=$1 port=$2 scenario=$3 mode=$4
	shift 4
	log "$broker: $scenario"
	if ! "$BIN" bench "$mode" --port "$port" --label "$broker/$scenario" "$@" | tee -a "$RESULTS" | grep -v '^RESULT ' >&2; then
		log "$broker: $scenario did not complete; its row stays empty. The end of the broker's log:"
		tail -n 20 "$work/$broker/"*.log >&2 || true
	fi
}

# run_scenario NAME: the scenario on every broker that is up, one after the other, so that both
# brokers see the same machine load as nearly as possible.
run_scenario() {
	local broker port pidfile
	for broker in $BROKERS; do
		port=$(port_of "$broker")
		pidfile=$work/$broker.pid
		case $1 in
		conn) bench "$broker" "$port" conn conn -c "$CONNS" -R "$CONN_RATE" -d 8s --rss-pid "$(cat "$pidfile")" ;;
		conn-durable) bench "$broker" "$port" conn-durable conn -c "$CONNS" -R "$CONN_RATE" -d 8s \
			--session-expiry "$SESSION_EXPIRY" --client-id 'bench-conn-durable-%i' --rss-pid "$(cat "$pidfile")" ;;
		qos0-p2p) bench "$broker" "$port" qos0-p2p pub -c 4 --subscribers 4 -q 0 -s 64 --rate "$RATE0" -d "$DURATION" --drain "$DRAIN" ;;
		qos0-unpaced) bench "$broker" "$port" qos0-unpaced pub -c 4 --subscribers 4 -q 0 -s 64 -d "$DURATION" --drain "$DRAIN" ;;
		qos1-p2p) bench "$broker" "$port" qos1-p2p pub -c 4 --subscribers 4 -q 1 -s 64 -d "$DURATION" --drain "$DRAIN" ;;
		qos1-10k) bench "$broker" "$port" qos1-10k pub -c 4 --subscribers 4 -q 1 -s 64 --rate "$RATE1" -d "$DURATION" --drain "$DRAIN" ;;
		qos1-durable) bench "$broker" "$port" qos1-durable pub -c 4 --subscribers 4 -q 1 -s 64 \
			--session-expiry "$SESSION_EXPIRY" -d "$DURATION" --drain "$DRAIN" ;;
		qos1-durable-half) bench "$broker" "$port" qos1-durable-half pub -c 4 --subscribers 4 -q 1 -s 64 \
			--session-expiry "$SESSION_EXPIRY" --rate "$DURABLE_RATE" -d "$DURATION" --drain "$DRAIN" ;;
		qos0-fanin) bench "$broker" "$port" qos0-fanin pub -c 4 --subscribers 1 --sub-topic 'bench/#' -q 0 -s 64 --rate "$RATE0" -d "$DURATION" --drain "$DRAIN" ;;
		qos1-fanin) bench "$broker" "$port" qos1-fanin pub -c 4 --subscribers 1 --sub-topic 'bench/#' -q 1 -s 64 -d "$DURATION" --drain "$DRAIN" ;;
		durable) bench "$broker" "$port" durable durable --messages "$DURABLE_MSGS" -s 64 --drain 5s \
			--restart-cmd "$work/restart-$broker.sh" ;;
		esac
	done
}

port_of() { if [ "$1" = mosquitto ]; then echo "$MQ_PORT"; else echo "$MD_PORT"; fi; }

BROKERS=mosquitto
log "mosquitto $($MOSQUITTO -h 2>/dev/null | head -1 | awk '{print $3}') on 127.0.0.1:$MQ_PORT"
"$work/start-mosquitto.sh"
wait_port "$MQ_PORT"
if [ "$HAVE_SERVE" = 1 ]; then
	log "mqttds on 127.0.0.1:$MD_PORT, data in $work/mqttds/data"
	"$work/start-mqttds.sh"
	wait_port "$MD_PORT"
	BROKERS="mosquitto mqttds"
else
	log "mqttds has no 'serve' command yet: Mosquitto figures only"
fi
for scenario in $SCENARIOS; do
	run_scenario "$scenario"
done

# --- the table ---------------------------------------------------------------------------------
echo
echo "Date: $(date -u '+%Y-%m-%d %H:%M UTC'); machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//'); $(go version | awk '{print $3}'); Mosquitto $($MOSQUITTO -h 2>/dev/null | head -1 | awk '{print $3}'); mqttds $COMMIT"
echo
"$BIN" bench table --base mosquitto "$RESULTS"
