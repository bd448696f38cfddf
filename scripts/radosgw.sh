#!/usr/bin/env bash
# A real S3 server for tests: single-node Ceph RGW on 127.0.0.1 (memstore, no auth between daemons).
#   scripts/radosgw.sh start DIR   install (Debian packages) and start; writes DIR/rgw.env on success,
#                                  DIR/rgw.skip with the reason on failure (the test tier then skips);
#                                  DIR/rgw.starting exists while it runs
#   scripts/radosgw.sh stop DIR    stop the daemons started in DIR
set -uo pipefail
cmd=${1:?start|stop}; dir=$(mkdir -p "${2:?DIR}" && cd "$2" && pwd)
port=${RGW_PORT:-7480}
conf="$dir/ceph.conf"
skip() { echo "$*" > "$dir/rgw.skip"; rm -f "$dir/rgw.env"; echo "radosgw tier skipped: $*" >&2; exit 0; }

if [ "$cmd" = stop ]; then
  # every daemon of this instance was started with -c $conf; wait until they are gone, so a restart never
  # meets an old OSD (it would register with the new monitor and fail it with 'wrong fsid')
  pkill -TERM -f -- "-c $conf" 2>/dev/null
  for _ in $(seq 50); do pgrep -f -- "-c $conf" >/dev/null || break; sleep 0.2; done
  pkill -KILL -f -- "-c $conf" 2>/dev/null
  rm -f "$dir"/*.pid
  exit 0
fi
if (exec 3<>/dev/tcp/127.0.0.1/6789) 2>/dev/null || (exec 3<>/dev/tcp/127.0.0.1/"$port") 2>/dev/null; then
  skip "ports 6789 or $port already in use (another Ceph running?)"
fi

rm -f "$dir/rgw.env" "$dir/rgw.skip"
# while this start runs, the test tier waits for it instead of skipping (CI starts it beside the package installs)
touch "$dir/rgw.starting"
trap 'rm -f "$dir/rgw.starting"' EXIT
if ! command -v radosgw >/dev/null || ! command -v ceph-mon >/dev/null; then
  [ "$(id -u)" = 0 ] || skip "not root: cannot apt-get install radosgw"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq radosgw ceph-mon ceph-osd uuid-runtime) \
    > "$dir/apt.log" 2>&1 || skip "apt-get install radosgw ceph-mon ceph-osd failed (see $dir/apt.log)"
fi

bring_up() {
fsid=$(uuidgen)
rm -rf "$dir"/mon "$dir"/osd "$dir"/run "$dir"/monmap
mkdir -p "$dir"/{mon,osd,run,log}
cat > "$conf" <<CONF
[global]
fsid = $fsid
mon host = 127.0.0.1:6789
public addr = 127.0.0.1
ms bind ipv4 = true
ms bind ipv6 = false
auth cluster required = none
auth service required = none
auth client required = none
osd objectstore = memstore
memstore device bytes = 4294967296
osd pool default size = 1
osd pool default min size = 1
osd crush chooseleaf type = 0
mon allow pool size one = true
mon allow pool delete = true
run dir = $dir/run
log file = $dir/log/\$name.log
pid file = $dir/\$name.pid
mon data = $dir/mon/\$cluster-\$id
osd data = $dir/osd/\$cluster-\$id
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw crypt require ssl = false
rgw crypt s3 kms backend = testing
rgw crypt s3 kms encryption keys = testkey-1=YmluCmJvb3N0CmJvb3N0LWJ1aWxkCmNlcGguY29uZgo=
rgw dns name = 127.0.0.1
CONF
export CEPH_CONF=$conf
c() { timeout 60 "$@" -c "$conf"; }  # a stuck cluster must become a skip, never a hang
(
  set -e
  monmaptool --create --add a 127.0.0.1:6789 --fsid "$fsid" "$dir/monmap" >/dev/null
  c ceph-mon --id a --mkfs --monmap "$dir/monmap"
  c ceph-mon --id a
  for _ in $(seq 60); do c ceph -s >/dev/null 2>&1 && break; sleep 0.5; done
  c ceph osd create >/dev/null
  c ceph osd crush add osd.0 1 root=default host=localhost >/dev/null 2>&1
  mkdir -p "$dir/osd/ceph-0"
  c ceph-osd --id 0 --mkfs >/dev/null 2>&1
  c ceph-osd --id 0
  for _ in $(seq 60); do c ceph osd stat 2>/dev/null | grep -q "1 up" && break; sleep 0.5; done
  c ceph osd stat | grep -q "1 up"
  c radosgw -n client.rgw.a
  for _ in $(seq 120); do curl -fs "http://127.0.0.1:$port" >/dev/null && break; sleep 0.5; done
  curl -fs "http://127.0.0.1:$port" >/dev/null
  c radosgw-admin user create --uid=temu --display-name=temu --access-key=TEMUGENTESTKEY --secret-key=temugentestsecret >/dev/null
) >> "$dir/start.log" 2>&1
}

# A fresh single-node cluster now and then refuses its own OSD at boot ('wrong fsid' in start.log; cause not
# found yet): bring it up again from clean state with a new fsid, up to three times, before skipping the tier.
started=""
for attempt in 1 2 3; do
  echo "--- attempt $attempt" >> "$dir/start.log"
  if bring_up; then started=yes; break; fi
  pkill -KILL -f -- "-c $conf" 2>/dev/null; sleep 1
done
[ -n "$started" ] || skip "ceph/radosgw did not start after 3 attempts (see $dir/start.log)"

cat > "$dir/rgw.env" <<ENV
RGW_ENDPOINT=http://127.0.0.1:$port
RGW_ACCESS_KEY=TEMUGENTESTKEY
RGW_SECRET_KEY=temugentestsecret
ENV
echo "radosgw up on 127.0.0.1:$port"
