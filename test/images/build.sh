#!/usr/bin/env bash
# Builds the local test image(s). No registry is reachable, so images come from the host's own
# binaries: orca-test/busybox:1 is Debian's static busybox (shell, httpd, nc, wget, sleep), ~2 MB.
# Usage: test/images/build.sh [--force]   (without --force an existing image is kept)
set -euo pipefail

image=orca-test/busybox:1
force=0
case "${1:-}" in
  --force) force=1 ;;
  "") ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

if [[ $force == 0 ]] && docker image inspect "$image" >/dev/null 2>&1; then
  echo "$image already present"
  exit 0
fi

busybox=/bin/busybox
[[ -x $busybox ]] || busybox=$(command -v busybox || true)
if [[ -z $busybox ]] || ! "$busybox" --list >/dev/null 2>&1; then
  echo "busybox not found: apt-get install busybox-static" >&2
  exit 1
fi
# A dynamically linked busybox would not run in an image without the host's libraries.
if ldd "$busybox" >/dev/null 2>&1; then
  echo "$busybox is dynamically linked: install busybox-static" >&2
  exit 1
fi

root=$(mktemp -d)
trap 'rm -rf "$root"' EXIT
mkdir -p "$root"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,var/www,root,proc,sys,dev}
chmod 1777 "$root/tmp"
cp "$busybox" "$root/bin/busybox"
# --list-full gives each applet's usual place (usr/bin/env, sbin/ifconfig), so scripts with
# absolute paths in their shebangs work; older builds only have --list.
if applets=$("$busybox" --list-full 2>/dev/null); then :; else
  applets=$("$busybox" --list | sed 's|^|bin/|')
fi
while read -r applet; do
  [[ -z $applet || $applet == bin/busybox ]] && continue
  ln -sf /bin/busybox "$root/$applet"
done <<<"$applets"
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n' >"$root/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$root/etc/group"

previous=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
tar -C "$root" --numeric-owner --owner=0 --group=0 -c . |
  docker import \
    --change 'ENV PATH=/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["/bin/sh"]' \
    - "$image" >/dev/null
# A rebuild would otherwise leave the old image behind, untagged.
if [[ -n $previous && $previous != $(docker image inspect -f '{{.Id}}' "$image") ]]; then
  docker rmi "$previous" >/dev/null 2>&1 || true
fi
echo "built $image ($(docker image inspect -f '{{.Size}}' "$image") bytes)"
