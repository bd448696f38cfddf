#!/usr/bin/env bash
# End-to-end smoke test against a real AWS account: build the artifacts, apply, wait for a committed run, query it in
# Athena, check the manifest and the SNS message, destroy everything.
# Needs: terraform, the aws CLI, python3 with this project's test venv active (the build pins that environment), and
# credentials allowed to create the stack. It cannot run in this project's CI (no AWS access, no provider download).
# Cost: about 10-15 minutes of the instance (c6i.2xlarge: ~$0.38/h in eu-west-1, so ~$0.10), a few cents of S3,
# KMS, CloudWatch and Athena requests; the KMS key is scheduled for deletion (14 days, not billed while pending).
#   infra/smoke.sh                       # defaults: eu-west-1, 2.1M events
#   REGION=af-south-1 EVENTS=21000000 infra/smoke.sh
#   DASK_NODES=2 infra/smoke.sh          # a Dask cluster of two instances with an EFS spool (twice the instance cost)
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
here=$repo/infra/terraform
REGION=${REGION:-eu-west-1}
EVENTS=${EVENTS:-2100000}
TIMEOUT_S=${TIMEOUT_S:-1800}
DASK_NODES=${DASK_NODES:-1}
export AWS_REGION=$REGION AWS_DEFAULT_REGION=$REGION
tfvars=(-var "region=$REGION" -var "generator_args=--events $EVENTS" -var "force_destroy=true"
        -var "artifacts_dir=$repo/dist" -var "dask_nodes=$DASK_NODES")
queue_url=""

cleanup() {
  [ -n "$queue_url" ] && aws sqs delete-queue --queue-url "$queue_url" || true
  echo "destroying..."
  terraform -chdir="$here" destroy -auto-approve -input=false "${tfvars[@]}"
}
trap cleanup EXIT

python3 "$repo/scripts/build_artifacts.py" --out "$repo/dist"
terraform -chdir="$here" init -input=false
terraform -chdir="$here" apply -auto-approve -input=false "${tfvars[@]}"
bucket=$(terraform -chdir="$here" output -raw bucket)
topic=$(terraform -chdir="$here" output -raw run_committed_topic_arn)
prefix=$(terraform -chdir="$here" output -raw events_path | sed "s#^s3://$bucket/##")

# A queue on the topic, to see the message a pipeline would get (subscribed while the runner is still installing)
queue_url=$(aws sqs create-queue --queue-name "temu-gen-smoke-$RANDOM" --query QueueUrl --output text)
queue_arn=$(aws sqs get-queue-attributes --queue-url "$queue_url" --attribute-names QueueArn --query Attributes.QueueArn --output text)
policy=$(printf '{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"sns.amazonaws.com"},"Action":"sqs:SendMessage","Resource":"%s","Condition":{"ArnEquals":{"aws:SourceArn":"%s"}}}]}' "$queue_arn" "$topic")
aws sqs set-queue-attributes --queue-url "$queue_url" --attributes "$(python3 -c 'import json,sys; print(json.dumps({"Policy": sys.argv[1]}))' "$policy")"
aws sns subscribe --topic-arn "$topic" --protocol sqs --notification-endpoint "$queue_arn" --attributes RawMessageDelivery=true > /dev/null

echo "waiting up to ${TIMEOUT_S}s for a committed run, then querying it in Athena..."
rows=$(WAIT_S=$TIMEOUT_S "$repo/infra/query.sh")
echo "$rows"
total=$(echo "$rows" | awk 'NR > 1 { n += $2 } END { print n + 0 }')
[ "$total" -eq "$EVENTS" ] || { echo "Athena counted $total events, expected $EVENTS"; exit 1; }

key=$(aws s3api list-objects-v2 --bucket "$bucket" --prefix "$prefix/events/" \
      --query "Contents[?ends_with(Key, '/_SUCCESS')].Key | [0]" --output text)
run_dir=${key%/_SUCCESS}
aws s3 cp --only-show-errors "s3://$bucket/$run_dir/_manifest.json" /tmp/temu-gen-manifest.json
python3 - "$EVENTS" "$DASK_NODES" <<'PY'
import json, sys
m = json.load(open("/tmp/temu-gen-manifest.json"))
assert m["events"] == int(sys.argv[1]), m["events"]
assert sum(f["rows"] for f in m["files"]) == m["events"]
print(f"OK: run {m['run_id']}: {m['events']:,} events in {len(m['files'])} files, seed {m['seed']}, "
      f"engine {m['engine']}, {m['workers']} workers")
assert (m["engine"] == "dask") == (int(sys.argv[2]) > 1), m["engine"]
PY

message=""
for _ in $(seq 15); do
  message=$(aws sqs receive-message --queue-url "$queue_url" --wait-time-seconds 20 --query 'Messages[0].Body' --output text)
  [ "$message" != None ] && [ -n "$message" ] && break
done
case $message in
  *"s3://$bucket/$key"*) echo "OK: SNS announced it: $message" ;;
  *) echo "no SNS message naming s3://$bucket/$key (got: $message)"; exit 1 ;;
esac
state=$(aws ec2 describe-instances --instance-ids "$(terraform -chdir="$here" output -raw instance_id)" \
        --query 'Reservations[0].Instances[0].State.Name' --output text)
case $state in stopping | stopped) echo "OK: the runner powered off after the run ($state)" ;;
  *) echo "the runner is still $state after its run"; exit 1 ;; esac
if [ "$DASK_NODES" -gt 1 ]; then
  for id in $(terraform -chdir="$here" output -json cluster | python3 -c 'import json,sys; print(" ".join(json.load(sys.stdin)["worker_ids"]))'); do
    state=$(aws ec2 describe-instances --instance-ids "$id" --query 'Reservations[0].Instances[0].State.Name' --output text)
    case $state in stopping | stopped) echo "OK: worker node $id powered off after the run ($state)" ;;
      *) echo "worker node $id is still $state after the run"; exit 1 ;; esac
  done
fi
