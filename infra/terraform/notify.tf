# "A run committed": S3 sends every new object to EventBridge (s3.tf); this rule keeps the _SUCCESS objects under
# <events_prefix>/events/ and publishes a message to an encrypted SNS topic, so a pipeline can start from it
# (subscribe a queue or a function, or set notification_email).

resource "aws_sns_topic" "runs" {
  name              = local.topic_name
  kms_master_key_id = aws_kms_key.events.arn
}

resource "aws_sns_topic_policy" "runs" {
  arn = aws_sns_topic.runs.arn
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Sid       = "EventBridgePublishesCommittedRuns"
      Effect    = "Allow"
      Principal = { Service = "events.${local.dns}" }
      Action    = "sns:Publish"
      Resource  = aws_sns_topic.runs.arn
      Condition = { ArnEquals = { "aws:SourceArn" = aws_cloudwatch_event_rule.run_committed.arn } }
    }]
  })
}

resource "aws_cloudwatch_event_rule" "run_committed" {
  name        = "${var.name}-run-committed"
  description = "A temu-gen run wrote _SUCCESS in s3://${local.bucket_name}/${var.events_prefix}/events/"
  event_pattern = jsonencode({
    source        = ["aws.s3"]
    "detail-type" = ["Object Created"]
    detail = {
      bucket = { name = [local.bucket_name] }
      object = { key = [{ wildcard = local.events_glob }] }
    }
  })
}

resource "aws_cloudwatch_event_target" "sns" {
  rule = aws_cloudwatch_event_rule.run_committed.name
  arn  = aws_sns_topic.runs.arn
  input_transformer {
    input_paths = {
      bucket = "$.detail.bucket.name"
      key    = "$.detail.object.key"
      time   = "$.time"
    }
    input_template = "\"temu-gen run committed at <time>: s3://<bucket>/<key> (query it in Athena workgroup ${var.name}, table ${local.glue_db}.${local.events_table}, WHERE run_id = the run_id=... part of the key)\""
  }
}

resource "aws_sns_topic_subscription" "email" {
  count     = var.notification_email == "" ? 0 : 1
  topic_arn = aws_sns_topic.runs.arn
  protocol  = "email"
  endpoint  = var.notification_email
}
