#!/usr/bin/env bash
# The app for a class on one machine: N Streamlit replicas behind nginx, started and stopped together.
#   scripts/serve_class.sh [--replicas N] [--port 8080] [--host 127.0.0.1] [--first-replica-port 8501]
#                          [--run-dir DIR] [--no-warm]
# nginx (Debian's package) listens on HOST:PORT, compresses Streamlit's static files (gzip, and brotli
# where libnginx-mod-http-brotli-filter is installed), upgrades the websocket and pins every browser
# to one replica (a cookie, see deploy/nginx.conf.template). The replicas listen on 127.0.0.1 only,
# on FIRST-REPLICA-PORT and the ports after it. Everything runs as the current user, with nginx's
# config, pid, logs and temporary files in RUN-DIR (a new temporary folder unless given); Ctrl-C or
# TERM stops nginx and every replica. --host 0.0.0.0 serves the school's LAN. See deploy/README.md.
# Before it says "serving", each replica opens the Explorer once (scripts/warm.py: imports, the model's
# load and route calibration done before the class opens the app at the same moment); --no-warm skips it.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

replicas="$(nproc)" port=8080 host=127.0.0.1 first=8501 run_dir="" warm=1
usage() { sed -n '2,4p' "$0" | sed 's/^# //' >&2; exit 2; }
while [ "$#" -gt 0 ]; do
  case "$1" in
    --replicas|--port|--host|--first-replica-port|--run-dir)
      [ -n "${2:-}" ] || { echo "$1 needs a value" >&2; usage; } ;;&
    --replicas) replicas="${2:-}"; shift 2 ;;
    --port) port="${2:-}"; shift 2 ;;
    --host) host="${2:-}"; shift 2 ;;
    --first-replica-port) first="${2:-}"; shift 2 ;;
    --run-dir) run_dir="${2:-}"; shift 2 ;;
    --no-warm) warm=0; shift ;;
    -h|--help) usage ;;
    *) echo "unknown option: $1" >&2; usage ;;
  esac
done
for name in replicas port first; do
  value="${!name}"
  if ! [[ "$value" =~ ^[0-9]+$ ]] || [ "$value" -lt 1 ]; then
    echo "--${name/first/first-replica-port} must be a whole number of at least 1, not '${value}'" >&2
    exit 2
  fi
done
if [ "$replicas" -gt 64 ] || [ $((first + replicas - 1)) -gt 65535 ] || [ "$port" -gt 65535 ]; then
  echo "ports run past 65535 or more than 64 replicas asked for (--replicas ${replicas}, --port ${port}," \
       "--first-replica-port ${first})" >&2
  exit 2
fi
if [ "$port" -ge "$first" ] && [ "$port" -lt $((first + replicas)) ]; then
  echo "--port ${port} is one of the replicas' ports (${first}..$((first + replicas - 1)))" >&2
  exit 2
fi
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  echo "nginx is not installed: apt-get install nginx (and libnginx-mod-http-brotli-filter for brotli)" >&2
  exit 1
fi
nginx_bin="$(command -v nginx || echo /usr/sbin/nginx)"
run_dir="${run_dir:-$(mktemp -d -t rwkv-class.XXXXXX)}"
mkdir -p "$run_dir"
run_dir="$(cd "$run_dir" && pwd)"

pids=()
stop() {
  trap - INT TERM EXIT
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  echo "stopped nginx and ${replicas} replicas (logs in ${run_dir})"
}
trap stop EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

upstreams=()
cd "$root"
python="$(command -v python || command -v python3)"
streamlit="$(dirname "$python")/streamlit"
[ -x "$streamlit" ] || streamlit=streamlit
for i in $(seq 0 $((replicas - 1))); do
  p=$((first + i))
  # nothing leaves the machine: the Hugging Face address points at a closed local port
  HF_ENDPOINT="http://127.0.0.1:9" "$streamlit" run app/streamlit_app.py --server.port "$p" \
    --server.address 127.0.0.1 --server.headless true >"$run_dir/replica-$p.log" 2>&1 &
  pids+=("$!")
  upstreams+=("127.0.0.1:$p")
done

healthy() { "$python" -c "import sys, urllib.request as u; sys.exit(u.urlopen('http://$1/_stcore/health', timeout=2).read() != b'ok')" \
              2>/dev/null; }
deadline=$((SECONDS + ${SERVE_TIMEOUT_S:-120}))
for i in "${!upstreams[@]}"; do
  until healthy "${upstreams[$i]}"; do
    if ! kill -0 "${pids[$i]}" 2>/dev/null || [ "$SECONDS" -gt "$deadline" ]; then
      echo "replica ${upstreams[$i]} did not start; its log (${run_dir}/replica-${upstreams[$i]##*:}.log) ends:" >&2
      tail -n 20 "$run_dir/replica-${upstreams[$i]##*:}.log" >&2
      exit 1
    fi
    sleep 0.3
  done
done

conf="$("$root/deploy/render_conf.sh" "$run_dir" "$host:$port" "${upstreams[@]}")"
"$nginx_bin" -t -q -p "$run_dir" -c "$conf" -e "$run_dir/error.log"
"$nginx_bin" -p "$run_dir" -c "$conf" -e "$run_dir/error.log" &
pids+=("$!")
probe="$host"; [ "$host" = 0.0.0.0 ] && probe=127.0.0.1
until healthy "$probe:$port"; do
  if ! kill -0 "${pids[-1]}" 2>/dev/null; then
    echo "nginx did not start; ${run_dir}/error.log ends:" >&2
    tail -n 20 "$run_dir/error.log" >&2
    exit 1
  fi
  sleep 0.2
done
if [ "$warm" = 1 ]; then
  "$python" -m scripts.warm "${upstreams[@]}" || echo "the replicas serve anyway, cold: the class's first pages wait longer" >&2
fi
echo "serving http://${host}:${port} (nginx -> ${upstreams[*]}); Ctrl-C stops everything; files in ${run_dir}"

# one process ends (a replica crashed, nginx could not bind): stop the rest rather than limp on
status=0
wait -n "${pids[@]}" || status=$?
echo "a process stopped by itself (exit status ${status}); stopping the others" >&2
exit 1
