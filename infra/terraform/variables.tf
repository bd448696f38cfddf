variable "region" {
  description = <<-EOT
    AWS region. Default af-south-1 (Cape Town): the only AWS region in Africa, so launch-test data for Nigerian
    traffic stays on the continent, next to where a production pipeline for Nigerian users would live. It is an
    opt-in region (enable it in the account first) and ~15-20% dearer than eu-west-1; eu-west-1 or eu-west-3 are the
    cheaper alternatives with similar latency from Lagos.
  EOT
  type        = string
  default     = "af-south-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like af-south-1 or eu-west-1."
  }
}

variable "name" {
  description = "Name prefix for every resource."
  type        = string
  default     = "temu-gen"

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9-]{1,30}$", var.name))
    error_message = "name must be 2-31 lowercase letters, digits or hyphens."
  }
}

variable "bucket_name" {
  description = "Bucket for the event logs; empty = '<name>-events-<account id>-<region>'."
  type        = string
  default     = ""

  validation {
    condition     = var.bucket_name == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.bucket_name))
    error_message = "bucket_name must be a valid S3 bucket name (3-63 lowercase letters, digits, dots, hyphens)."
  }
}

variable "events_prefix" {
  description = "Key prefix the generator writes under; the uploader policy is scoped to it."
  type        = string
  default     = "temu-gen"

  validation {
    condition     = can(regex("^[A-Za-z0-9][A-Za-z0-9._/-]*[A-Za-z0-9]$", var.events_prefix)) && !strcontains(var.events_prefix, "//")
    error_message = "events_prefix must be a key prefix without leading/trailing slashes, e.g. 'temu-gen' or 'load-tests/ng'."
  }
}

variable "force_destroy" {
  description = "Let 'terraform destroy' delete a bucket that still holds objects (all versions)."
  type        = bool
  default     = false
}

variable "noncurrent_version_days" {
  description = "Days after which overwritten (noncurrent) object versions expire."
  type        = number
  default     = 30

  validation {
    condition     = var.noncurrent_version_days >= 1
    error_message = "noncurrent_version_days must be at least 1."
  }
}

variable "abort_incomplete_multipart_days" {
  description = "Days after which S3 aborts multipart uploads that were never completed (crashed runs)."
  type        = number
  default     = 3

  validation {
    condition     = var.abort_incomplete_multipart_days >= 1 && var.abort_incomplete_multipart_days <= 30
    error_message = "abort_incomplete_multipart_days must be between 1 and 30."
  }
}

variable "access_log_bucket" {
  description = "Existing bucket that receives S3 server access logs for the events bucket; empty = no access logging."
  type        = string
  default     = ""
}

variable "instance_type" {
  description = "EC2 instance type; `python -m temu_gen size --format json` recommends one."
  type        = string
  default     = "c6i.2xlarge"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]*\\.[a-z0-9]+$", var.instance_type))
    error_message = "instance_type must look like c6i.2xlarge."
  }
}

variable "architecture" {
  description = "CPU architecture of the AMI: x86_64 or arm64 (must match instance_type, e.g. c7g = arm64)."
  type        = string
  default     = "x86_64"

  validation {
    condition     = contains(["x86_64", "arm64"], var.architecture)
    error_message = "architecture must be x86_64 or arm64."
  }
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

variable "ssh_cidr" {
  description = "The one CIDR allowed to SSH in (e.g. your office /32). Never 0.0.0.0/0."
  type        = string

  validation {
    condition     = can(cidrhost(var.ssh_cidr, 0)) && !contains(["0.0.0.0/0", "::/0"], var.ssh_cidr)
    error_message = "ssh_cidr must be a valid, specific CIDR such as 203.0.113.7/32; 0.0.0.0/0 and ::/0 are refused."
  }
}

variable "ssh_public_key" {
  description = "OpenSSH public key for the key pair; empty = no key pair (use SSM Session Manager instead)."
  type        = string
  default     = ""

  validation {
    condition     = var.ssh_public_key == "" || can(regex("^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp256) ", var.ssh_public_key))
    error_message = "ssh_public_key must be an OpenSSH public key (ssh-ed25519 ..., ssh-rsa ...), not a private key."
  }
}

variable "enable_ssm" {
  description = "Attach AmazonSSMManagedInstanceCore so Session Manager can replace SSH."
  type        = bool
  default     = true
}

variable "create_vpc" {
  description = <<-EOT
    true: a small dedicated VPC (one public subnet, flow logs, S3 gateway endpoint so uploads never cross the
    internet gateway). false: the account's default VPC (fewer resources, but shared and without the endpoint).
  EOT
  type        = bool
  default     = true
}

variable "availability_zone" {
  description = "AZ of the dedicated subnet (e.g. af-south-1a); null lets AWS choose. Pick one that offers instance_type."
  type        = string
  default     = null
}

variable "vpc_cidr" {
  description = "CIDR of the dedicated VPC (create_vpc = true)."
  type        = string
  default     = "10.42.0.0/24"

  validation {
    condition     = can(cidrhost(var.vpc_cidr, 0))
    error_message = "vpc_cidr must be a valid CIDR."
  }
}

variable "package_spec" {
  description = "What pip installs on the instance: a PyPI requirement or a VCS URL of this project."
  type        = string
  default     = "temu-gen"
}

variable "generator_args" {
  description = "Extra arguments for the generator (the output is always the bucket); e.g. '--events 21000000'."
  type        = string
  default     = "--events 2100000"

  validation {
    condition     = !can(regex("[;&|`$<>\\\\]", var.generator_args))
    error_message = "generator_args must not contain shell metacharacters."
  }
}

variable "schedule" {
  description = "systemd OnCalendar expression to run on a timer (e.g. 'hourly'); empty = run once at boot."
  type        = string
  default     = ""
}

variable "cloudwatch_logs" {
  description = "Ship the generator's journal to CloudWatch Logs (installs the CloudWatch agent)."
  type        = bool
  default     = false
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups (flow logs, generator logs)."
  type        = number
  default     = 365
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
