#!/bin/bash
# The whole flow on a cluster: the volume, the shards, then (once all have completed) the
# merge and training. Kubernetes has no dependency between Jobs, hence the wait.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
kubectl apply -f "$here/volume.yaml"
kubectl apply -f "$here/extract-job.yaml"
kubectl wait --for=condition=complete job/tlkit-extract --timeout="${TIMEOUT:-24h}"
kubectl apply -f "$here/merge-train-job.yaml"
kubectl wait --for=condition=complete job/tlkit-merge-train --timeout="${TIMEOUT:-24h}"
