#!/usr/bin/env python3
"""Generates the `berth check` benchmark inputs.

  generate.py OUT_DIR [--objects 10000] [--per-file 100] [--wheel kubernetes_validate-*.whl --k8s 1.34]

* OUT_DIR/stack/: N objects across files of PER_FILE documents each: a mix of Deployments,
  StatefulSets (with headless Services), Services, ConfigMaps, HPAs and PVCs, written the way
  a careful team writes them (probes, requests and limits, pinned images), so both tools spend
  their time validating, not printing findings.
* OUT_DIR/schemas/: with --wheel, kubeconform schemas for those kinds, from the same
  kubernetes-validate package berth's embedded schemas come from (strict flavour, descriptions
  dropped as in berth, `_definitions.json` inlined so kubeconform needs no network).
"""

import argparse
import json
import os
import zipfile


def app(i):
    name = f"svc-{i:05d}"
    labels = f"{{app: {name}, tier: backend}}"
    container = f"""      containers:
        - name: app
          image: registry.example.com/team/{name}:1.{i % 20}.{i % 7}
          ports: [{{containerPort: 8080, name: http}}]
          env:
            - {{name: MODE, value: production}}
            - name: CONFIG
              valueFrom: {{configMapKeyRef: {{name: {name}-config, key: mode}}}}
          readinessProbe: {{httpGet: {{path: /healthz, port: 8080}}, periodSeconds: 5}}
          resources:
            requests: {{cpu: 100m, memory: 128Mi}}
            limits: {{memory: 256Mi}}"""
    docs = [
        f"""apiVersion: v1
kind: ConfigMap
metadata: {{name: {name}-config, labels: {labels}}}
data: {{mode: production, level: info}}""",
        f"""apiVersion: v1
kind: Service
metadata: {{name: {name}, labels: {labels}}}
spec:
  selector: {labels}
  ports: [{{name: http, port: 80, targetPort: http}}]""",
    ]
    if i % 3 == 2:
        docs.append(f"""apiVersion: v1
kind: Service
metadata: {{name: {name}-headless, labels: {labels}}}
spec:
  clusterIP: None
  selector: {labels}
  ports: [{{name: http, port: 8080}}]""")
        docs.append(f"""apiVersion: apps/v1
kind: StatefulSet
metadata: {{name: {name}, labels: {labels}}}
spec:
  serviceName: {name}-headless
  selector: {{matchLabels: {labels}}}
  template:
    metadata: {{labels: {labels}}}
    spec:
{container}
          volumeMounts: [{{name: data, mountPath: /data}}]
  volumeClaimTemplates:
    - metadata: {{name: data}}
      spec:
        accessModes: [ReadWriteOnce]
        storageClassName: gp2
        resources: {{requests: {{storage: 1Gi}}}}""")
    else:
        docs.append(f"""apiVersion: v1
kind: PersistentVolumeClaim
metadata: {{name: {name}-cache, labels: {labels}}}
spec:
  accessModes: [ReadWriteOnce]
  storageClassName: gp2
  resources: {{requests: {{storage: 2Gi}}}}""")
        docs.append(f"""apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, labels: {labels}}}
spec:
  selector: {{matchLabels: {labels}}}
  strategy: {{type: RollingUpdate, rollingUpdate: {{maxSurge: 1, maxUnavailable: 0}}}}
  template:
    metadata: {{labels: {labels}}}
    spec:
{container}
          volumeMounts: [{{name: cache, mountPath: /cache}}]
      volumes:
        - name: cache
          persistentVolumeClaim: {{claimName: {name}-cache}}""")
        docs.append(f"""apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {{name: {name}, labels: {labels}}}
spec:
  scaleTargetRef: {{apiVersion: apps/v1, kind: Deployment, name: {name}}}
  minReplicas: 2
  maxReplicas: 10
  metrics:
    - type: Resource
      resource: {{name: cpu, target: {{type: Utilization, averageUtilization: 70}}}}""")
    return docs


KINDS = [
    ("deployment-apps-v1", "io.k8s.api.apps.v1.Deployment"),
    ("statefulset-apps-v1", "io.k8s.api.apps.v1.StatefulSet"),
    ("service-v1", "io.k8s.api.core.v1.Service"),
    ("configmap-v1", "io.k8s.api.core.v1.ConfigMap"),
    ("horizontalpodautoscaler-autoscaling-v2", "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"),
    ("persistentvolumeclaim-v1", "io.k8s.api.core.v1.PersistentVolumeClaim"),
]


def strip(schema):
    if isinstance(schema, list):
        return [strip(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for k, v in schema.items():
        if k == "description":
            continue
        if k in ("properties", "$defs"):
            out[k] = {n: strip(s) for n, s in v.items()}
        elif k == "$ref":
            out[k] = v.replace("/api/_definitions.json#", "#")
        else:
            out[k] = strip(v)
    return out


def schemas(wheel, minor, out):
    base = f"kubernetes_validate/kubernetes-json-schema/v{minor}.0-local-strict"
    folder = os.path.join(out, f"v{minor}.0-standalone-strict")
    os.makedirs(folder, exist_ok=True)
    with zipfile.ZipFile(wheel) as z:
        defs = strip(json.loads(z.read(f"{base}/_definitions.json"))["$defs"])
        for filename, _ in KINDS:
            top = strip(json.loads(z.read(f"{base}/{filename}.json")))
            top.pop("$id", None)
            top["$defs"] = defs
            with open(os.path.join(folder, f"{filename}.json"), "w") as f:
                json.dump(top, f, separators=(",", ":"))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("out")
    ap.add_argument("--objects", type=int, default=10000)
    ap.add_argument("--per-file", type=int, default=100)
    ap.add_argument("--wheel")
    ap.add_argument("--k8s", default="1.34")
    args = ap.parse_args()
    stack = os.path.join(args.out, "stack")
    os.makedirs(stack, exist_ok=True)
    docs, i = [], 0
    while len(docs) < args.objects:
        docs.extend(app(i))
        i += 1
    docs = docs[: args.objects]
    for n in range(0, len(docs), args.per_file):
        with open(os.path.join(stack, f"part-{n // args.per_file:04d}.yaml"), "w") as f:
            f.write("\n---\n".join(docs[n : n + args.per_file]) + "\n")
    if args.wheel:
        schemas(args.wheel, args.k8s, os.path.join(args.out, "schemas"))
    print(f"{len(docs)} objects in {(len(docs) + args.per_file - 1) // args.per_file} files -> {stack}")


if __name__ == "__main__":
    main()
