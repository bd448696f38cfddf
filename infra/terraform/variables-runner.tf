# The runner: instance, what it runs and when, how it is reached. Storage and catalog variables are in variables.tf.

variable "instance_type" {
  description = "EC2 instance type; `python -m temu_gen size --format json` recommends one. The AMI and wheels follow its CPU architecture."
  type        = string
  default     = "c6i.2xlarge"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like c6i.2xlarge."
  }
}

variable "run_mode" {
  description = "once: run at first boot, then power off (you pay for the run, not for an idle instance); schedule: stay up and run on `schedule`."
  type        = string
  default     = "once"

  validation {
    condition     = contains(["once", "schedule"], var.run_mode)
    error_message = "run_mode must be once or schedule."
  }
}

variable "schedule" {
  description = "systemd OnCalendar expression for run_mode = schedule, e.g. 'daily' or 'Mon..Fri *-*-* 06:00:00'."
  type        = string
  default     = "daily"

  validation {
    condition     = can(regex("^[A-Za-z0-9*:.,/~ -]+$", var.schedule))
    error_message = "schedule must be a systemd OnCalendar expression (letters, digits, spaces and * : . , / ~ - only)."
  }
}

variable "shutdown_behavior" {
  description = "What the power-off after a run_mode = once run does: stop (only the disk is billed; a later apply changes nothing) or terminate (nothing left to bill; the next apply launches a new instance, which runs again)."
  type        = string
  default     = "stop"

  validation {
    condition     = contains(["stop", "terminate"], var.shutdown_behavior)
    error_message = "shutdown_behavior must be stop or terminate."
  }
}

variable "spot" {
  description = "Run on a persistent Spot instance that stops when interrupted; when capacity returns it starts again and finishes the run with --resume."
  type        = bool
  default     = false

  validation {
    condition     = !var.spot || (var.run_mode == "once" && var.shutdown_behavior == "stop")
    error_message = "spot needs run_mode = once and shutdown_behavior = stop: a persistent Spot request whose instance terminates launches a new one."
  }
}

variable "create_spot_service_linked_role" {
  description = "Create AWSServiceRoleForEC2Spot (needed once per account for Spot launched through the API; set only if your account has never used Spot)."
  type        = bool
  default     = false
}

variable "follow_latest_ami" {
  description = "false: keep the Amazon Linux 2023 AMI the instance was created with; true: replace the instance (and run again) when a newer AMI is published."
  type        = bool
  default     = false
}

variable "root_volume_gb" {
  description = "Size of the encrypted gp3 root volume (holds the spool of chunks waiting for upload)."
  type        = number
  default     = 30

  validation {
    condition     = var.root_volume_gb >= 8 && var.root_volume_gb <= 1024
    error_message = "root_volume_gb must be between 8 and 1024."
  }
}

variable "generator_args" {
  description = "Extra arguments for the generator, e.g. '--events 21000000 --workers 8'. Where it writes and the run id are set by the runner."
  type        = string
  default     = "--events 2100000"

  validation {
    condition     = can(regex("^[A-Za-z0-9 ._=:,/+-]*$", var.generator_args))
    error_message = "generator_args may hold only letters, digits, spaces and . _ = : , / + - (no quotes, newlines, $, % or backslashes): it is written into a systemd environment file."
  }
  validation {
    condition     = !can(regex("(^| )--(output|resume|run-id|endpoint-url|spool-dir|scheduler|wait-workers)($|[ =])", var.generator_args))
    error_message = "generator_args must not set --output, --resume, --run-id, --endpoint-url, --spool-dir, --scheduler or --wait-workers: the runner sets them."
  }
  validation {
    condition     = var.dask_nodes == 1 || !can(regex("(^| )--(workers|engine)($|[ =])", var.generator_args))
    error_message = "With dask_nodes > 1 the cluster's workers run the tasks (one per vCPU of each node): generator_args must not set --workers or --engine."
  }
}

variable "dask_nodes" {
  description = <<-EOT
    Instances of instance_type that generate: 1 = the runner alone, with its local process pool. N > 1 = a Dask
    cluster: the runner holds the Dask scheduler and the run, every node (the runner and N-1 workers) runs one Dask
    worker process per vCPU, and the spool is an EFS file system they share (docs/dask.md). In run_mode once, the
    workers power off with the runner. `python -m temu_gen size --nodes 1,2,4` ranks the choices.
  EOT
  type        = number
  default     = 1

  validation {
    condition     = var.dask_nodes >= 1 && var.dask_nodes <= 32 && floor(var.dask_nodes) == var.dask_nodes
    error_message = "dask_nodes must be a whole number from 1 (no cluster) to 32."
  }
  validation {
    condition     = var.dask_nodes == 1 || !var.spot
    error_message = "spot needs dask_nodes = 1: a cluster's worker nodes are on-demand and do not come back with a restarted Spot runner."
  }
}

variable "cloudwatch_logs" {
  description = "Ship the bootstrap and run logs to CloudWatch Logs (installs the CloudWatch agent)."
  type        = bool
  default     = false
}

variable "artifacts_dir" {
  description = "Folder written by scripts/build_artifacts.py; empty = dist/ at the repository root."
  type        = string
  default     = ""
}

variable "create_vpc" {
  description = <<-EOT
    true: a small dedicated VPC (one public subnet, flow logs, S3 gateway endpoint so artifacts and uploads never
    cross the internet gateway). false: the account's default VPC (fewer resources, but shared and without the endpoint).
  EOT
  type        = bool
  default     = true
}

variable "availability_zone" {
  description = "AZ of the runner (e.g. eu-west-1b); null = the first AZ that offers instance_type and needs no opt-in."
  type        = string
  default     = null

  validation {
    condition     = var.availability_zone == null || can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9][a-z]$", coalesce(var.availability_zone, "-")))
    error_message = "availability_zone must be an AZ name such as eu-west-1b."
  }
}

variable "vpc_cidr" {
  description = "IPv4 CIDR of the dedicated VPC (create_vpc = true), /16 to /28."
  type        = string
  default     = "10.42.0.0/24"

  validation {
    condition     = can(regex("^([0-9]{1,3}\\.){3}[0-9]{1,3}/(1[6-9]|2[0-8])$", var.vpc_cidr)) && can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be an IPv4 CIDR from /16 to /28, e.g. 10.42.0.0/24."
  }
}

variable "ssh_public_key" {
  description = "OpenSSH public key for a key pair and an SSH rule from ssh_cidr; empty = no SSH at all."
  type        = string
  default     = ""

  validation {
    condition     = var.ssh_public_key == "" || can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256) [A-Za-z0-9+/=]+( [^\\n]*)?$", var.ssh_public_key))
    error_message = "ssh_public_key must be one OpenSSH public key line (ssh-ed25519 ..., ssh-rsa ...), not a private key."
  }
}

variable "ssh_cidr" {
  description = "The one IPv4 network allowed to SSH in when ssh_public_key is set, /16 or narrower (e.g. your office /32)."
  type        = string
  default     = ""

  validation {
    condition     = var.ssh_cidr == "" || can(regex("^([0-9]{1,3}\\.){3}[0-9]{1,3}/([0-9]|[12][0-9]|3[0-2])$", var.ssh_cidr))
    error_message = "ssh_cidr must be an IPv4 CIDR such as 203.0.113.7/32 (IPv6 is not supported by the SSH rule)."
  }
  validation {
    condition     = var.ssh_cidr == "" || try(tonumber(split("/", var.ssh_cidr)[1]) >= 16, false)
    error_message = "ssh_cidr must be /16 or narrower: 0.0.0.0/0, 0.0.0.0/1 and other wide ranges open SSH to much of the internet."
  }
  validation {
    condition     = var.ssh_cidr == "" || try(cidrhost(var.ssh_cidr, 0) == split("/", var.ssh_cidr)[0], false)
    error_message = "ssh_cidr must start at its network address (e.g. 198.51.100.0/24, not 198.51.100.7/24)."
  }
  validation {
    condition     = var.ssh_public_key == "" || var.ssh_cidr != ""
    error_message = "ssh_public_key opens SSH, so ssh_cidr must name the network allowed in."
  }
}

variable "enable_ssm" {
  description = <<-EOT
    Attach the AWS managed policy AmazonSSMManagedInstanceCore so Session Manager can open a shell without SSH.
    Off by default: that policy grants far more than the runner's S3 access (SSM messaging, reading SSM parameters
    and documents, instance inventory), so enable it only while you need a shell.
  EOT
  type        = bool
  default     = false
}
