# Downstream discovery: a Glue database with one table per folder a run writes (events/, users/, products/, orders/,
# defects/), and an Athena workgroup to query them.
# run_id uses partition projection ("injected"): a new run is queryable the moment it commits, without a crawler or
# MSCK REPAIR; the price is that every query names its run(s): WHERE run_id = '...' (or IN (...)).
# Athena skips files whose names start with _ (_SUCCESS, _manifest.json, _run.json). The tables read Parquet: a run
# written with --format jsonl is not queryable through them.

locals {
  # Rendered from the data contract by `python -m temu_gen.catalog`; tests fail when it drifts from the contract.
  tables        = jsondecode(file("${path.module}/generated/tables.json")).tables
  events_table  = "events"
  example_query = "SELECT event_type, count(*) AS events FROM \"${local.glue_db}\".\"${local.events_table}\" WHERE run_id = '<RUN_ID>' GROUP BY 1 ORDER BY 2 DESC"
}

resource "aws_glue_catalog_database" "events" {
  name        = local.glue_db
  description = "temu-gen synthetic event logs in s3://${local.bucket_name}/${var.events_prefix}/"
}

# The events table was a single resource before the other tables joined it.
moved {
  from = aws_glue_catalog_table.events
  to   = aws_glue_catalog_table.tables["events"]
}

resource "aws_glue_catalog_table" "tables" {
  for_each = local.tables

  database_name = aws_glue_catalog_database.events.name
  name          = each.key
  description   = each.value.description
  table_type    = "EXTERNAL_TABLE"

  parameters = {
    classification                 = "parquet"
    EXTERNAL                       = "TRUE"
    "parquet.compression"          = "ZSTD"
    "projection.enabled"           = "true"
    "projection.run_id.type"       = "injected"
    "storage.location.template"    = "s3://${aws_s3_bucket.events.bucket}/${var.events_prefix}/${each.key}/run_id=$${run_id}/"
    "temu_gen.columns_rendered_by" = "python -m temu_gen.catalog"
  }

  partition_keys {
    name    = "run_id"
    type    = "string"
    comment = "Run id (UTC start time + random suffix): the run_id=<id> folder; every query must name it."
  }

  storage_descriptor {
    location      = "s3://${aws_s3_bucket.events.bucket}/${var.events_prefix}/${each.key}/"
    input_format  = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat"
    output_format = "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat"

    ser_de_info {
      serialization_library = "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"
      parameters            = { "serialization.format" = "1" }
    }

    dynamic "columns" {
      for_each = each.value.columns
      content {
        name    = columns.value.name
        type    = columns.value.type
        comment = columns.value.comment
      }
    }
  }
}

resource "aws_athena_workgroup" "events" {
  name          = var.name
  description   = "Queries over the temu-gen event logs: results encrypted with the stack's key, scans capped per query"
  force_destroy = true # its saved query history goes with the stack

  configuration {
    enforce_workgroup_configuration    = true
    publish_cloudwatch_metrics_enabled = true
    bytes_scanned_cutoff_per_query     = var.athena_bytes_scanned_limit

    engine_version {
      selected_engine_version = "Athena engine version 3"
    }

    result_configuration {
      output_location = "s3://${aws_s3_bucket.events.bucket}/${local.athena_prefix}/"
      encryption_configuration {
        encryption_option = "SSE_KMS"
        kms_key_arn       = aws_kms_key.events.arn
      }
    }
  }
}
