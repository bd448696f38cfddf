#!/usr/bin/env bash
# Query a committed run in Athena, reading everything else from the outputs of infra/terraform.
#   infra/query.sh                 # the newest committed run, the stack's example query (events per type)
#   infra/query.sh RUN_ID ['SQL']  # a given run; <RUN_ID> in SQL is replaced by it
#   WAIT_S=1200 infra/query.sh     # first wait up to 20 minutes for a run to commit (after terraform apply)
# Stops early when the runner reports a failure (_bootstrap_failed or _run_failed newer than the instance).
# Needs: terraform, the aws CLI, and credentials that may list the bucket, use its KMS key and run Athena queries.
set -euo pipefail
tf=$(cd "$(dirname "$0")/terraform" && pwd)
out() { terraform -chdir="$tf" output -raw "$1"; }
region=$(out region) bucket=$(out bucket) workgroup=$(out athena_workgroup) instance=$(out instance_id)
prefix=$(out events_path); prefix=${prefix#"s3://$bucket/"}
export AWS_REGION=$region AWS_DEFAULT_REGION=$region

latest_run() {
  aws s3api list-objects-v2 --bucket "$bucket" --prefix "$prefix/events/" \
    --query "Contents[?ends_with(Key, '/_SUCCESS')].Key" --output text | tr '\t' '\n' | grep _SUCCESS | sort |
    tail -n 1 | sed -E 's#.*/run_id=([^/]+)/_SUCCESS$#\1#'
}
failure() {  # a marker written after this instance launched, printed
  local launched modified
  launched=$(aws ec2 describe-instances --instance-ids "$instance" --query 'Reservations[0].Instances[0].LaunchTime' --output text)
  for marker in _bootstrap_failed _run_failed; do
    modified=$(aws s3api head-object --bucket "$bucket" --key "$prefix/$marker" --query LastModified --output text 2> /dev/null) || continue
    if [[ ! "$modified" < "$launched" ]]; then  # both ISO 8601 in UTC, as the CLI prints them
      aws s3 cp --only-show-errors "s3://$bucket/$prefix/$marker" -
      return 0
    fi
  done
  return 1
}

run_id=${1:-}
deadline=$((SECONDS + ${WAIT_S:-0}))
while [ -z "$run_id" ]; do
  run_id=$(latest_run || true)
  [ -n "$run_id" ] && break
  if failure; then echo "the runner failed (see above)" >&2; exit 1; fi
  if [ "$SECONDS" -ge "$deadline" ]; then echo "no committed run under s3://$bucket/$prefix/events/" >&2; exit 1; fi
  sleep 20
done
sql=${2:-$(out athena_query)}
sql=${sql//<RUN_ID>/$run_id}
echo "run $run_id, workgroup $workgroup: $sql" >&2
qid=$(aws athena start-query-execution --work-group "$workgroup" --query-string "$sql" --query QueryExecutionId --output text)
while :; do
  state=$(aws athena get-query-execution --query-execution-id "$qid" --query QueryExecution.Status.State --output text)
  case $state in QUEUED | RUNNING) sleep 2 ;; *) break ;; esac
done
if [ "$state" != SUCCEEDED ]; then
  aws athena get-query-execution --query-execution-id "$qid" --query QueryExecution.Status.StateChangeReason --output text >&2
  exit 1
fi
aws athena get-query-results --query-execution-id "$qid" --query 'ResultSet.Rows[*].Data[*].VarCharValue' --output text
