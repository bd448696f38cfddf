# Network: a small dedicated VPC (default) or the account's default VPC, in the zone module.runner_config chose.
# Dedicated: one public subnet, flow logs, and an S3 gateway endpoint so artifacts and uploads stay on the AWS network.

resource "aws_vpc" "main" {
  count                = var.create_vpc ? 1 : 0
  cidr_block           = var.vpc_cidr
  enable_dns_support   = true
  enable_dns_hostnames = true
  tags                 = { Name = "${var.name}-vpc" }
}

# Lock down the VPC's default security group; the instance uses its own.
resource "aws_default_security_group" "main" {
  count  = var.create_vpc ? 1 : 0
  vpc_id = aws_vpc.main[0].id
}

resource "aws_subnet" "public" {
  count             = var.create_vpc ? 1 : 0
  vpc_id            = aws_vpc.main[0].id
  cidr_block        = var.vpc_cidr
  availability_zone = module.runner_config.availability_zone
  tags              = { Name = "${var.name}-public" }
}

resource "aws_internet_gateway" "main" {
  count  = var.create_vpc ? 1 : 0
  vpc_id = aws_vpc.main[0].id
}

resource "aws_route_table" "public" {
  count  = var.create_vpc ? 1 : 0
  vpc_id = aws_vpc.main[0].id
  route {
    cidr_block = "0.0.0.0/0"
    gateway_id = aws_internet_gateway.main[0].id
  }
}

resource "aws_route_table_association" "public" {
  count          = var.create_vpc ? 1 : 0
  subnet_id      = aws_subnet.public[0].id
  route_table_id = aws_route_table.public[0].id
}

resource "aws_vpc_endpoint" "s3" {
  count             = var.create_vpc ? 1 : 0
  vpc_id            = aws_vpc.main[0].id
  service_name      = "com.amazonaws.${var.region}.s3" # the same name in every partition
  vpc_endpoint_type = "Gateway"
  route_table_ids   = [aws_route_table.public[0].id]
}

resource "aws_cloudwatch_log_group" "flow_logs" {
  count             = var.create_vpc ? 1 : 0
  name              = "/${var.name}/vpc-flow-logs"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.events.arn
}

# Only flow logs of this account's VPCs in this region may use the role (no confused deputy).
data "aws_iam_policy_document" "flow_logs_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["vpc-flow-logs.amazonaws.com"]
    }
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account]
    }
    condition {
      test     = "ArnLike"
      variable = "aws:SourceArn"
      values   = ["arn:${local.partition}:ec2:${var.region}:${local.account}:vpc-flow-log/*"]
    }
  }
}

resource "aws_iam_role" "flow_logs" {
  count              = var.create_vpc ? 1 : 0
  name               = "${local.iam_suffix}-flow-logs"
  assume_role_policy = data.aws_iam_policy_document.flow_logs_assume.json
}

resource "aws_iam_role_policy" "flow_logs" {
  count = var.create_vpc ? 1 : 0
  name  = "${var.name}-flow-logs"
  role  = aws_iam_role.flow_logs[0].id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = "${aws_cloudwatch_log_group.flow_logs[0].arn}:*"
    }]
  })
}

resource "aws_flow_log" "main" {
  count           = var.create_vpc ? 1 : 0
  vpc_id          = aws_vpc.main[0].id
  traffic_type    = "ALL"
  log_destination = aws_cloudwatch_log_group.flow_logs[0].arn
  iam_role_arn    = aws_iam_role.flow_logs[0].arn
}

data "aws_vpc" "default" {
  count   = var.create_vpc ? 0 : 1
  default = true
}

data "aws_subnets" "default" {
  count = var.create_vpc ? 0 : 1
  filter {
    name   = "vpc-id"
    values = [data.aws_vpc.default[0].id]
  }
  filter {
    name   = "default-for-az"
    values = ["true"]
  }
  filter {
    name   = "availability-zone"
    values = [module.runner_config.availability_zone]
  }
}

locals {
  vpc_id    = var.create_vpc ? aws_vpc.main[0].id : data.aws_vpc.default[0].id
  subnet_id = var.create_vpc ? aws_subnet.public[0].id : one(data.aws_subnets.default[0].ids)
}


# SSH from one CIDR only (and only with a key); out: HTTPS only (S3, dnf mirrors, SSM, CloudWatch): no package index.
resource "aws_security_group" "runner" {
  name        = "${var.name}-runner"
  description = "temu-gen runner: SSH from ssh_cidr only, HTTPS out"
  vpc_id      = local.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "ssh" {
  count             = var.ssh_public_key == "" ? 0 : 1
  security_group_id = aws_security_group.runner.id
  description       = "SSH from the operator's network"
  cidr_ipv4         = var.ssh_cidr
  ip_protocol       = "tcp"
  from_port         = 22
  to_port           = 22
}

resource "aws_vpc_security_group_egress_rule" "https" {
  security_group_id = aws_security_group.runner.id
  description       = "HTTPS to S3, SSM, CloudWatch and the Amazon Linux repositories"
  cidr_ipv4         = "0.0.0.0/0"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
}
