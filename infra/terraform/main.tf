data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  bucket_name = var.bucket_name != "" ? var.bucket_name : "${var.name}-events-${data.aws_caller_identity.current.account_id}-${var.region}"
  events_uri  = "s3://${aws_s3_bucket.events.bucket}/${var.events_prefix}"

  # The single source of the generator's permissions: tests/infra and the S3 delivery tests render the same file.
  uploader_policy = templatefile("${path.module}/policies/uploader.json.tftpl", {
    bucket      = aws_s3_bucket.events.bucket
    prefix      = var.events_prefix
    kms_key_arn = aws_kms_key.events.arn
  })
}

# --- KMS: customer key for the bucket, rotated yearly; the bucket key cuts KMS calls per object ---------------------
resource "aws_kms_key" "events" {
  description             = "${var.name}: encrypts the event-log bucket"
  enable_key_rotation     = true
  deletion_window_in_days = 14
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "AccountAdministers"
        Effect    = "Allow"
        Principal = { AWS = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:root" }
        Action    = "kms:*"
        Resource  = "*"
      },
      {
        Sid       = "CloudWatchLogsEncrypts"
        Effect    = "Allow"
        Principal = { Service = "logs.${var.region}.amazonaws.com" }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
        Resource  = "*"
        Condition = {
          ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${data.aws_partition.current.partition}:logs:${var.region}:${data.aws_caller_identity.current.account_id}:log-group:/${var.name}/*" }
        }
      }
    ]
  })
}

resource "aws_kms_alias" "events" {
  name          = "alias/${var.name}-events"
  target_key_id = aws_kms_key.events.key_id
}
