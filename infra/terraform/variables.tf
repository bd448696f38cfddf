# Where the data lives and who hears about it. The runner's variables are in variables-runner.tf.
# Every validation here is exercised by tests/infra/test_terraform.py, evaluated by terraform itself.

variable "region" {
  description = <<-EOT
    AWS region. Default eu-west-1 (Ireland): enabled in every account, all services used here, and among the
    cheapest. af-south-1 (Cape Town) is the region closest to Nigeria and keeps the data in Africa, but it is an
    opt-in region: enable it first (Account settings > AWS Regions, or aws account enable-region
    --region-name af-south-1; it takes minutes) and expect prices about 6% above eu-west-1.
  EOT
  type        = string
  default     = "eu-west-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov|-iso[a-z]?)?-[a-z]+-[0-9]$", var.region))
    error_message = "region must look like eu-west-1 or af-south-1."
  }
}

variable "name" {
  description = "Name prefix of every resource (2-24 characters, so derived bucket and IAM names stay in their limits)."
  type        = string
  default     = "temu-gen"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,22}[a-z0-9]$", var.name))
    error_message = "name must be 2-24 lowercase letters, digits or hyphens, starting with a letter and not ending with a hyphen."
  }
}

variable "bucket_name" {
  description = "Bucket for the event logs; empty = '<name>-events-<account id>-<region>' (at most 59 characters)."
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
  validation {
    condition     = !can(regex("^(artifacts|athena-results)(/|$)", var.events_prefix))
    error_message = "events_prefix must not be under artifacts/ or athena-results/: those prefixes hold the runner's code and Athena's results."
  }
}

variable "force_destroy" {
  description = "Let 'terraform destroy' delete buckets that still hold objects (all versions)."
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
  description = "Bucket for S3 server access logs of the events bucket; empty = create '<name>-logs-<account>-<region>'."
  type        = string
  default     = ""

  validation {
    condition     = var.access_log_bucket == "" || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.access_log_bucket))
    error_message = "access_log_bucket must be empty or a valid S3 bucket name."
  }
}

variable "access_log_days" {
  description = "Days the created access-log bucket keeps logs."
  type        = number
  default     = 365

  validation {
    condition     = var.access_log_days >= 1
    error_message = "access_log_days must be at least 1."
  }
}

variable "log_retention_days" {
  description = "Retention of the CloudWatch log groups (flow logs, generator logs); one of CloudWatch's allowed values."
  type        = number
  default     = 365

  validation {
    condition     = contains([0, 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be one of CloudWatch's values: 1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653 (or 0 = forever)."
  }
}

variable "athena_bytes_scanned_limit" {
  description = "Most bytes one Athena query in the workgroup may scan (billed at about $5 per TB); Athena's minimum is 10 MB."
  type        = number
  default     = 10737418240

  validation {
    condition     = var.athena_bytes_scanned_limit >= 10485760
    error_message = "athena_bytes_scanned_limit must be at least 10485760 (10 MB), Athena's minimum."
  }
}

variable "athena_results_days" {
  description = "Days Athena query results are kept under athena-results/."
  type        = number
  default     = 30

  validation {
    condition     = var.athena_results_days >= 1
    error_message = "athena_results_days must be at least 1."
  }
}

variable "notification_email" {
  description = "E-mail address subscribed to the run-committed SNS topic (it must confirm); empty = no subscription."
  type        = string
  default     = ""

  validation {
    condition     = var.notification_email == "" || can(regex("^[^@\\s]+@[^@\\s]+\\.[^@\\s]+$", var.notification_email))
    error_message = "notification_email must be empty or an e-mail address."
  }
}

variable "tags" {
  description = "Extra tags for every resource."
  type        = map(string)
  default     = {}
}
