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
# The oldest KEDA the chart works with: its kafka trigger sets the broker version 4.1.1, which
# the Sarama client of older KEDA releases does not know.
readonly KEDA_MIN_VERSION="2.21.0"
readonly METRICS_SERVER_CHART_VERSION="3.12.2"
# What the system (bundled Kafka and MongoDB, two web pods, a consumer) plus KEDA and
# metrics-server request, rounded up: a default minikube (2 CPUs, ~2.2 GB) does not hold it.
readonly REQUIRED_CPU_MILLIS=1500
readonly REQUIRED_MEMORY_MIB=3584
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
INSTALL_KEDA=1
INSTALL_METRICS_SERVER=1
CHECK_CAPACITY=1
TIMEOUT="10m"
VALUES_ARGS=()
BUILD_ARGS=()
IMAGE_VALUES=""
trap '[[ -z "$IMAGE_VALUES" ]] || rm -f "$IMAGE_VALUES"' EXIT

usage() {
  cat <<EOF
Usage: ./setup-env.sh [options]

Deploys the shopping system to the current kube context (kind, minikube, Docker Desktop or any
other cluster, also a self-managed or air-gapped one). Without a current context it creates a
kind cluster named "${KIND_CLUSTER}" when kind is installed.

Steps: check the tools; pick or create the cluster; check that it has room for the system;
build the image and load it into kind/minikube or push it to --registry; install
metrics-server and KEDA ${KEDA_VERSION} unless the cluster already has working ones; install or
upgrade the chart into namespace "${NAMESPACE}" (Pod Security "restricted") with --wait; run
helm test; print how to open the storefront and generate load.

Image options:
  --registry REGISTRY   push the image to REGISTRY (e.g. registry.example.com/shop) and deploy
                        it from there; needed to build for a cluster that is not kind,
                        minikube or Docker Desktop
  --tag TAG             image tag (default: git describe of this checkout)
  --skip-build          do not build or push: deploy REGISTRY/shopsys:TAG (or shopsys:TAG)
                        that is already in the registry or on the nodes (air-gapped clusters);
                        kind and minikube still get the local image loaded. Needs --tag when
                        the checkout has uncommitted changes
  --build-arg NAME=VAL  passed to docker build (repeatable), e.g. PYTHON_IMAGE=my/python:3.11
                        to build from a base image of your own
  --build-network MODE  docker build --network MODE, e.g. host when the build must use the
                        host's network to reach the package index

Cluster options:
  --values FILE         extra values file for the chart (repeatable; it may also set image.*),
                        e.g. an external Kafka and MongoDB: chart/ci/external-kafka-mongodb-values.yaml
  --namespace NS        namespace of the release (default: ${NAMESPACE})
  --kind-name NAME      name of the kind cluster to create or reuse (default: ${KIND_CLUSTER})
  --skip-keda           never install KEDA (the chart uses it if its CRDs exist)
  --skip-metrics-server never install metrics-server
  --skip-capacity-check do not check the nodes' allocatable CPU and memory first
  --timeout DURATION    helm --timeout for each install (default: ${TIMEOUT})
  --no-test             skip helm test
  -h, --help            show this help

KEDA and metrics-server are detected, not assumed: a KEDA operator of version
${KEDA_MIN_VERSION} or newer is used as it is, an older one is an error; metrics-server counts
as present only when /apis/metrics.k8s.io/v1beta1/nodes answers.

Needs: kubectl and helm (v3) on PATH; docker to build; kind or minikube for a local cluster.
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
      --build-arg)
        [[ $# -ge 2 && "$2" == *=* ]] || die "--build-arg needs NAME=VALUE"
        BUILD_ARGS+=(--build-arg "$2"); shift 2 ;;
      --build-network) [[ $# -ge 2 ]] || die "--build-network needs a value"; BUILD_ARGS+=(--network "$2"); shift 2 ;;
      --skip-keda) INSTALL_KEDA=0; shift ;;
      --skip-metrics-server) INSTALL_METRICS_SERVER=0; shift ;;
      --skip-capacity-check) CHECK_CAPACITY=0; shift ;;
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
  if [[ $BUILD -eq 1 ]] && ! command -v docker >/dev/null 2>&1; then
    printf 'error: docker is required to build the image but not found on PATH - install it: https://docs.docker.com/get-docker/ (or deploy an existing image with --skip-build --tag TAG)\n' >&2
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
      # Its context may be missing from the kubeconfig (deleted, or another KUBECONFIG).
      kind export kubeconfig --name "$KIND_CLUSTER" >/dev/null
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
  if [[ "$PLATFORM" == "remote" && -z "$REGISTRY" && $BUILD -eq 1 ]]; then
    die "kube context \"${context}\" is not kind, minikube or Docker Desktop: pass --registry REGISTRY so the cluster can pull the image (or --skip-build --tag TAG to deploy an image the nodes already have)"
  fi
  log "Using kube context ${context} (${PLATFORM})"
}

# A clean checkout's tag is its git describe, the same on every run; uncommitted changes get a
# timestamp, which only a build can make real - so --skip-build then needs --tag.
default_tag() {
  local tag
  if tag="$(git -C "$ROOT" describe --always --dirty=-dirty 2>/dev/null)" && [[ "$tag" != *-dirty ]]; then
    printf '%s' "$tag"
  elif [[ $BUILD -eq 0 ]]; then
    die "--skip-build needs --tag TAG here: ${tag:+this checkout has uncommitted changes, so }there is no tag an earlier build is known to have used"
  else
    printf '%s.%s' "${tag:-dev}" "$(date +%Y%m%d%H%M%S)"
  fi
}

build_and_ship_image() {
  [[ -n "$IMAGE_TAG" ]] || IMAGE_TAG="$(default_tag)"
  IMAGE_REPOSITORY="${REGISTRY:+${REGISTRY}/}${IMAGE_NAME}"
  local image="${IMAGE_REPOSITORY}:${IMAGE_TAG}"
  if [[ $BUILD -eq 1 ]]; then
    log "Building image ${image}"
    docker build ${BUILD_ARGS[@]+"${BUILD_ARGS[@]}"} --tag "$image" "$ROOT"
  else
    log "Not building (--skip-build): deploying ${image}"
  fi
  if [[ -n "$REGISTRY" ]]; then
    if [[ $BUILD -eq 1 ]]; then
      log "Pushing ${image}"
      docker push "$image"
    fi
  elif [[ "$PLATFORM" == "kind" ]]; then
    log "Loading ${image} into kind cluster ${KIND_CLUSTER}"
    kind load docker-image "$image" --name "$KIND_CLUSTER"
  elif [[ "$PLATFORM" == "minikube" ]]; then
    command -v minikube >/dev/null 2>&1 || die "the context is minikube but the minikube command is not on PATH"
    log "Loading ${image} into minikube"
    minikube image load "$image"
  elif [[ "$PLATFORM" == "docker-desktop" ]]; then
    log "Docker Desktop shares the image store with its cluster: nothing to load"
  else
    log "Using ${image} as present on the nodes (no --registry)"
  fi
  # A values file, not --set: the tag stays a string (a short git hash is all digits), and a
  # user's --values given later can still override the image.
  IMAGE_VALUES="$(mktemp "${TMPDIR:-/tmp}/shopsys-image-values.XXXXXX")"
  printf 'image:\n  repository: "%s"\n  tag: "%s"\n' "$IMAGE_REPOSITORY" "$IMAGE_TAG" >"$IMAGE_VALUES"
}

# Sums of the nodes' allocatable CPU (millicores) and memory (MiB).
to_millicpu() {
  local q="$1"
  case "$q" in
    *m) printf '%s' "${q%m}" ;;
    *) awk -v q="$q" 'BEGIN { printf "%d", q * 1000 }' ;;
  esac
}

to_mib() {
  local q="$1"
  awk -v q="$q" 'BEGIN {
    n = q + 0; u = substr(q, length(n "") + 1)
    f["Ki"] = 1 / 1024; f["Mi"] = 1; f["Gi"] = 1024; f["Ti"] = 1048576
    f["k"] = 1000 / 1048576; f["M"] = 1000000 / 1048576; f["G"] = 1000000000 / 1048576
    printf "%d", (u in f) ? n * f[u] : n / 1048576
  }'
}

check_capacity() {
  if [[ $CHECK_CAPACITY -eq 0 ]]; then
    return
  fi
  local cpu=0 mem=0 node_cpu node_mem
  while read -r node_cpu node_mem; do
    [[ -n "$node_cpu" ]] || continue
    cpu=$((cpu + $(to_millicpu "$node_cpu")))
    mem=$((mem + $(to_mib "$node_mem")))
  done < <(kubectl get nodes -o jsonpath='{range .items[*]}{.status.allocatable.cpu} {.status.allocatable.memory}{"\n"}{end}')
  if [[ $cpu -lt $REQUIRED_CPU_MILLIS || $mem -lt $REQUIRED_MEMORY_MIB ]]; then
    local hint=""
    [[ "$PLATFORM" != "minikube" ]] || hint=" - e.g. minikube delete && minikube start --cpus 4 --memory 6g"
    die "the cluster's nodes can allocate ${cpu}m CPU and ${mem} MiB of memory; the system with KEDA and metrics-server requests about ${REQUIRED_CPU_MILLIS}m and ${REQUIRED_MEMORY_MIB} MiB: give the cluster more${hint} (or --skip-capacity-check)"
  fi
  log "Capacity: ${cpu}m CPU and ${mem} MiB allocatable"
}

# KEDA's CPU scaler (and the fallback HPA) need the resource metrics API. A metrics-server whose
# APIService exists but does not answer counts as absent: CPU scaling would silently do nothing.
ensure_metrics_server() {
  if kubectl get --raw /apis/metrics.k8s.io/v1beta1/nodes >/dev/null 2>&1; then
    log "metrics-server: already present (the metrics API answers)"
    return
  fi
  if [[ $INSTALL_METRICS_SERVER -eq 0 ]]; then
    log "metrics-server: the metrics API does not answer, and --skip-metrics-server: CPU autoscaling will not work until it does"
    return
  fi
  if kubectl get apiservice v1beta1.metrics.k8s.io >/dev/null 2>&1 \
      && [[ -z "$(kubectl get deployment metrics-server -n kube-system -o name 2>/dev/null || true)" ]]; then
    die "the APIService v1beta1.metrics.k8s.io exists but /apis/metrics.k8s.io/v1beta1/nodes does not answer, and it is not the kube-system/metrics-server this script installs: fix it (kubectl describe apiservice v1beta1.metrics.k8s.io) or pass --skip-metrics-server"
  fi
  local args=()
  if [[ "$PLATFORM" == "kind" || "$PLATFORM" == "minikube" || "$PLATFORM" == "docker-desktop" ]]; then
    # Local clusters' kubelets serve self-signed certificates.
    args=(--set "args={--kubelet-insecure-tls}")
  fi
  log "Installing metrics-server ${METRICS_SERVER_CHART_VERSION}"
  helm upgrade --install metrics-server metrics-server \
    --repo "$METRICS_SERVER_CHART_REPO" --version "$METRICS_SERVER_CHART_VERSION" \
    --namespace kube-system ${args[@]+"${args[@]}"} --wait --timeout "$TIMEOUT"
}

# 0 when version $1 >= $2 (both MAJOR.MINOR.PATCH, an optional leading v).
version_at_least() {
  local a="${1#v}" b="${2#v}"
  [[ "$(printf '%s\n%s\n' "$b" "$a" | sort -t. -k1,1n -k2,2n -k3,3n | head -n1)" == "$b" ]]
}

# The version of an installed KEDA operator: its app.kubernetes.io/version label, else its
# image tag; empty when there is none.
installed_keda() {
  kubectl get deployments --all-namespaces -l app=keda-operator \
    -o jsonpath='{range .items[*]}{.metadata.namespace} {.metadata.labels.app\.kubernetes\.io/version} {.spec.template.spec.containers[0].image}{"\n"}{end}' 2>/dev/null \
    | head -n1
}

ensure_keda() {
  local found namespace version image
  found="$(installed_keda || true)"
  if [[ -n "$found" ]]; then
    read -r namespace version image <<<"$found"
    if [[ ! "$version" =~ ^v?[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
      version="${image##*:}"
    fi
    if [[ ! "$version" =~ ^v?[0-9]+\.[0-9]+\.[0-9]+$ ]]; then
      [[ $INSTALL_KEDA -eq 0 ]] && { log "KEDA: found in namespace ${namespace}, version unknown; used as it is (--skip-keda)"; return; }
      die "a KEDA operator runs in namespace ${namespace}, but its version cannot be told (label app.kubernetes.io/version, image ${image}): pass --skip-keda to use it as it is"
    fi
    if version_at_least "$version" "$KEDA_MIN_VERSION"; then
      log "KEDA: ${version#v} already present in namespace ${namespace}"
      return
    fi
    [[ $INSTALL_KEDA -eq 0 ]] && { log "KEDA: ${version#v} in namespace ${namespace} is older than ${KEDA_MIN_VERSION}; used as it is (--skip-keda)"; return; }
    die "KEDA ${version#v} runs in namespace ${namespace}; the chart needs ${KEDA_MIN_VERSION} or newer: upgrade it, or pass --skip-keda to use it as it is"
  fi
  if [[ $INSTALL_KEDA -eq 0 ]]; then
    log "KEDA: not installed (--skip-keda); the chart falls back to a plain HPA for web and fixed consumers"
    return
  fi
  log "Installing KEDA ${KEDA_VERSION} into namespace keda"
  helm upgrade --install keda keda \
    --repo "$KEDA_CHART_REPO" --version "$KEDA_VERSION" \
    --namespace keda --create-namespace --wait --timeout "$TIMEOUT"
}

# Every pod of the chart meets the Pod Security "restricted" profile: the namespace enforces it
# (unless it already has an enforce level of its own).
prepare_namespace() {
  if ! kubectl get namespace "$NAMESPACE" >/dev/null 2>&1; then
    kubectl create namespace "$NAMESPACE" >/dev/null
  fi
  local level
  level="$(kubectl get namespace "$NAMESPACE" -o jsonpath='{.metadata.labels.pod-security\.kubernetes\.io/enforce}' 2>/dev/null || true)"
  if [[ -z "$level" ]]; then
    kubectl label namespace "$NAMESPACE" pod-security.kubernetes.io/enforce=restricted >/dev/null
    level="restricted"
  fi
  log "Namespace ${NAMESPACE}: Pod Security \"${level}\" enforced"
}

install_chart() {
  log "Installing ${RELEASE} into namespace ${NAMESPACE}"
  helm upgrade --install "$RELEASE" "${ROOT}/chart" \
    --namespace "$NAMESPACE" \
    --values "$IMAGE_VALUES" ${VALUES_ARGS[@]+"${VALUES_ARGS[@]}"} \
    --wait --wait-for-jobs --timeout "$TIMEOUT"
}

run_tests() {
  if [[ $RUN_TESTS -eq 0 ]]; then
    log "Skipping helm test (--no-test)"
    return
  fi
  log "Running helm test (buys one item and reads it back)"
  # No --logs: a passed test Pod is deleted at once (so that helm uninstall leaves nothing).
  if ! helm test "$RELEASE" --namespace "$NAMESPACE" --timeout "$TIMEOUT"; then
    kubectl logs --namespace "$NAMESPACE" "pod/${RELEASE}-smoke" >&2 || true
    die "helm test failed: the log of its Pod is above"
  fi
}

# The chart's NOTES.txt is the one place that says how to reach and load the system.
print_next_steps() {
  log "The shopping system is running in namespace ${NAMESPACE}. Next steps:"
  helm get notes "$RELEASE" --namespace "$NAMESPACE"
  printf '\nRe-run ./setup-env.sh at any time: it upgrades in place.\n'
}

main() {
  parse_args "$@"
  check_tools
  select_cluster
  check_capacity
  build_and_ship_image
  ensure_metrics_server
  ensure_keda
  prepare_namespace
  install_chart
  run_tests
  print_next_steps
}

main "$@"
