#!/usr/bin/env python3
"""Builds the Kubernetes JSON-schema sets that `berth check` embeds (schemas/k8s.json.gz).

Sources (no network besides the package registry, and the cluster you name):

  * the PyPI package `kubernetes-validate` (kubeconform-style `-local-strict` schemas, one set
    per Kubernetes minor version):

        pip download --no-deps kubernetes-validate==1.37.0 -d /tmp/kv
        python3 crates/berth-check/schemas/generate.py --wheel /tmp/kv/kubernetes_validate-1.37.0-py3-none-any.whl

  * a running cluster's `/openapi/v3` (read with kubectl), to cross-check one version:

        python3 crates/berth-check/schemas/generate.py --wheel ... --from-cluster ~/.kube/config

    The cluster's version replaces the wheel's set for the same minor.

What the output holds, to stay small (a few hundred KB for all versions):
  * `description`, `format` and the `x-kubernetes-*` annotations are dropped;
  * every definition is stored once in a pool keyed by its content; each version maps
    definition names to pool indexes, so versions share what did not change;
  * `gvk`: per version, `apiVersion/Kind` -> definition name (from `x-kubernetes-group-version-kind`).
  * int-or-string and quantity (`oneOf` of two nullable types, which null would match twice)
    become `anyOf`.
"""

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
DEFAULT_VERSIONS = [f"1.{m}" for m in range(25, 38)]
DROP = {"description", "format", "readOnly", "default", "example"}


def strip(schema):
    """Removes documentation and annotations from a schema node (not from property names)."""
    if isinstance(schema, list):
        return [strip(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key in DROP or key.startswith("x-kubernetes-"):
            continue
        if key in ("properties", "$defs", "patternProperties"):
            out[key] = {name: strip(sub) for name, sub in value.items()}
        elif key == "oneOf" and all(isinstance(s, dict) and set(s) == {"type"} for s in value):
            out["anyOf"] = strip(value)
        else:
            out[key] = strip(value)
    return out


def gvks(defs):
    """`apiVersion/Kind` -> definition name, from the definitions' GVK annotations."""
    index = {}
    for name, schema in defs.items():
        for gvk in schema.get("x-kubernetes-group-version-kind", []) or []:
            group, version, kind = gvk.get("group", ""), gvk["version"], gvk["kind"]
            api_version = f"{group}/{version}" if group else version
            # Only top-level objects have apiVersion+kind properties; DeleteOptions & co. are
            # annotated for every group, skip those.
            props = schema.get("properties", {})
            if "apiVersion" in props and "kind" in props and "metadata" in props:
                index[f"{api_version}/{kind}"] = name
    return index


def from_wheel(wheel, minor):
    base = f"kubernetes_validate/kubernetes-json-schema/v{minor}.0-local-strict/_definitions.json"
    with zipfile.ZipFile(wheel) as z:
        try:
            data = json.loads(z.read(base))
        except KeyError:
            return None
    return data["$defs"]


def kubectl_raw(kubeconfig, path):
    out = subprocess.run(
        ["kubectl", "--kubeconfig", kubeconfig, "get", "--raw", path],
        check=True, capture_output=True)
    return json.loads(out.stdout)


def v3_to_strict(schema):
    """OpenAPI v3 (cluster) -> the same shape as kubernetes-validate's strict sets."""
    if isinstance(schema, list):
        return [v3_to_strict(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {}
    for key, value in schema.items():
        if key == "$ref":
            out[key] = value.replace("#/components/schemas/", "#/$defs/")
        elif key == "properties":
            out[key] = {n: v3_to_strict(s) for n, s in value.items()}
        else:
            out[key] = v3_to_strict(value)
    if schema.get("x-kubernetes-int-or-string"):
        out = {"anyOf": [{"type": ["string", "null"]}, {"type": ["integer", "null"]}]}
    elif "allOf" in out and len(out["allOf"]) == 1 and set(out) <= {"allOf", "default", "description"}:
        out = out["allOf"][0]
    if "type" in out and isinstance(out["type"], str):
        out["type"] = [out["type"], "null"]
    if "properties" in out and not schema.get("x-kubernetes-preserve-unknown-fields"):
        out.setdefault("additionalProperties", False)
    return out


def from_cluster(kubeconfig):
    version = kubectl_raw(kubeconfig, "/version")
    minor = f"{version['major']}.{re.sub(r'[^0-9]', '', version['minor'])}"
    paths = kubectl_raw(kubeconfig, "/openapi/v3")["paths"]
    defs = {}
    for path, ref in paths.items():
        doc = kubectl_raw(kubeconfig, ref["serverRelativeURL"])
        for name, schema in doc.get("components", {}).get("schemas", {}).items():
            defs[name] = v3_to_strict(schema)
    # Quantity is a string in v3 with a format; kubernetes-validate accepts numbers too.
    q = "io.k8s.apimachinery.pkg.api.resource.Quantity"
    if q in defs:
        defs[q] = {"anyOf": [{"type": ["string", "null"]}, {"type": ["number", "null"]}]}
    return minor, defs


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--wheel", required=True, help="kubernetes_validate-*.whl (pip download --no-deps)")
    ap.add_argument("--versions", default=",".join(DEFAULT_VERSIONS))
    ap.add_argument("--from-cluster", metavar="KUBECONFIG", help="also read /openapi/v3 of this cluster")
    ap.add_argument("--out", default=os.path.join(HERE, "k8s.json.gz"))
    args = ap.parse_args()

    sets = {}
    for minor in args.versions.split(","):
        defs = from_wheel(args.wheel, minor)
        if defs is None:
            print(f"skip {minor}: not in the wheel", file=sys.stderr)
            continue
        sets[minor] = defs
    if args.from_cluster:
        minor, defs = from_cluster(args.from_cluster)
        print(f"cluster: Kubernetes {minor}, {len(defs)} definitions", file=sys.stderr)
        sets[minor] = defs

    pool, pool_index, versions = [], {}, {}
    for minor, defs in sets.items():
        names = {}
        for name, schema in sorted(defs.items()):
            text = json.dumps(strip(schema), sort_keys=True, separators=(",", ":"))
            if text not in pool_index:
                pool_index[text] = len(pool)
                pool.append(text)
            names[name] = pool_index[text]
        versions[minor] = {"defs": names, "gvk": gvks(defs)}
    doc = '{"pool":[' + ",".join(pool) + '],"versions":' + json.dumps(versions, separators=(",", ":"), sort_keys=True) + "}"
    raw = doc.encode()
    with open(args.out, "wb") as f:
        f.write(gzip.compress(raw, 9, mtime=0))
    size = os.path.getsize(args.out)
    print(f"{len(sets)} versions ({', '.join(sets)}), {len(pool)} distinct definitions, "
          f"{len(raw)} bytes JSON, {size} bytes gzip -> {args.out}", file=sys.stderr)


if __name__ == "__main__":
    main()
