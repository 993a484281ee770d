#!/bin/sh
# Install whatever pulltop's build, tests, demo and bench need and is missing.
# Debian 12; run as root (or with everything already installed).
set -e
PKGS="build-essential pkg-config libncurses-dev libcurl4-openssl-dev
libjansson-dev zlib1g-dev libssl-dev libarchive-dev libzstd-dev
docker-registry skopeo umoci tmux hyperfine curl python3 openssl
apache2-utils ncurses-term groff-base valgrind clang libclang-rt-14-dev time bc zstd
containerd docker.io podman"
missing=""
for p in $PKGS; do
	dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed' ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" != 0 ]; then
	echo "pulltop: missing packages:$missing (run 'make deps' as root)" >&2
	exit 1
fi
echo "make deps: installing$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
