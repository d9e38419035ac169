#!/usr/bin/env bash
# tests/k8s/test_images.sh - the container images of k8s/images/*.Dockerfile, without a container
# engine (none runs here):
#   - every FROM is pinned by digest (@sha256: + 64 hex digits);
#   - every `apt-get install -y --no-install-recommends \` block (one per stage, one package a line)
#     resolves: `apt-get install -s` (simulate) with exactly that package list and an empty dpkg
#     status (so every dependency must come from the archive) on THIS machine's apt lists, which
#     must be the images' Debian release (bookworm; checked in /etc/os-release);
#   - the final stage installs, among its packages and their dependencies, the package of every
#     shared library that the image's own binaries link (readelf NEEDED of build/bin/cnote-server
#     for the server image, cnote-kernel and cnote-exec for the kernel image; dpkg -S here names
#     the package), so a library dropped from the list or newly linked is caught;
#   - the final stage has a numeric non-root USER (uid:gid, so that runAsNonRoot can verify it),
#     a WORKDIR, and strips setuid/setgid bits;
#   - every COPY source (not --from) exists in the repository (the build context is the repo root);
#   - a pip requirements file that a Dockerfile COPYs resolves on PyPI: `pip install --dry-run
#     --no-deps` (time-bounded; reported as skipped, not failed, when PyPI cannot be reached).
# Exit status 0 if all pass; each failure is printed with the file and the reason.
set -uo pipefail
cd "$(dirname "$0")/../.."

fails=0
fail() { echo "  FAIL $*"; fails=$((fails + 1)); }
ok() { echo "  ok   $*"; }

. /etc/os-release
if [[ ${VERSION_CODENAME:-} != bookworm ]]; then
    echo "test_images: FAIL: this machine is ${PRETTY_NAME:-unknown}; the images are Debian 12 (bookworm)," \
        "so apt-get --simulate here would not tell whether their packages resolve" >&2
    exit 1
fi
echo "  note: this machine is $PRETTY_NAME, the release of the images' base (bookworm)"

empty=$(mktemp)
trap 'rm -f "$empty"' EXIT
shopt -s nullglob
files=(k8s/images/*.Dockerfile)
declare -A image_bins=([cnote-server]="build/bin/cnote-server"
    [cnote-kernel]="build/bin/cnote-kernel build/bin/cnote-exec")

# the Debian package (without :arch) holding the shared library with this soname here; dpkg
# knows a file by the path its package ships (/lib/... or /usr/lib/..., whatever /usr-merge did)
soname_pkg() {
    local path real p
    path=$(ldconfig -p | awk -v l="$1" '$1 == l { print $NF; exit }')
    [[ -n $path ]] || return 1
    real=$(readlink -f "$path")
    for p in "$path" "$real" "${path#/usr}" "/usr$path" "${real#/usr}" "/usr$real"; do
        dpkg -S "$p" 2>/dev/null | head -1 | cut -d: -f1 | grep . && return 0
    done
    return 1
}
((${#files[@]})) || { echo "test_images: FAIL: no k8s/images/*.Dockerfile" >&2; exit 1; }

for df in "${files[@]}"; do
    img=$(basename "$df" .Dockerfile)
    # ---- stages and their apt-get blocks (parsed with awk: FROM lines start a stage) ----
    # output lines: "FROM <ref> <stage#>", "PKG <stage#> <name>", "USER <stage#> <value>",
    # "WORKDIR <stage#>", "COPY <stage#> <src>", "SUID <stage#>"
    parsed=$(awk '
        function flush() { }
        /^FROM[ \t]/ { st++; print "FROM", $2, st; inpk = 0; next }
        /apt-get install -y --no-install-recommends[ \t]*\\$/ { inpk = 1; next }
        inpk {
            line = $0; sub(/^[ \t]+/, "", line)
            if (line ~ /^&&/ || line == "") { inpk = 0; next }
            cont = (line ~ /\\$/); sub(/[ \t]*\\$/, "", line)
            if (line != "") print "PKG", st, line
            if (!cont) inpk = 0
            next
        }
        /^USER[ \t]/ { print "USER", st, $2; next }
        /^WORKDIR[ \t]/ { print "WORKDIR", st; next }
        /^COPY[ \t]/ && $0 !~ /--from=/ { for (i = 2; i < NF; i++) if ($i !~ /^--/) print "COPY", st, $i; next }
        /-perm \/6000/ && /chmod a-s/ { print "SUID", st }
    ' "$df")
    nst=$(grep -c '^FROM ' <<<"$parsed")
    # ---- digests ----
    while read -r _ ref n; do
        if [[ $ref =~ @sha256:[0-9a-f]{64}$ ]]; then
            ok "$img stage $n: $ref pinned by digest"
        else
            fail "$img stage $n: base image '$ref' is not pinned by digest (@sha256:<64 hex>)"
        fi
    done < <(grep '^FROM ' <<<"$parsed")
    # ---- packages resolve ----
    for n in $(seq 1 "$nst"); do
        mapfile -t pkgs < <(awk -v s="$n" '$1 == "PKG" && $2 == s { print $3 }' <<<"$parsed")
        ((${#pkgs[@]})) || continue
        for p in "${pkgs[@]}"; do
            [[ $p =~ ^[a-z0-9][a-z0-9+.-]+$ ]] || fail "$img stage $n: '$p' is not a package name (keep one per line)"
        done
        # against an EMPTY dpkg status: the whole dependency closure must come from the archive,
        # not from what happens to be installed on this machine (stricter than a slim base)
        out=$(LC_ALL=C apt-get install -s --no-install-recommends -o Dir::State::status="$empty" "${pkgs[@]}" 2>&1)
        rc=$?
        if ((rc == 0)) && ! grep -qE '^E:' <<<"$out"; then
            ninst=$(grep -c '^Inst ' <<<"$out")
            ok "$img stage $n: apt-get -s resolves ${#pkgs[@]} packages (${pkgs[*]}): $ninst with dependencies"
            if ((n == nst)) && [[ -n ${image_bins[$img]:-} ]]; then
                for bin in ${image_bins[$img]}; do
                    if [[ ! -x $bin ]]; then
                        fail "$img: $bin is not built (run make first), its libraries not checked"
                        continue
                    fi
                    missing=()
                    for so in $(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'); do
                        pkg=$(soname_pkg "$so") || { missing+=("$so (no package here)"); continue; }
                        grep -q "^Inst $pkg " <<<"$out" || missing+=("$so ($pkg)")
                    done
                    if ((${#missing[@]})); then
                        fail "$img: the final stage lacks what $bin links: ${missing[*]}"
                    else
                        ok "$img: the final stage has every library $bin links"
                    fi
                done
            fi
        else
            fail "$img stage $n: apt-get install -s ${pkgs[*]} failed (run apt-get update first?):"
            grep -E '^(E:| )' <<<"$out" | head -20 | sed 's/^/         /'
        fi
    done
    # ---- final stage: user, workdir, setuid ----
    last_user=$(awk -v s="$nst" '$1 == "USER" && $2 == s { u = $3 } END { print u }' <<<"$parsed")
    if [[ -z $last_user ]]; then
        fail "$img: the final stage sets no USER (it would run as root)"
    elif [[ ! $last_user =~ ^([0-9]+)(:[0-9]+)?$ ]]; then
        fail "$img: USER '$last_user' is not numeric (runAsNonRoot cannot verify a name)"
    elif ((BASH_REMATCH[1] == 0)); then
        fail "$img: USER is root ($last_user)"
    else
        ok "$img: final USER $last_user (non-root, numeric)"
    fi
    grep -q "^WORKDIR $nst$" <<<"$parsed" && ok "$img: final stage has a WORKDIR" ||
        fail "$img: the final stage has no WORKDIR"
    grep -q "^SUID $nst$" <<<"$parsed" && ok "$img: final stage strips setuid/setgid bits" ||
        fail "$img: the final stage does not strip setuid/setgid bits (find / -xdev -perm /6000 ... chmod a-s)"
    # ---- COPY sources exist in the context (the repo root) ----
    while read -r _ n src; do
        if compgen -G "$src" >/dev/null; then :; else fail "$img stage $n: COPY source '$src' does not exist"; fi
    done < <(grep '^COPY ' <<<"$parsed")
    # ---- pip requirement files resolve ----
    while read -r _ n src; do
        [[ $src == *requirements*.txt ]] || continue
        pip=.venv/bin/pip
        [[ -x $pip ]] || pip=pip3
        if ! command -v "$pip" >/dev/null; then
            echo "  note: $img: no pip here, $src not checked"
            continue
        fi
        t=$(mktemp -d)
        out=$(timeout 300 "$pip" install --dry-run --ignore-installed --no-deps --disable-pip-version-check \
            -q --report "$t/report.json" --target "$t/target" -r "$src" 2>&1)
        rc=$?
        if ((rc == 0)); then
            want=$(grep -cE '^[A-Za-z0-9]' "$src")
            got=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["install"]))' "$t/report.json")
            if [[ $want == "$got" ]]; then
                ok "$img: $src resolves on the package index ($got pinned wheels, --no-deps)"
            else
                fail "$img: $src lists $want requirements, pip would install $got"
            fi
        elif grep -qiE 'NewConnectionError|Temporary failure in name resolution|Network is unreachable|ProxyError|Could not fetch URL' <<<"$out"; then
            echo "  note: $img: the package index cannot be reached, $src not checked"
        elif ((rc == 124)); then
            fail "$img: pip install --dry-run -r $src took more than 300 s"
        else
            fail "$img: pip install --dry-run -r $src failed:"
            tail -5 <<<"$out" | sed 's/^/         /'
        fi
        rm -rf "$t"
    done < <(grep '^COPY ' <<<"$parsed")
done

if ((fails)); then
    echo "test_images: FAIL ($fails)"
    exit 1
fi
echo "test_images: ok"
