#!/usr/bin/env bash
# qbt-get.sh ADDR PORT TORRENT DIR: downloads TORRENT (a .torrent URL or file) into DIR with
# qBittorrent (qbittorrent-nox, on libtorrent-rasterbar), as a user of a stock torrent client
# would, and exits 0 once qBittorrent says it has every piece (it checks each against the
# torrent's hashes). It is the libtorrent client of the benchmarks' crowds.
#
# qBittorrent runs with a profile of its own under DIR/.qbt, bound to ADDR (a 127.0.0.0/8
# address) for every socket: BitTorrent on ADDR:PORT, its Web API on ADDR:PORT+1 (which
# this script polls); DHT, local peer discovery, peer exchange and UPnP/NAT-PMP are off, so
# nothing leaves loopback and peers come from the tracker only. It is shut down when the
# download completes or this script is killed (TERM, INT).
set -euo pipefail

die() {
	echo "${0##*/}: $*" >&2
	exit 1
}

(($# == 4)) || die "usage: qbt-get.sh ADDR PORT TORRENT DIR"
addr=$1 port=$2 torrent=$3 dir=$4
[[ $addr =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ ]] || die "ADDR must be a 127.0.0.0/8 address, not '$addr'"
[[ $port =~ ^[1-9][0-9]*$ ]] && ((port < 65535)) || die "PORT must be 1-65534, not '$port'"
command -v qbittorrent-nox >/dev/null || die "qbittorrent-nox is missing (apt-get install qbittorrent-nox)"
command -v curl >/dev/null || die "curl is missing"

mkdir -p "$dir"
dir=$(cd "$dir" && pwd)
profile=$dir/.qbt
conf=$profile/qBittorrent/config
mkdir -p "$conf"
# Keys as qBittorrent 4.5 reads them (BitTorrent\Session\*, Preferences\*).
cat >"$conf/qBittorrent.conf" <<EOF
[LegalNotice]
Accepted=true

[BitTorrent]
Session\DHTEnabled=false
Session\LSDEnabled=false
Session\PeXEnabled=false
Session\Port=$port
Session\InterfaceAddress=$addr
Session\DefaultSavePath=$dir
Session\TempPathEnabled=false
Session\AddExtensionToIncompleteFiles=false
Session\QueueingSystemEnabled=false
Session\AnonymousModeEnabled=false

[Network]
PortForwardingEnabled=false

[Preferences]
Connection\UPnP=false
General\Locale=en
WebUI\Enabled=true
WebUI\Address=$addr
WebUI\Port=$((port + 1))
WebUI\LocalHostAuth=false
WebUI\AuthSubnetWhitelistEnabled=true
WebUI\AuthSubnetWhitelist=127.0.0.0/8
WebUI\CSRFProtection=false
WebUI\HostHeaderValidation=false
WebUI\UseUPnP=false
EOF

api=http://$addr:$((port + 1))/api/v2
qbittorrent-nox --profile="$profile" >"$profile/out.log" 2>&1 &
qbt=$!
stop() {
	curl -fsS -m 5 -X POST "$api/app/shutdown" >/dev/null 2>&1 || true
	for _ in $(seq 50); do
		kill -0 "$qbt" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 "$qbt" 2>/dev/null || true
	wait "$qbt" 2>/dev/null || true
}
trap stop EXIT
trap 'exit 143' TERM
trap 'exit 130' INT

for i in $(seq 100); do
	curl -fsS -m 2 "$api/app/version" >/dev/null 2>&1 && break
	kill -0 "$qbt" 2>/dev/null || die "qbittorrent-nox exited: $(tail -n 5 "$profile/out.log")"
	((i < 100)) || die "qBittorrent's Web API did not answer at $api within 10 s"
	sleep 0.1
done

if [[ $torrent =~ ^https?:// ]]; then
	curl -fsS -m 30 -o "$dir/.qbt/add.torrent" "$torrent" || die "cannot fetch $torrent"
	torrent=$dir/.qbt/add.torrent
fi
[[ -f $torrent ]] || die "no torrent file at $torrent"
curl -fsS -m 30 -F "torrents=@$torrent" -F "savepath=$dir" "$api/torrents/add" >/dev/null ||
	die "qBittorrent refused the torrent"

# Every second: qBittorrent's progress (1 = every piece verified) and state. The download is
# complete when progress is 1 and the state is a seeding one (checking ends first).
last=
while :; do
	info=$(curl -fsS -m 10 "$api/torrents/info" || true)
	progress=$(grep -o '"progress":[0-9.e+-]*' <<<"$info" | head -n1 | cut -d: -f2)
	state=$(grep -o '"state":"[a-zA-Z]*"' <<<"$info" | head -n1 | cut -d'"' -f4)
	case $state in
	uploading | stalledUP | queuedUP | forcedUP | pausedUP)
		[[ $progress == 1 ]] && exit 0
		;;
	error | missingFiles)
		die "qBittorrent reports '$state' for the torrent"
		;;
	esac
	if [[ "$state $progress" != "$last" ]]; then
		echo "$(date +%T) $state ${progress:-?}"
		last="$state $progress"
	fi
	kill -0 "$qbt" 2>/dev/null || die "qbittorrent-nox exited: $(tail -n 5 "$profile/out.log")"
	sleep 1
done
