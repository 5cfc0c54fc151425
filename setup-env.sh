#!/usr/bin/env bash
# setup-env.sh - one command from a Kubernetes cluster (or none) to a running shopping system.
#
# Builds the shopsys image, makes it available to the cluster, installs metrics-server (when
# absent) and KEDA at a pinned version, installs or upgrades the shopping-system chart, and runs
# its `helm test`. Safe to re-run: every step is an install-or-upgrade.
set -euo pipefail
# Written for bash 3.2 too (macOS): no empty "${array[@]}" expansions under set -u.

# Pinned versions. The KEDA CRD schemas the chart is validated against come from the same KEDA.
readonly KEDA_VERSION="2.21.0"
readonly METRICS_SERVER_CHART_VERSION="3.12.2"
readonly KEDA_CHART_REPO="https://kedacore.github.io/charts"
readonly METRICS_SERVER_CHART_REPO="https://kubernetes-sigs.github.io/metrics-server/"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly ROOT

RELEASE="shopping-system"
NAMESPACE="shopping-system"
KIND_CLUSTER="shopsys"
REGISTRY=""
IMAGE_NAME="shopsys"
IMAGE_TAG=""
BUILD=1
RUN_TESTS=1
TIMEOUT="10m"
VALUES_ARGS=()

usage() {
  cat <<EOF
Usage: ./setup-env.sh [options]

Deploys the shopping system to the current kube context (kind, minikube, Docker Desktop or a
remote cluster). Without a current context it creates a kind cluster named "${KIND_CLUSTER}"
when kind is installed.

Steps: check kubectl, helm and docker; pick or create the cluster; build the image and load it
into kind/minikube (or push it with --registry); install metrics-server when absent; install
KEDA ${KEDA_VERSION} into namespace "keda"; install or upgrade the chart into "${NAMESPACE}"
with --wait; run helm test; print how to open the storefront and generate load.

Options:
  --registry REGISTRY   push the image to REGISTRY (e.g. ghcr.io/me) instead of loading it
                        into the cluster; required for remote clusters
  --tag TAG             image tag (default: from git describe)
  --skip-build          do not build; deploy an image that already exists
  --values FILE         extra values file for the chart (repeatable), e.g. to use an external
                        Kafka and MongoDB: see chart/ci/external-kafka-mongodb-values.yaml
  --namespace NS        namespace of the release (default: ${NAMESPACE})
  --kind-name NAME      name of the kind cluster to create or reuse (default: ${KIND_CLUSTER})
  --timeout DURATION    helm --timeout for each install (default: ${TIMEOUT})
  --no-test             skip helm test
  -h, --help            show this help

Needs: kubectl, helm (v3) and docker on PATH; kind or minikube for a local cluster.
EOF
}

log() { printf '==> %s\n' "$*"; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

parse_args() {
  while [[ $# -gt 0 ]]; do
    case "$1" in
      -h|--help) usage; exit 0 ;;
      --registry) [[ $# -ge 2 ]] || die "--registry needs a value"; REGISTRY="${2%/}"; shift 2 ;;
      --tag) [[ $# -ge 2 ]] || die "--tag needs a value"; IMAGE_TAG="$2"; shift 2 ;;
      --skip-build) BUILD=0; shift ;;
      --values)
        [[ $# -ge 2 ]] || die "--values needs a file"
        [[ -f "$2" ]] || die "values file not found: $2"
        VALUES_ARGS+=(--values "$2"); shift 2 ;;
      --namespace) [[ $# -ge 2 ]] || die "--namespace needs a value"; NAMESPACE="$2"; shift 2 ;;
      --kind-name) [[ $# -ge 2 ]] || die "--kind-name needs a value"; KIND_CLUSTER="$2"; shift 2 ;;
      --timeout) [[ $# -ge 2 ]] || die "--timeout needs a value"; TIMEOUT="$2"; shift 2 ;;
      --no-test) RUN_TESTS=0; shift ;;
      *) usage >&2; die "unknown option: $1" ;;
    esac
  done
}

# Every missing tool is reported, each with where to get it, before giving up.
check_tools() {
  local missing=0
  if ! command -v kubectl >/dev/null 2>&1; then
    printf 'error: kubectl is required but not found on PATH - install it: https://kubernetes.io/docs/tasks/tools/\n' >&2
    missing=1
  fi
  if ! command -v helm >/dev/null 2>&1; then
    printf 'error: helm (v3) is required but not found on PATH - install it: https://helm.sh/docs/intro/install/\n' >&2
    missing=1
  fi
  if ! command -v docker >/dev/null 2>&1; then
    printf 'error: docker is required to build the image but not found on PATH - install it: https://docs.docker.com/get-docker/\n' >&2
    missing=1
  fi
  [[ $missing -eq 0 ]] || exit 1
}

# Uses the current kube context; without one, creates (or reuses) a kind cluster.
select_cluster() {
  local context
  context="$(kubectl config current-context 2>/dev/null || true)"
  if [[ -z "$context" ]]; then
    command -v kind >/dev/null 2>&1 \
      || die "no current kube context and kind is not installed: point kubectl at a cluster, or install kind (https://kind.sigs.k8s.io/) to get a local one"
    local existing="" name
    while IFS= read -r name; do
      [[ "$name" == "$KIND_CLUSTER" ]] && existing=1
    done < <(kind get clusters 2>/dev/null || true)
    if [[ -n "$existing" ]]; then
      log "Reusing kind cluster ${KIND_CLUSTER}"
      kubectl config use-context "kind-${KIND_CLUSTER}" >/dev/null
    else
      log "No kube context: creating kind cluster ${KIND_CLUSTER}"
      kind create cluster --name "$KIND_CLUSTER" --wait 120s
    fi
    context="kind-${KIND_CLUSTER}"
  fi
  kubectl cluster-info >/dev/null 2>&1 \
    || die "cannot reach the cluster of kube context \"${context}\": check it with 'kubectl cluster-info'"

  case "$context" in
    kind-*) PLATFORM="kind"; KIND_CLUSTER="${context#kind-}" ;;
    minikube) PLATFORM="minikube" ;;
    docker-desktop|docker-for-desktop) PLATFORM="docker-desktop" ;;
    *) PLATFORM="remote" ;;
  esac
  if [[ "$PLATFORM" == "remote" && -z "$REGISTRY" ]]; then
    die "kube context \"${context}\" is not kind, minikube or Docker Desktop: pass --registry REGISTRY so the cluster can pull the image"
  fi
  log "Using kube context ${context} (${PLATFORM})"
}

default_tag() {
  local tag
  if tag="$(git -C "$ROOT" describe --always --dirty="-dirty.$(date +%Y%m%d%H%M%S)" 2>/dev/null)"; then
    printf '%s' "$tag"
  else
    printf 'dev.%s' "$(date +%Y%m%d%H%M%S)"
  fi
}

build_and_ship_image() {
  [[ -n "$IMAGE_TAG" ]] || IMAGE_TAG="$(default_tag)"
  IMAGE_REPOSITORY="${REGISTRY:+${REGISTRY}/}${IMAGE_NAME}"
  local image="${IMAGE_REPOSITORY}:${IMAGE_TAG}"
  if [[ $BUILD -eq 1 ]]; then
    log "Building image ${image}"
    docker build --tag "$image" "$ROOT"
  fi
  if [[ -n "$REGISTRY" ]]; then
    log "Pushing ${image}"
    docker push "$image"
  elif [[ "$PLATFORM" == "kind" ]]; then
    log "Loading ${image} into kind cluster ${KIND_CLUSTER}"
    kind load docker-image "$image" --name "$KIND_CLUSTER"
  elif [[ "$PLATFORM" == "minikube" ]]; then
    command -v minikube >/dev/null 2>&1 || die "the context is minikube but the minikube command is not on PATH"
    log "Loading ${image} into minikube"
    minikube image load "$image"
  else
    log "Docker Desktop shares the image store with its cluster: nothing to load"
  fi
}

# KEDA's CPU scaler (and the fallback HPA) need the resource metrics API.
ensure_metrics_server() {
  if kubectl get apiservice v1beta1.metrics.k8s.io >/dev/null 2>&1; then
    log "metrics-server: already present"
    return
  fi
  local args=()
  if [[ "$PLATFORM" == "kind" || "$PLATFORM" == "minikube" ]]; then
    # Local clusters' kubelets serve self-signed certificates.
    args=(--set "args={--kubelet-insecure-tls}")
  fi
  log "Installing metrics-server ${METRICS_SERVER_CHART_VERSION}"
  helm upgrade --install metrics-server metrics-server \
    --repo "$METRICS_SERVER_CHART_REPO" --version "$METRICS_SERVER_CHART_VERSION" \
    --namespace kube-system ${args[@]+"${args[@]}"} --wait --timeout "$TIMEOUT"
}

install_keda() {
  log "Installing KEDA ${KEDA_VERSION} into namespace keda"
  helm upgrade --install keda keda \
    --repo "$KEDA_CHART_REPO" --version "$KEDA_VERSION" \
    --namespace keda --create-namespace --wait --timeout "$TIMEOUT"
}

install_chart() {
  log "Installing ${RELEASE} into namespace ${NAMESPACE}"
  helm upgrade --install "$RELEASE" "${ROOT}/chart" \
    --namespace "$NAMESPACE" --create-namespace \
    --set "image.repository=${IMAGE_REPOSITORY}" --set "image.tag=${IMAGE_TAG}" \
    ${VALUES_ARGS[@]+"${VALUES_ARGS[@]}"} \
    --wait --wait-for-jobs --timeout "$TIMEOUT"
}

run_tests() {
  if [[ $RUN_TESTS -eq 0 ]]; then
    log "Skipping helm test (--no-test)"
    return
  fi
  log "Running helm test (buys one item and reads it back)"
  helm test "$RELEASE" --namespace "$NAMESPACE" --logs --timeout "$TIMEOUT"
}

print_next_steps() {
  local image="${IMAGE_REPOSITORY}:${IMAGE_TAG}"
  cat <<EOF

The shopping system is running in namespace ${NAMESPACE}.

Open the storefront:
  kubectl -n ${NAMESPACE} port-forward svc/${RELEASE}-web 8000:80
  then browse http://localhost:8000/

Generate load and watch KEDA scale web (CPU) and the consumer (Kafka lag):
  kubectl -n ${NAMESPACE} run shopsys-load --rm -it --restart=Never --image=${image} \\
    -- load --web-url http://${RELEASE}-web:80
  kubectl -n ${NAMESPACE} get scaledobject,hpa,pods -w

Re-run ./setup-env.sh at any time: it upgrades in place.
EOF
}

main() {
  parse_args "$@"
  check_tools
  select_cluster
  build_and_ship_image
  ensure_metrics_server
  install_keda
  install_chart
  run_tests
  print_next_steps
}

main "$@"
