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

variable "dask_nodes" {
  description = "Instances in the run: 1 = the runner alone (local process pool); N > 1 = a Dask cluster of N (the runner plus N-1 workers)."
  type        = number
  default     = 1
}

variable "vcpus" {
  description = "vCPUs of instance_type: each node of a cluster runs one single-threaded Dask worker process per vCPU."
  type        = number
  default     = 1
}

variable "efs_address" {
  description = "IPv4 address of the cluster's EFS mount target (the shared spool); empty without a cluster."
  type        = string
  default     = ""
}

variable "scheduler_port" {
  description = "TCP port of the cluster's Dask scheduler on the runner."
  type        = number
  default     = 8786
}

variable "scheduler_host" {
  description = "Private IPv4 address of the runner, where a cluster's worker nodes find the Dask scheduler; empty without a cluster."
  type        = string
  default     = ""
}
