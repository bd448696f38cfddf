# The runner: Amazon Linux 2023 (current AMI from SSM), IMDSv2 only, encrypted gp3 root, generator as a systemd unit.

data "aws_ssm_parameter" "al2023" {
  name = "/aws/service/ami-amazon-linux-latest/al2023-ami-kernel-default-${var.architecture}"
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
  # checkov:skip=CKV_AWS_88: a public address is how the operator's SSH (from ssh_cidr only) and the SSM agent reach it without a NAT gateway
  ami                         = nonsensitive(data.aws_ssm_parameter.al2023.value)
  instance_type               = var.instance_type
  subnet_id                   = local.subnet_id
  vpc_security_group_ids      = [aws_security_group.runner.id]
  iam_instance_profile        = aws_iam_instance_profile.runner.name
  key_name                    = var.ssh_public_key == "" ? null : aws_key_pair.operator[0].key_name
  associate_public_ip_address = true
  monitoring                  = true
  ebs_optimized               = true

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
  user_data = templatefile("${path.module}/templates/cloud-init.sh.tftpl", {
    package_spec    = var.package_spec
    output_uri      = local.events_uri
    region          = var.region
    generator_args  = var.generator_args
    schedule        = var.schedule
    cloudwatch_logs = var.cloudwatch_logs
    log_group       = aws_cloudwatch_log_group.generator.name
  })

  tags = { Name = "${var.name}-runner" }
}
