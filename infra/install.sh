#!/usr/bin/env bash
# Installs the OS prerequisites of the shardcast local stack on Debian 12 (or Ubuntu),
# non-interactively, skipping what is already there:
#   clickhouse-server clickhouse-client   ClickHouse (run by `shardcast stack up` as our own process)
#   postgresql-15 postgresql-contrib      the PostgreSQL shard nodes (pg_stat_statements)
#   openjdk-17-jdk-headless maven         Kafka, Apicurio Registry, Neo4j (jars from Maven Central)
#   chromium                              the console's browser tests (driven by playwright-core; no browser download)
# Package installs never create or start the system services: no `main` PostgreSQL cluster,
# no ClickHouse service on 8123/9000 (the stack runs its own on those ports).
# Usage: infra/install.sh   (as root, or with sudo available)
set -euo pipefail

have_pkg() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'; }

need=()
for p in clickhouse-server clickhouse-client postgresql-15 postgresql-contrib chromium; do
  have_pkg "$p" || need+=("$p")
done
if ! command -v java >/dev/null 2>&1 || ! command -v javac >/dev/null 2>&1; then
  need+=(openjdk-17-jdk-headless)
fi
command -v mvn >/dev/null 2>&1 || need+=(maven)

if ((${#need[@]} == 0)); then
  echo "infra/install.sh: prerequisites present (clickhouse-server, postgresql-15, java, maven, chromium)"
  exit 0
fi

SUDO=
if [[ $(id -u) -ne 0 ]]; then
  if command -v sudo >/dev/null 2>&1; then
    SUDO=sudo
  else
    echo "infra/install.sh: need root to install: ${need[*]}" >&2
    exit 1
  fi
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "infra/install.sh: apt-get not found; install by hand: ${need[*]}" >&2
  exit 1
fi

# No default PostgreSQL cluster on 5432 from the Debian package.
$SUDO mkdir -p /etc/postgresql-common/createcluster.d
echo 'create_main_cluster = false' | $SUDO tee /etc/postgresql-common/createcluster.d/50-shardcast.conf >/dev/null

# Keep package scripts from starting services (clickhouse-server would take 8123/9000).
policy=/usr/sbin/policy-rc.d
placed_policy=
if [[ ! -e $policy ]]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee "$policy" >/dev/null
  $SUDO chmod 755 "$policy"
  placed_policy=1
fi
cleanup() { if [[ -n $placed_policy ]]; then $SUDO rm -f "$policy"; fi; }
trap cleanup EXIT

export DEBIAN_FRONTEND=noninteractive
echo "infra/install.sh: installing ${need[*]}"
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -q
$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${need[@]}"

# Where systemd runs, make sure the packaged ClickHouse service stays off.
if command -v systemctl >/dev/null 2>&1 && [[ -d /run/systemd/system ]]; then
  $SUDO systemctl disable --now clickhouse-server >/dev/null 2>&1 || true
fi
echo "infra/install.sh: done"
