# Inputs are already validated by the root module's variables; the facts about AWS (architectures, zones) come from
# its data sources, so this module needs no provider and tests can feed it any situation.

variable "instance_type" {
  description = "EC2 instance type."
  type        = string
}

variable "supported_architectures" {
  description = "The type's CPU architectures, as data.aws_ec2_instance_type reports them."
  type        = list(string)
}

variable "offered_zones" {
  description = "Availability zones of the region that offer instance_type."
  type        = list(string)
}

variable "usable_zones" {
  description = "Availability zones of the region that are available and need no opt-in."
  type        = list(string)
}

variable "requested_zone" {
  description = "The zone the operator asked for; null = the first usable zone that offers the type."
  type        = string
  default     = null
}

variable "artifacts_dir" {
  description = "Folder written by scripts/build_artifacts.py (artifacts.json, <arch>/requirements.txt, wheels)."
  type        = string
}

variable "artifacts_prefix" {
  description = "Key prefix of the artifacts in the bucket."
  type        = string
}

variable "bucket" {
  description = "The event-log bucket."
  type        = string
}

variable "events_prefix" {
  description = "Key prefix the generator writes under."
  type        = string
}

variable "region" {
  description = "AWS region."
  type        = string
}

variable "run_mode" {
  description = "once or schedule."
  type        = string
}

variable "schedule" {
  description = "systemd OnCalendar expression (run_mode = schedule)."
  type        = string
}

variable "spot" {
  description = "The instance is a persistent Spot instance that stops on interruption."
  type        = bool
}

variable "generator_args" {
  description = "Extra generator arguments."
  type        = string
}

variable "cloudwatch_logs" {
  description = "Ship the bootstrap and run logs to CloudWatch Logs."
  type        = bool
}

variable "log_group" {
  description = "CloudWatch log group for cloudwatch_logs."
  type        = string
}
