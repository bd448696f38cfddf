# The runner: Amazon Linux 2023 on the instance type's own architecture, in a zone that offers the type, IMDSv2 only,
# encrypted gp3 root, bootstrapped from the hash-locked artifacts in the bucket (modules/runner-config).

data "aws_ec2_instance_type" "runner" {
  instance_type = var.instance_type
}

data "aws_ec2_instance_type_offerings" "runner" {
  location_type = "availability-zone"
  filter {
    name   = "instance-type"
    values = [var.instance_type]
  }
}

# Of the zones that offer the type, those available without opt-in (local zones need one): a closed set of names.
data "aws_availability_zones" "usable" {
  state = "available"
  filter {
    name   = "zone-name"
    values = data.aws_ec2_instance_type_offerings.runner.locations
  }
  filter {
    name   = "opt-in-status"
    values = ["opt-in-not-required"]
  }
}

module "runner_config" {
  source                  = "./modules/runner-config"
  instance_type           = var.instance_type
  supported_architectures = data.aws_ec2_instance_type.runner.supported_architectures
  offered_zones           = data.aws_ec2_instance_type_offerings.runner.locations
  usable_zones            = data.aws_availability_zones.usable.names
  requested_zone          = var.availability_zone
  artifacts_dir           = local.artifacts_dir
  artifacts_prefix        = local.artifacts_prefix
  bucket                  = aws_s3_bucket.events.bucket
  events_prefix           = var.events_prefix
  region                  = var.region
  run_mode                = var.run_mode
  schedule                = var.schedule
  spot                    = var.spot
  generator_args          = var.generator_args
  cloudwatch_logs         = var.cloudwatch_logs
  log_group               = aws_cloudwatch_log_group.generator.name
  dask_nodes              = var.dask_nodes
  vcpus                   = data.aws_ec2_instance_type.runner.default_vcpus
  efs_address             = local.cluster ? aws_efs_mount_target.spool[0].ip_address : ""
  scheduler_host          = local.cluster ? aws_instance.runner.private_ip : ""
}

# The package and every dependency, by content hash: a new build uploads new objects and changes the user data's
# requirements hash, which replaces the instance (a new bootstrap); an unchanged build changes nothing.
resource "aws_s3_object" "artifacts" {
  for_each           = module.runner_config.artifacts
  bucket             = aws_s3_bucket.events.id
  key                = each.key
  source             = each.value.source
  source_hash        = each.value.sha256
  checksum_algorithm = "SHA256"
  kms_key_id         = aws_kms_key.events.arn
  bucket_key_enabled = true
}

data "aws_ssm_parameter" "al2023" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${module.runner_config.architecture}"
}

# The AMI is fixed when the instance is created: a newer AMI alone must not replace the instance (and run again).
# follow_latest_ami = true lets every new AMI through; a change of architecture always does.
resource "terraform_data" "ami" {
  input            = nonsensitive(data.aws_ssm_parameter.al2023.value)
  triggers_replace = [module.runner_config.architecture, var.follow_latest_ami ? nonsensitive(data.aws_ssm_parameter.al2023.value) : "pinned"]
  lifecycle {
    ignore_changes = [input]
  }
}

resource "aws_key_pair" "operator" {
  count      = var.ssh_public_key == "" ? 0 : 1
  key_name   = "${var.name}-operator"
  public_key = var.ssh_public_key
}

resource "aws_cloudwatch_log_group" "generator" {
  name              = "/${var.name}/generator"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.events.arn
}

resource "aws_instance" "runner" {
  # checkov:skip=CKV_AWS_88: a public address is how the runner reaches SSM, CloudWatch and the package mirrors without a NAT gateway (~$35/month); inbound is closed unless ssh_cidr is set
  ami                                  = terraform_data.ami.output
  instance_type                        = var.instance_type
  subnet_id                            = local.subnet_id
  vpc_security_group_ids               = concat([aws_security_group.runner.id], aws_security_group.cluster[*].id)
  iam_instance_profile                 = aws_iam_instance_profile.runner.name
  key_name                             = var.ssh_public_key == "" ? null : aws_key_pair.operator[0].key_name
  associate_public_ip_address          = true
  monitoring                           = true
  ebs_optimized                        = true
  instance_initiated_shutdown_behavior = var.shutdown_behavior

  dynamic "instance_market_options" {
    for_each = var.spot ? [1] : []
    content {
      market_type = "spot"
      spot_options {
        spot_instance_type             = "persistent"
        instance_interruption_behavior = "stop"
      }
    }
  }

  metadata_options {
    http_endpoint               = "enabled"
    http_tokens                 = "required"
    http_put_response_hop_limit = 1
  }

  root_block_device {
    volume_type           = "gp3"
    volume_size           = var.root_volume_gb
    encrypted             = true
    kms_key_id            = aws_kms_key.events.arn
    delete_on_termination = true
  }

  user_data_replace_on_change = true
  user_data                   = module.runner_config.user_data

  tags       = { Name = "${var.name}-runner" }
  depends_on = [aws_s3_object.artifacts, aws_iam_role_policy.uploader, aws_iam_role_policy.bootstrap]

  lifecycle {
    precondition {
      condition     = local.subnet_id != null
      error_message = "The default VPC has no default subnet in ${module.runner_config.availability_zone}; set availability_zone or create_vpc = true."
    }
  }
}

# The AWS provider leaves a persistent Spot request behind when it destroys the instance (hashicorp/terraform-
# provider-aws#38142), and that request would launch a new, unmanaged instance: cancel it first, with the aws CLI.
resource "terraform_data" "cancel_spot_request" {
  count = var.spot ? 1 : 0
  input = { id = aws_instance.runner.spot_instance_request_id, region = var.region }
  provisioner "local-exec" {
    when    = destroy
    command = "aws ec2 cancel-spot-instance-requests --region ${self.input.region} --spot-instance-request-ids ${self.input.id} || true"
  }
}

resource "aws_iam_service_linked_role" "spot" {
  count            = var.create_spot_service_linked_role ? 1 : 0
  aws_service_name = "spot.amazonaws.com"
}
