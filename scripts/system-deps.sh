#!/usr/bin/env bash
# Debian packages the lab, the agent and the data-plane tests need. Installs only what is missing, so a
# machine that has them all does not touch apt at all.
set -euo pipefail
# python3-venv: Debian's python3 cannot create the project's .venv without it.
packages=(python3-venv iproute2 iputils-ping tcpdump nftables libnftables1)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "system-deps: missing ${missing[*]}; run as root (or install them) to use the lab and the data-plane tests" >&2
  exit 0
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
