#!/bin/sh
# Regenerates the Karpenter schemas berth embeds (see NOTICE beside this script) from the CRD YAML
# of github.com/aws/karpenter-provider-aws, fetched through the Go module proxy. The provider
# module ships the CRDs its Helm chart installs on EKS: EC2NodeClass, and the NodePool of the
# sigs.k8s.io/karpenter version it requires with AWS's label restrictions added, so NodePool is
# taken from there too (the proxy does not serve every sigs.k8s.io/karpenter patch release).
#
#   crates/berth-model/schema/karpenter/update.sh [PROVIDER_VERSION]   (default: the one in VERSION)
#
# Needs go and python3 with PyYAML. Writes <group>_<version>_<Kind>.json (the `openAPIV3Schema`
# of each served version, unchanged) and VERSION; review the diff and run the tests.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
provider_version=${1:-$(sed -n 's/^karpenter-provider-aws //p' "$here/VERSION")}
provider_version=${provider_version#v}

download() { # module@version -> its folder in the module cache
    GOFLAGS=-mod=mod go mod download -json "$1" | python3 -c 'import json,sys; d=json.load(sys.stdin); sys.exit(d.get("Error")) if d.get("Error") else print(d["Dir"])'
}

provider_dir=$(download "github.com/aws/karpenter-provider-aws@v$provider_version")
core_version=$(sed -n 's/^[[:space:]]*sigs\.k8s\.io\/karpenter v\([^ ]*\).*/\1/p' "$provider_dir/go.mod" | head -n 1)
[ -n "$core_version" ] || { echo "no sigs.k8s.io/karpenter in $provider_dir/go.mod" >&2; exit 1; }

extract() { # CRD YAML file -> one JSON schema file per served version
    python3 - "$1" "$here" <<'PY'
import json, sys, yaml
crd = yaml.safe_load(open(sys.argv[1]))
group, kind = crd["spec"]["group"], crd["spec"]["names"]["kind"]
for v in crd["spec"]["versions"]:
    if not v.get("served", True):
        continue
    out = f"{sys.argv[2]}/{group}_{v['name']}_{kind}.json"
    with open(out, "w") as f:
        json.dump(v["schema"]["openAPIV3Schema"], f, indent=1, sort_keys=True)
        f.write("\n")
    print("wrote", out)
PY
}

extract "$provider_dir/pkg/apis/crds/karpenter.sh_nodepools.yaml"
extract "$provider_dir/pkg/apis/crds/karpenter.k8s.aws_ec2nodeclasses.yaml"
printf 'karpenter-provider-aws %s\nsigs.k8s.io/karpenter %s\n' "$provider_version" "$core_version" > "$here/VERSION"
echo "VERSION: karpenter-provider-aws $provider_version, sigs.k8s.io/karpenter $core_version"
