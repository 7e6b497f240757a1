#!/usr/bin/env bash
# Deploy by hand with kubectl and kn what terraform/app applies: the same manifests, the same
# settings. Needs Knative Serving + Eventing (with the Kafka source and sink), Strimzi and
# CloudNativePG on the cluster, and the image where the cluster can pull it: side-loaded under
# kind.local/ (the default, as the README's "Deploy" builds it), or pinned by digest:
#   IMAGE=registry.example/orders@sha256:<digest> bash knative/deploy-with-kn.sh
# Knative resolves every other tag to a digest through its registry (registries-skipping-tag-
# resolving in config-deployment lists kind.local, ko.local and dev.local by default).
# (EVENT_AUTH=true also turns on the check of who fires the event functions.)
set -euo pipefail
cd "$(dirname "$0")"
: "${IMAGE:=kind.local/orders:dev}"
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

# Migrations first: every function expects the schema at the Alembic head.
kubectl delete job -n "$NS" orders-migrate --ignore-not-found
kubectl apply -f - <<YAML
apiVersion: batch/v1
kind: Job
metadata: {name: orders-migrate, namespace: $NS}
spec:
  backoffLimit: 4
  template:
    spec:
      restartPolicy: Never
      containers:
        - name: migrate
          image: $IMAGE
          imagePullPolicy: IfNotPresent
          command: [orders, migrate]
          env:
            - name: DATABASE_URL
              valueFrom: {secretKeyRef: {name: orders-db-app, key: uri}}
YAML
kubectl wait --for=condition=Complete -n "$NS" job/orders-migrate --timeout=10m

deploy() {  # name target max-scale target-concurrency container-concurrency timeout [--cluster-local]
  kn service apply "$1" --namespace "$NS" --image "$IMAGE" \
    --env FUNCTION_TARGET="$2" \
    --env-value-from DATABASE_URL=secret:orders-db-app:uri \
    --env-from config-map:orders-config \
    --scale-min 0 --scale-max "$3" --scale-target "$4" --concurrency-limit "$5" --timeout "$6" \
    --probe-liveness http::8080:/healthz --probe-readiness http::8080:/readyz \
    --request cpu=100m,memory=96Mi --limit cpu=1,memory=256Mi "${@:7}"
}
deploy orders-http orders_http 10 100 0 30
# The event functions also take who may fire them: the audience their source names
# (sink.audience in kafka-sources.yaml, ping-source.yaml) and orders-event-auth.
sender() { echo --env "EVENT_AUTH_AUDIENCE=serving.knative.dev/service/$NS/$1" --env-from config-map:orders-event-auth; }
deploy confirm confirm 10 500 0 300 --cluster-local $(sender confirm)
deploy ship ship 10 500 0 300 --cluster-local $(sender ship)
deploy outbox-relay outbox_relay 2 1 1 120 --cluster-local $(sender outbox-relay)

kubectl apply -f dead-letter-sink.yaml -f kafka-sources.yaml -f ping-source.yaml
kn service describe orders-http --namespace "$NS" -o url
