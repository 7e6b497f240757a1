#!/usr/bin/env bash
# Deploy by hand with kubectl and kn what terraform/app applies: the same manifests, the same
# settings. Needs Knative Serving + Eventing (with the Kafka source and sink), Strimzi and
# CloudNativePG on the cluster, and the image where the cluster can pull it, named so that a new
# build is a new name (a rebuilt tag would re-run neither the migration nor a rollout):
# side-loaded under kind.local/ with a tag taken from the image's id, as the README's "Deploy"
# builds it, or pinned by digest:
#   IMAGE=registry.example/orders@sha256:<digest> bash knative/deploy-with-kn.sh
# Knative resolves every other tag to a digest through its registry (registries-skipping-tag-
# resolving in config-deployment lists kind.local, ko.local and dev.local by default).
# (EVENT_AUTH=true also turns on the check of who fires the event functions.)
set -euo pipefail
cd "$(dirname "$0")"
: "${IMAGE:?set IMAGE: a kind.local/ tag made from the image id (README, Deploy) or name@sha256:<digest>}"
case "$IMAGE" in
  kind.local/* | ko.local/* | dev.local/* | *@sha256:*) ;;
  *) echo "IMAGE=$IMAGE: use a kind.local/, ko.local/ or dev.local/ tag or pin it by digest" >&2; exit 2 ;;
esac
NS=orders

kubectl create namespace "$NS" --dry-run=client -o yaml | kubectl apply -f -
kubectl apply -f kafka-cluster.yaml -f kafka-topics.yaml -f config.yaml
# EVENT_AUTH=true: only their sources may fire the event functions (Eventing's OIDC, alpha).
if [ "${EVENT_AUTH:-false}" = true ]; then
  kubectl patch configmap config-features -n knative-eventing --type merge \
    -p '{"data":{"authentication-oidc":"enabled"}}'
  kubectl patch configmap orders-event-auth -n "$NS" --type merge \
    -p '{"data":{"EVENT_AUTH_JWKS_URL":"https://kubernetes.default.svc/openid/v1/jwks"}}'
fi
kubectl apply -f - <<YAML
apiVersion: postgresql.cnpg.io/v1
kind: Cluster
metadata: {name: orders-db, namespace: $NS}
spec:
  instances: 2
  storage: {size: 10Gi}
  bootstrap: {initdb: {database: orders, owner: orders}}
YAML
kubectl wait --for=condition=Ready -n "$NS" cluster.postgresql.cnpg.io/orders-db --timeout=15m
kubectl wait --for=condition=Ready -n "$NS" kafka/orders --timeout=20m

# Migrations first: every function expects the schema at the Alembic head. The Job is named after
# the image (as terraform/app names it), so a new image migrates again and the same one is left be.
JOB="orders-migrate-$(printf %s "$IMAGE" | { sha256sum 2>/dev/null || shasum -a 256; } | cut -c1-12)"
kubectl apply -f - <<YAML
apiVersion: batch/v1
kind: Job
metadata: {name: $JOB, namespace: $NS}
spec:
  backoffLimit: 4
  template:
    metadata: {labels: {app: orders-migrate}}
    spec:
      restartPolicy: Never
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 10001
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: migrate
          image: $IMAGE
          imagePullPolicy: IfNotPresent
          command: [orders, migrate]
          env:
            - name: DATABASE_URL
              valueFrom: {secretKeyRef: {name: orders-db-app, key: uri}}
          resources:
            requests: {cpu: 100m, memory: 128Mi}
            limits: {cpu: "1", memory: 256Mi}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
YAML
kubectl wait --for=condition=Complete -n "$NS" "job/$JOB" --timeout=10m

# The Services are services.yaml itself: `kn service apply --filename` takes each document whole
# (sizes, timeouts, concurrency, scale, probes, security context, environment) and only the image
# changes here (kn notes it in its client.knative.dev/user-image annotation), so this path cannot
# drift from terraform's.
service() {  # name -> its Service document of services.yaml
  awk -v name="$1" 'BEGIN { RS = "\n---\n" } $0 ~ "\nkind: Service\n" && $0 ~ "\n  name: " name "\n"' services.yaml
}
manifests=$(mktemp -d)
trap 'rm -rf "$manifests"' EXIT
for name in orders-http confirm ship outbox-relay; do
  service "$name" > "$manifests/$name.yaml"
  kn service apply "$name" --namespace "$NS" --filename "$manifests/$name.yaml" --image "$IMAGE"
done

kubectl apply -f dead-letter-sink.yaml -f kafka-sources.yaml -f ping-source.yaml
kn service describe orders-http --namespace "$NS" -o url
