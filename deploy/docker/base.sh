#!/usr/bin/env bash
# Build queuegap's Debian 12 base image offline, without any image registry:
# debootstrap (minbase) from the Debian mirror apt already uses, then `docker import`.
#
#   deploy/docker/base.sh            # builds queuegap/debian:12 unless it exists and is current
#   QG_BASE_IMAGE=NAME deploy/docker/base.sh
#
# The testbed's Debian packages are installed into the base itself, so that building
# testbed/Dockerfile FROM it needs no network at all (its apt-get step sees them installed
# and does nothing). Users with a registry never need this script: testbed/Dockerfile
# defaults to FROM debian:12-slim and installs the same packages itself.
#
# Cached: the image carries the package list it was built with (ENV QG_BASE_PACKAGES); it is
# rebuilt only when that list changes or the image is missing.
set -euo pipefail

IMAGE=${QG_BASE_IMAGE:-queuegap/debian:12}
SUITE=bookworm
# Keep in step with testbed/Dockerfile and the Makefile's TESTBED_PACKAGES.
PACKAGES="nginx,uwsgi,uwsgi-plugin-python3,python3-django,gunicorn"

if have=$(docker image inspect -f '{{range .Config.Env}}{{println .}}{{end}}' "$IMAGE" 2>/dev/null); then
	if grep -qx "QG_BASE_PACKAGES=$PACKAGES" <<<"$have"; then
		echo "base image $IMAGE: cached"
		exit 0
	fi
	echo "base image $IMAGE: package list changed, rebuilding"
fi

[ "$(id -u)" = 0 ] || { echo "base.sh: debootstrap needs root" >&2; exit 1; }
command -v debootstrap >/dev/null || { echo "base.sh: debootstrap missing: apt-get install -y debootstrap" >&2; exit 1; }

# The mirror apt is configured with (deb822 .sources or one-line .list), else Debian's CDN.
mirror=$(
	{
		grep -hs '^URIs:' /etc/apt/sources.list.d/*.sources | awk '{print $2}'
		grep -hs '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list | awk '{print $2}'
	} | grep -v -- '-security' | grep -m1 '/debian/\?$' || true
)
mirror=${mirror:-http://deb.debian.org/debian}

dir=$(mktemp -d /tmp/qg-base-XXXXXX)
trap 'rm -rf "$dir"' EXIT
t0=$(date +%s)
echo "base image $IMAGE: debootstrap $SUITE from $mirror (a few minutes, once)"
if ! debootstrap --variant=minbase --include="$PACKAGES" "$SUITE" "$dir" "$mirror" >"$dir.log" 2>&1; then
	tail -20 "$dir.log" >&2
	echo "base.sh: debootstrap failed (log $dir.log)" >&2
	exit 1
fi
rm -f "$dir.log"
# Smaller image; apt works again after an apt-get update, as in debian:12-slim.
rm -rf "$dir"/var/cache/apt/archives/*.deb "$dir"/var/lib/apt/lists/* "$dir"/tmp/*
tar -C "$dir" -c . | docker import \
	--change "ENV QG_BASE_PACKAGES=$PACKAGES" \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
	--change 'CMD ["/bin/bash"]' \
	- "$IMAGE" >/dev/null
echo "base image $IMAGE: built in $(($(date +%s) - t0)) s"
