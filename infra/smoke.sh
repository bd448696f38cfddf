#!/usr/bin/env bash
# End-to-end smoke test against a real AWS account: apply, wait for a committed run, check it, destroy.
# Needs: terraform, the aws CLI, python3, and credentials allowed to create the stack.
# It cannot run in this project's CI (no AWS access, no provider download); run it by hand:
#   SSH_CIDR=203.0.113.7/32 infra/smoke.sh
set -euo pipefail
here=$(cd "$(dirname "$0")/terraform" && pwd)
: "${SSH_CIDR:?set SSH_CIDR to your address, e.g. 203.0.113.7/32}"
REGION=${REGION:-af-south-1}
EVENTS=${EVENTS:-2100000}
TIMEOUT_S=${TIMEOUT_S:-1800}
tfvars=(-var "region=$REGION" -var "ssh_cidr=$SSH_CIDR" -var "generator_args=--events $EVENTS" -var "force_destroy=true")

cleanup() { echo "destroying..."; terraform -chdir="$here" destroy -auto-approve -input=false "${tfvars[@]}"; }
trap cleanup EXIT

terraform -chdir="$here" init -input=false
terraform -chdir="$here" apply -auto-approve -input=false "${tfvars[@]}"
bucket=$(terraform -chdir="$here" output -raw bucket)
prefix=$(terraform -chdir="$here" output -raw events_path | sed "s#^s3://$bucket/##")

echo "waiting up to ${TIMEOUT_S}s for s3://$bucket/$prefix/events/run_id=*/_SUCCESS ..."
deadline=$((SECONDS + TIMEOUT_S))
while :; do
  key=$(aws s3api list-objects-v2 --region "$REGION" --bucket "$bucket" --prefix "$prefix/events/" \
        --query "Contents[?ends_with(Key, '/_SUCCESS')].Key | [0]" --output text)
  [ "$key" != "None" ] && [ -n "$key" ] && break
  [ $SECONDS -ge $deadline ] && { echo "no _SUCCESS after ${TIMEOUT_S}s"; exit 1; }
  sleep 20
done
run_dir=${key%/_SUCCESS}
aws s3 cp --region "$REGION" "s3://$bucket/$run_dir/_manifest.json" /tmp/temu-gen-manifest.json
python3 - "$EVENTS" <<'PY'
import json, sys
m = json.load(open("/tmp/temu-gen-manifest.json"))
assert m["events"] == int(sys.argv[1]), m["events"]
assert sum(f["rows"] for f in m["files"]) == m["events"]
print(f"OK: run {m['run_id']}: {m['events']:,} events in {len(m['files'])} files, seed {m['seed']}")
PY
