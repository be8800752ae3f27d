#!/usr/bin/env bash
# Validates the Kubernetes manifests in deploy/k8s against the Kubernetes API schemas, offline:
# kubernetes-validate (PyPI) ships the JSON schemas of every Kubernetes version it supports inside
# the package, so nothing is downloaded at run time beyond the package itself. --strict rejects
# unknown fields (a misspelt `readinesProbe` fails). It is installed into target/k8s-venv
# (git-ignored), never outside the repository.
#
#   deploy/k8s/validate.sh [KUBERNETES_VERSION...]    # default: 1.29.0 1.33.0
#
# tests/deploy.rs checks what a schema cannot: probes, ports and environment variables against
# the binary's real flags, the model ConfigMap against models/, and the Jobs' commands.
set -euo pipefail
cd "$(dirname "$0")/../.."

versions=("$@")
((${#versions[@]})) || versions=(1.29.0 1.33.0)

venv=target/k8s-venv
if [[ ! -x "$venv/bin/kubernetes-validate" ]]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'kubernetes-validate>=1.33'
fi

manifests=()
for f in deploy/k8s/*.yaml; do
  # kustomization.yaml is kustomize's input, not an API object.
  [[ "$(basename "$f")" == kustomization.yaml ]] || manifests+=("$f")
done
for v in "${versions[@]}"; do
  "$venv/bin/kubernetes-validate" --strict --quiet -k "$v" "${manifests[@]}"
  echo "deploy/k8s: ${#manifests[@]} files valid against Kubernetes $v (strict)"
done
