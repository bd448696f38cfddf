output "bucket" {
  description = "The event-log bucket."
  value       = aws_s3_bucket.events.bucket
}

output "events_path" {
  description = "Where runs land: <events_path>/events/run_id=<id>/; pass it to --output."
  value       = local.events_uri
}

output "kms_key_arn" {
  description = "KMS key that encrypts the bucket (for --sse-kms-key-id)."
  value       = aws_kms_key.events.arn
}

output "instance_id" {
  description = "The runner instance."
  value       = aws_instance.runner.id
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
  value       = var.ssh_public_key == "" ? "no key pair: use ssm_command" : "ssh ec2-user@${aws_instance.runner.public_dns}"
}

output "ssm_command" {
  description = "Open a shell through Session Manager (enable_ssm = true)."
  value       = "aws ssm start-session --region ${var.region} --target ${aws_instance.runner.id}"
}

output "watch_command" {
  description = "Follow the generator's log on the instance."
  value       = "sudo journalctl -fu temu-gen.service"
}
