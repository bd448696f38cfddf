output "bucket" {
  description = "The event-log bucket."
  value       = aws_s3_bucket.events.bucket
}

output "events_path" {
  description = "Where runs land: <events_path>/events/run_id=<id>/; pass it to --output."
  value       = local.events_uri
}

output "artifacts_uri" {
  description = "Where the runner's wheelhouse is (for its architecture)."
  value       = "s3://${aws_s3_bucket.events.bucket}/${local.artifacts_prefix}/${module.runner_config.architecture}/"
}

output "kms_key_arn" {
  description = "KMS key that encrypts the bucket (for --sse-kms-key-id)."
  value       = aws_kms_key.events.arn
}

output "instance_id" {
  description = "The runner instance."
  value       = aws_instance.runner.id
}

output "instance_type" {
  description = "Type, architecture and zone of the runner."
  value       = "${var.instance_type} (${module.runner_config.architecture}) in ${module.runner_config.availability_zone}"
}

output "ami_id" {
  description = "The AMI the runner was created from (kept until follow_latest_ami = true)."
  value       = terraform_data.ami.output
}

output "instance_public_dns" {
  description = "Public DNS name of the runner."
  value       = aws_instance.runner.public_dns
}

output "role_arn" {
  description = "IAM role the runner's instance profile carries."
  value       = aws_iam_role.runner.arn
}

output "ssh_command" {
  description = "SSH in (needs ssh_public_key and your address inside ssh_cidr)."
  value       = var.ssh_public_key == "" ? "no key pair: set ssh_public_key and ssh_cidr, or enable_ssm = true" : "ssh ec2-user@${aws_instance.runner.public_dns}"
}

output "ssm_command" {
  description = "Open a shell through Session Manager (enable_ssm = true)."
  value       = var.enable_ssm ? "aws ssm start-session --region ${var.region} --target ${aws_instance.runner.id}" : "Session Manager is off: apply with -var enable_ssm=true"
}

output "watch_command" {
  description = "Follow the generator's log on the instance."
  value       = "sudo journalctl -fu temu-gen.service"
}

output "glue_database" {
  description = "Glue database of the event tables."
  value       = aws_glue_catalog_database.events.name
}

output "athena_workgroup" {
  description = "Athena workgroup for the tables (encrypted results, scan limit per query)."
  value       = aws_athena_workgroup.events.name
}

output "athena_query" {
  description = "An example query; put a committed run id in place of <RUN_ID> (infra/query.sh does, for the newest run)."
  value       = local.example_query
}

output "run_committed_topic_arn" {
  description = "SNS topic that gets a message when a run writes _SUCCESS."
  value       = aws_sns_topic.runs.arn
}

output "region" {
  description = "The stack's region (for the aws CLI)."
  value       = var.region
}

output "cluster" {
  description = "The Dask cluster (dask_nodes > 1): its worker nodes, the shared EFS spool, and the vCPUs (Dask worker processes) it runs; null without one."
  value = local.cluster ? {
    nodes          = var.dask_nodes
    worker_ids     = aws_instance.worker[*].id
    efs_id         = aws_efs_file_system.spool[0].id
    worker_threads = var.dask_nodes * data.aws_ec2_instance_type.runner.default_vcpus
  } : null
}
