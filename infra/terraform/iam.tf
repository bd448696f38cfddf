# The instance's role: the generator's S3 writes on the events prefix, reading the artifacts prefix, that one key via
# S3 only. Names carry the region because IAM is global.
data "aws_iam_policy_document" "ec2_assume" {
  statement {
    actions = ["sts:AssumeRole"]
    principals {
      type        = "Service"
      identifiers = ["ec2.${local.dns}"]
    }
  }
}

resource "aws_iam_role" "runner" {
  name               = "${local.iam_suffix}-runner"
  assume_role_policy = data.aws_iam_policy_document.ec2_assume.json
}

resource "aws_iam_role_policy" "uploader" {
  name   = "${var.name}-uploader"
  role   = aws_iam_role.runner.id
  policy = local.uploader_policy
}

resource "aws_iam_role_policy" "bootstrap" {
  name   = "${var.name}-bootstrap"
  role   = aws_iam_role.runner.id
  policy = local.bootstrap_policy
}

# Broader than S3: SSM messaging, parameters, documents and inventory. Only while a shell is needed (enable_ssm).
resource "aws_iam_role_policy_attachment" "ssm" {
  count      = var.enable_ssm ? 1 : 0
  role       = aws_iam_role.runner.name
  policy_arn = "arn:${local.partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"
}

resource "aws_iam_role_policy" "logs" {
  count = var.cloudwatch_logs ? 1 : 0
  name  = "${var.name}-logs"
  role  = aws_iam_role.runner.id
  policy = jsonencode({
    Version = "2012-10-17"
    Statement = [{
      Effect   = "Allow"
      Action   = ["logs:CreateLogStream", "logs:PutLogEvents", "logs:DescribeLogStreams"]
      Resource = "${aws_cloudwatch_log_group.generator.arn}:*"
    }]
  })
}

resource "aws_iam_instance_profile" "runner" {
  name = "${local.iam_suffix}-runner"
  role = aws_iam_role.runner.name
}
