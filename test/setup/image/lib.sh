# shellcheck shell=bash disable=SC2034  # variables used by the scripts that source this
# Common settings of the image scripts. Sourced, not run.
#
# Environment honoured:
#   MILVUS_MIGRATE_CACHE   machine cache; dockerd's data-root lives in <cache>/docker (layers reused)
#   MILVUS_MIGRATE_STATE   per-checkout state root (<repo>/.cache); our dockerd's socket,
#                          pidfile and exec-root live in <state>/docker
#   IMAGE                  tag to build (default milvus-migrate:dev)
#   BASE_IMAGE_TAG         local base image tag (default milvus-migrate-base:local)
#   DOCKER_HOST            use this docker engine instead of starting one

IMAGE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source-path=SCRIPTDIR source=../cluster/lib.sh
source "$IMAGE_DIR/../cluster/lib.sh"

IMAGE="${IMAGE:-milvus-migrate:dev}"
BASE_IMAGE_TAG="${BASE_IMAGE_TAG:-milvus-migrate-base:local}"
DOCKER_STATE="$STATE_ROOT/docker"
DOCKER_SOCK="$DOCKER_STATE/docker.sock"
DOCKER_PIDFILE="$DOCKER_STATE/dockerd.pid"
DOCKER_DATA="$CACHE_ROOT/docker"
# Debian's dockerd (20.10) speaks API 1.41; the docker CLI in /usr/local/bin may be newer.
DOCKER_API="1.41"

log() { printf '[image %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
