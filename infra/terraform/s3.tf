# The event-log bucket: versioned, SSE-KMS with a bucket key, private, owner-enforced, TLS only, access-logged, and
# announcing every new object to EventBridge (notify.tf turns committed runs into SNS messages).
resource "aws_s3_bucket" "events" {
  # checkov:skip=CKV_AWS_144: cross-region replication doubles cost for disposable load-test data; versioning covers overwrites
  bucket        = local.bucket_name
  force_destroy = var.force_destroy
  lifecycle {
    precondition {
      condition     = length(local.bucket_name) <= 63
      error_message = "The bucket name ${local.bucket_name} is over 63 characters; set a shorter name or bucket_name."
    }
  }
}

resource "aws_s3_bucket_versioning" "events" {
  bucket = aws_s3_bucket.events.id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "events" {
  bucket = aws_s3_bucket.events.id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm     = "aws:kms"
      kms_master_key_id = aws_kms_key.events.arn
    }
    bucket_key_enabled = true
  }
}

resource "aws_s3_bucket_public_access_block" "events" {
  bucket                  = aws_s3_bucket.events.id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "events" {
  bucket = aws_s3_bucket.events.id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_policy" "events" {
  bucket = aws_s3_bucket.events.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "DenyInsecureTransport"
      Effect    = "Deny"
      Principal = "*"
      Action    = "s3:*"
      Resource  = [aws_s3_bucket.events.arn, "${aws_s3_bucket.events.arn}/*"]
      Condition = { Bool = { "aws:SecureTransport" = "false" } }
    }]
  })
  depends_on = [aws_s3_bucket_public_access_block.events]
}

resource "aws_s3_bucket_lifecycle_configuration" "events" {
  bucket = aws_s3_bucket.events.id

  rule {
    id     = "abort-incomplete-multipart-uploads"
    status = "Enabled"
    filter {}
    abort_incomplete_multipart_upload {
      days_after_initiation = var.abort_incomplete_multipart_days
    }
  }

  rule {
    id     = "expire-noncurrent-versions"
    status = "Enabled"
    filter {}
    noncurrent_version_expiration {
      noncurrent_days = var.noncurrent_version_days
    }
  }

  rule {
    id     = "expire-athena-results"
    status = "Enabled"
    filter {
      prefix = "${local.athena_prefix}/"
    }
    expiration {
      days = var.athena_results_days
    }
  }

  depends_on = [aws_s3_bucket_versioning.events]
}

resource "aws_s3_bucket_logging" "events" {
  bucket        = aws_s3_bucket.events.id
  target_bucket = var.access_log_bucket != "" ? var.access_log_bucket : aws_s3_bucket.access_logs[0].id
  target_prefix = "s3-access/${local.bucket_name}/"
  depends_on    = [aws_s3_bucket_policy.access_logs]
}

# Every object created goes to EventBridge; the rule in notify.tf keeps only the _SUCCESS of a run.
resource "aws_s3_bucket_notification" "events" {
  bucket      = aws_s3_bucket.events.id
  eventbridge = true
}

# --- Access logs (unless access_log_bucket names an existing bucket) ------------------------------------------------
resource "aws_s3_bucket" "access_logs" {
  # checkov:skip=CKV_AWS_145: S3 delivers server access logs only to buckets whose default encryption is SSE-S3, not SSE-KMS
  # checkov:skip=CKV_AWS_18: this bucket receives the access logs; logging it into itself would log its own log deliveries
  # checkov:skip=CKV_AWS_144: access logs of disposable load-test data do not warrant a second region's copy and cost
  # checkov:skip=CKV2_AWS_62: nothing consumes new access-log objects; the events bucket's notifications are the ones used
  count         = var.access_log_bucket == "" ? 1 : 0
  bucket        = "${var.name}-logs-${local.account}-${var.region}"
  force_destroy = var.force_destroy
}

resource "aws_s3_bucket_versioning" "access_logs" {
  count  = var.access_log_bucket == "" ? 1 : 0
  bucket = aws_s3_bucket.access_logs[0].id
  versioning_configuration {
    status = "Enabled"
  }
}

resource "aws_s3_bucket_server_side_encryption_configuration" "access_logs" {
  count  = var.access_log_bucket == "" ? 1 : 0
  bucket = aws_s3_bucket.access_logs[0].id
  rule {
    apply_server_side_encryption_by_default {
      sse_algorithm = "AES256"
    }
  }
}

resource "aws_s3_bucket_public_access_block" "access_logs" {
  count                   = var.access_log_bucket == "" ? 1 : 0
  bucket                  = aws_s3_bucket.access_logs[0].id
  block_public_acls       = true
  block_public_policy     = true
  ignore_public_acls      = true
  restrict_public_buckets = true
}

resource "aws_s3_bucket_ownership_controls" "access_logs" {
  count  = var.access_log_bucket == "" ? 1 : 0
  bucket = aws_s3_bucket.access_logs[0].id
  rule {
    object_ownership = "BucketOwnerEnforced"
  }
}

resource "aws_s3_bucket_lifecycle_configuration" "access_logs" {
  count  = var.access_log_bucket == "" ? 1 : 0
  bucket = aws_s3_bucket.access_logs[0].id
  rule {
    id     = "expire-access-logs"
    status = "Enabled"
    filter {}
    expiration {
      days = var.access_log_days
    }
    noncurrent_version_expiration {
      noncurrent_days = 1
    }
    abort_incomplete_multipart_upload {
      days_after_initiation = 1
    }
  }
  depends_on = [aws_s3_bucket_versioning.access_logs]
}

# With BucketOwnerEnforced, the logging service writes through this policy, and only for the events bucket.
resource "aws_s3_bucket_policy" "access_logs" {
  count  = var.access_log_bucket == "" ? 1 : 0
  bucket = aws_s3_bucket.access_logs[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [
      {
        Sid       = "S3ServerAccessLogsFromTheEventsBucket"
        Effect    = "Allow"
        Principal = { Service = "logging.s3.${local.dns}" }
        Action    = "s3:PutObject"
        Resource  = "${aws_s3_bucket.access_logs[0].arn}/s3-access/*"
        Condition = {
          ArnLike      = { "aws:SourceArn" = local.bucket_arn }
          StringEquals = { "aws:SourceAccount" = local.account }
        }
      },
      {
        Sid       = "DenyInsecureTransport"
        Effect    = "Deny"
        Principal = "*"
        Action    = "s3:*"
        Resource  = [aws_s3_bucket.access_logs[0].arn, "${aws_s3_bucket.access_logs[0].arn}/*"]
        Condition = { Bool = { "aws:SecureTransport" = "false" } }
      },
    ]
  })
  depends_on = [aws_s3_bucket_public_access_block.access_logs]
}
