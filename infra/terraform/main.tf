data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  partition = data.aws_partition.current.partition
  dns       = data.aws_partition.current.dns_suffix

  bucket_name      = var.bucket_name != "" ? var.bucket_name : "${var.name}-events-${local.account}-${var.region}"
  events_uri       = "s3://${aws_s3_bucket.events.bucket}/${var.events_prefix}"
  artifacts_prefix = "artifacts"
  athena_prefix    = "athena-results"
  artifacts_dir    = var.artifacts_dir != "" ? var.artifacts_dir : "${path.root}/../../dist"
  # IAM is global: the region in its names lets the same stack live in two regions of one account
  iam_suffix  = "${var.name}-${var.region}"
  topic_name  = "${var.name}-runs"
  topic_arn   = "arn:${local.partition}:sns:${var.region}:${local.account}:${local.topic_name}"
  spot_role   = "arn:${local.partition}:iam::${local.account}:role/aws-service-role/spot.amazonaws.com/AWSServiceRoleForEC2Spot"
  glue_db     = replace(var.name, "-", "_") # Athena reads hyphenated names only when quoted
  bucket_arn  = "arn:${local.partition}:s3:::${local.bucket_name}"
  events_glob = "${var.events_prefix}/events/run_id=*/_SUCCESS"

  # The single source of the generator's permissions: tests/infra and the S3 delivery tests render the same file.
  uploader_policy = templatefile("${path.module}/policies/uploader.json.tftpl", {
    bucket      = aws_s3_bucket.events.bucket
    prefix      = var.events_prefix
    kms_key_arn = aws_kms_key.events.arn
    partition   = local.partition
    region      = var.region
    dns_suffix  = local.dns
  })
  bootstrap_policy = templatefile("${path.module}/policies/bootstrap.json.tftpl", {
    bucket    = aws_s3_bucket.events.bucket
    prefix    = local.artifacts_prefix
    partition = local.partition
  })
}

# Who may use the key, and only for what; the Spot statements exist only with spot = true.
locals {
  kms_statements = concat([
    {
      Sid       = "AccountAdministers"
      Effect    = "Allow"
      Principal = { AWS = "arn:${local.partition}:iam::${local.account}:root" }
      Action    = "kms:*"
      Resource  = "*"
    },
    {
      Sid       = "CloudWatchLogsEncrypts"
      Effect    = "Allow"
      Principal = { Service = "logs.${var.region}.${local.dns}" }
      Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"]
      Resource  = "*"
      Condition = {
        ArnLike = { "kms:EncryptionContext:aws:logs:arn" = "arn:${local.partition}:logs:${var.region}:${local.account}:log-group:/${var.name}/*" }
      }
    },
    {
      # EventBridge publishes run notifications to the encrypted topic: only for that topic
      Sid       = "EventBridgePublishesToTheTopic"
      Effect    = "Allow"
      Principal = { Service = "events.${local.dns}" }
      Action    = ["kms:Decrypt", "kms:GenerateDataKey"]
      Resource  = "*"
      Condition = { StringEquals = { "kms:EncryptionContext:aws:sns:topicArn" = local.topic_arn } }
    },
    # a conditional cannot choose between tuples of different lengths; a filtered for expression can
    ], [for statement in [
      {
        # Spot starts the stopped instance again after an interruption: it needs the disk's key, through EC2 only
        Sid       = "SpotRestartsTheEncryptedDisk"
        Effect    = "Allow"
        Principal = { AWS = local.spot_role }
        Action    = ["kms:Encrypt", "kms:Decrypt", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:DescribeKey"]
        Resource  = "*"
        Condition = { StringEquals = { "kms:ViaService" = "ec2.${var.region}.${local.dns}" } }
      },
      {
        Sid       = "SpotAttachesTheEncryptedDisk"
        Effect    = "Allow"
        Principal = { AWS = local.spot_role }
        Action    = "kms:CreateGrant"
        Resource  = "*"
        Condition = { Bool = { "kms:GrantIsForAWSResource" = "true" } }
      },
  ] : statement if var.spot])
}

# --- KMS: one customer key for the bucket, EBS, logs, Athena results and the SNS topic; rotated yearly ---------------
resource "aws_kms_key" "events" {
  description             = "${var.name}: encrypts the event-log bucket, the runner's disk, its logs and notifications"
  enable_key_rotation     = true
  deletion_window_in_days = 14
  policy                  = jsonencode({ Version = "2012-10-17", Statement = local.kms_statements })
  depends_on              = [aws_iam_service_linked_role.spot]
}

resource "aws_kms_alias" "events" {
  name          = "alias/${var.name}-events"
  target_key_id = aws_kms_key.events.key_id
}
