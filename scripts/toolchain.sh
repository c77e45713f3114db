#!/usr/bin/env bash
# npm run toolchain: make `npx pulumi` work on a machine that cannot download the official
# Pulumi CLI, by building it from the Go module proxy at the versions package.json pins.
# On a machine with internet this is not needed: `npx pulumi` downloads the official binary.
#
# Installs into $PULUMI_HOME/versions/<version>/bin (where the npm package `pulumi` looks for
# its cached CLI, see node_modules/pulumi/lib/cache.js), so `npx pulumi` finds it there.
# Idempotent: does nothing when `npx pulumi version` already answers the pinned version.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

pin() { node -p "require('./package.json').$1"; }
cli_version=$(pin 'dependencies.pulumi')
host_version=$(pin 'boreal.toolchain.languageHost')
command_version=$(pin 'boreal.toolchain.commandProvider')
dest="${PULUMI_HOME:-$HOME/.pulumi}/versions/$cli_version/bin"
say() { printf 'toolchain: %s\n' "$*" >&2; }

export GOFLAGS=-mod=mod

build() { # build <wrapper module dir> <package> <output> <version>
  local started=$SECONDS
  # Go only when something must be built: a warm install (or one from ../shared/plugins) needs none.
  if ! command -v go >/dev/null; then
    say "Go is needed to build $(basename "$3") here (apt-get install golang, or /usr/local/go/bin on PATH)"
    exit 1
  fi
  (cd "$root/toolchain/$1" && go build -trimpath \
    -ldflags "-s -w -X github.com/pulumi/pulumi/sdk/v3/go/common/version.Version=v$4" \
    -o "$3.tmp" "$2")
  mv -f "$3.tmp" "$3"
  say "built $(basename "$3") v$4 in $((SECONDS - started))s"
}

mkdir -p "$dest"
if [ "$("$dest/pulumi" version 2>/dev/null)" = "v$cli_version" ]; then
  say "pulumi v$cli_version already installed in $dest"
else
  say "building the Pulumi CLI v$cli_version from the Go module proxy (cold: about 5 minutes on 2 cores)"
  build cli github.com/pulumi/pulumi/pkg/v3/cmd/pulumi "$dest/pulumi" "$cli_version"
fi

# The Node.js language host. The one matching the CLI (its own module, which this proxy
# refuses) comes as a reproducible build in ../shared/plugins where this workplace has it:
# policy packs need it. Otherwise build the newest the SDK module still carries (3.68.0),
# which runs programs but not policy packs.
# The workplace's shared plugins: beside the repository (../shared/plugins), or where the
# workplace keeps them when the clone lives elsewhere (a CI checkout), or where told.
shared_plugins=""
for dir in "${BOREAL_SHARED_PLUGINS:-}" "$root/../shared/plugins" /work/shared/plugins; do
  if [ -n "$dir" ] && [ -d "$dir" ]; then shared_plugins=$(cd "$dir" && pwd); break; fi
done
shared_host="$shared_plugins/pulumi-language-nodejs-v$cli_version-linux-amd64"
if [ -x "$shared_host" ]; then
  if ! cmp -s "$shared_host" "$dest/pulumi-language-nodejs"; then
    install -m 0755 "$shared_host" "$dest/pulumi-language-nodejs"
    say "pulumi-language-nodejs v$cli_version installed from $shared_host"
  fi
  echo "$cli_version" > "$dest/.language-host-version"
elif [ -x "$dest/pulumi-language-nodejs" ] && [ "$(cat "$dest/.language-host-version" 2>/dev/null)" = "$host_version" ]; then
  say "pulumi-language-nodejs v$host_version already installed"
else
  build language-host github.com/pulumi/pulumi/sdk/v3/nodejs/cmd/pulumi-language-nodejs "$dest/pulumi-language-nodejs" "$host_version"
  echo "$host_version" > "$dest/.language-host-version"
fi

# The command provider plugin (for @pulumi/command). Its Go module
# (github.com/pulumi/pulumi-command/provider) has no tags of its own, and the module
# proxy reachable here refuses every pseudo-version of it: say so, and go on.
pulumi() { "$dest/pulumi" "$@"; }
shared_plugin="${shared_plugins:-$root/../shared/plugins}/pulumi-resource-command-v$command_version-linux-amd64"
if pulumi plugin ls --json 2>/dev/null | node -e 'const p=JSON.parse(require("fs").readFileSync(0,"utf8")||"[]");process.exit(p.some(x=>x.name==="command"&&x.version==="'"$command_version"'")?0:1)'; then
  say "command provider v$command_version already installed"
elif [ -n "${BOREAL_COMMAND_PROVIDER_BINARY:-}" ] || [ -x "$shared_plugin" ]; then
  binary=${BOREAL_COMMAND_PROVIDER_BINARY:-$shared_plugin}
  pulumi plugin install resource command "$command_version" --file "$binary"
  say "command provider v$command_version installed from $binary"
else
  say "command provider v$command_version is NOT installed: it cannot be built from this Go module proxy."
  say "  With internet: npx pulumi plugin install resource command $command_version"
  say "  With a binary: BOREAL_COMMAND_PROVIDER_BINARY=/path/to/pulumi-resource-command npm run toolchain"
  say "  (or put it at $shared_plugin)"
fi

"$dest/pulumi" version >/dev/null
say "ready: $(npx --no-install pulumi version) in $dest"
