# Builds a Go program from the Go module proxy into a cache shared by every clone on this
# machine, once per version. Sourced by scripts/install-*; prints nothing but errors.
#
#   go_tool_path NAME VERSION MODULE PACKAGE [GO.MOD LINES...]
# echoes the path of the binary, building it first if needed. The extra lines (replace and
# exclude directives the program's own go.mod needs) are appended to a throwaway wrapper module,
# because `go install` refuses modules that carry replace directives.

GO_TOOLS_CACHE="${GATEWAY_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/gateway-dev-tools}"

go_tool_path() {
  local name="$1" version="$2" module="$3" package="$4"
  shift 4
  local dir="$GO_TOOLS_CACHE/$name-$version"
  local binary="$dir/$name"
  if [ -x "$binary" ]; then
    echo "$binary"
    return 0
  fi
  command -v go >/dev/null 2>&1 || { echo "go is required to build $name $version (apt-get install golang, or the Go toolchain)" >&2; return 1; }
  mkdir -p "$dir"
  local work
  work="$(mktemp -d)"
  (
    set -e
    cd "$work"
    export GOFLAGS=-mod=mod GOMODCACHE="$GO_TOOLS_CACHE/gomod" CGO_ENABLED=0 GOTOOLCHAIN=local
    go mod init "${name}build" >/dev/null 2>&1
    for line in "$@"; do echo "$line" >> go.mod; done
    echo "building $name $version from the Go module proxy (once; cached in $dir)..." >&2
    go get "$module@$version" >/dev/null 2>"$work/get.log" || { cat "$work/get.log" >&2; exit 1; }
    go build -trimpath -ldflags="-s -w" -o "$binary.partial" "$package" 2>"$work/build.log" || { cat "$work/build.log" >&2; exit 1; }
    mv "$binary.partial" "$binary"
  )
  local status=$?
  rm -rf "$work"
  [ $status -eq 0 ] && echo "$binary"
  return $status
}
