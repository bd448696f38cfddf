# A Dask cluster of dask_nodes instances (dask_nodes > 1): the runner holds the scheduler and the run, the worker
# nodes run `dask worker` against the runner's private address, and all of them mount one EFS file system for the
# spool of simulated shards (every reduce task reads slices of every shard). Nothing here exists when dask_nodes = 1.

locals {
  cluster = var.dask_nodes > 1
  # TCP within the cluster's security group only: the scheduler, the workers and nannies, and NFS to EFS
  cluster_ports = local.cluster ? {
    scheduler = { from = 8786, to = 8786, what = "the Dask scheduler" }
    workers   = { from = 9000, to = 9999, what = "Dask workers (9000-9499) and nannies (9500-9999)" }
    nfs       = { from = 2049, to = 2049, what = "NFS to the EFS spool" }
  } : {}
}

resource "aws_security_group" "cluster" {
  count       = local.cluster ? 1 : 0
  name        = "${var.name}-cluster"
  description = "temu-gen Dask cluster: scheduler, workers and EFS, reachable only from the cluster itself"
  vpc_id      = local.vpc_id
}

resource "aws_vpc_security_group_ingress_rule" "cluster" {
  for_each                     = local.cluster_ports
  security_group_id            = aws_security_group.cluster[0].id
  description                  = "${each.value.what}, from the cluster"
  referenced_security_group_id = aws_security_group.cluster[0].id
  ip_protocol                  = "tcp"
  from_port                    = each.value.from
  to_port                      = each.value.to
}

resource "aws_vpc_security_group_egress_rule" "cluster" {
  for_each                     = local.cluster_ports
  security_group_id            = aws_security_group.cluster[0].id
  description                  = "${each.value.what}, to the cluster"
  referenced_security_group_id = aws_security_group.cluster[0].id
  ip_protocol                  = "tcp"
  from_port                    = each.value.from
  to_port                      = each.value.to
}

# The spool is scratch (a run removes its own, and --resume regenerates a lost one), so it has no backups.
resource "aws_efs_file_system" "spool" {
  # checkov:skip=CKV2_AWS_18: scratch space of the runs in flight (every run removes its spool; --resume regenerates it), so there is nothing to back up
  count            = local.cluster ? 1 : 0
  encrypted        = true
  kms_key_id       = aws_kms_key.events.arn
  throughput_mode  = "elastic"
  performance_mode = "generalPurpose"
  tags             = { Name = "${var.name}-spool" }
}

resource "aws_efs_backup_policy" "spool" {
  count          = local.cluster ? 1 : 0
  file_system_id = aws_efs_file_system.spool[0].id
  backup_policy {
    status = "DISABLED"
  }
}

resource "aws_efs_mount_target" "spool" {
  count           = local.cluster ? 1 : 0
  file_system_id  = aws_efs_file_system.spool[0].id
  subnet_id       = local.subnet_id
  security_groups = [aws_security_group.cluster[0].id]
}

resource "aws_instance" "worker" {
  # checkov:skip=CKV_AWS_88: a public address is how a worker node reaches S3's mirrors, SSM and CloudWatch without a NAT gateway (~$35/month); inbound is only the cluster's own ports and SSH from ssh_cidr
  count                                = var.dask_nodes - 1
  ami                                  = terraform_data.ami.output
  instance_type                        = var.instance_type
  subnet_id                            = local.subnet_id
  vpc_security_group_ids               = [aws_security_group.runner.id, aws_security_group.cluster[0].id]
  iam_instance_profile                 = aws_iam_instance_profile.runner.name
  key_name                             = var.ssh_public_key == "" ? null : aws_key_pair.operator[0].key_name
  associate_public_ip_address          = true
  monitoring                           = true
  ebs_optimized                        = true
  instance_initiated_shutdown_behavior = var.shutdown_behavior

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
  user_data                   = module.runner_config.worker_user_data

  tags       = { Name = "${var.name}-worker-${count.index + 1}" }
  depends_on = [aws_s3_object.artifacts, aws_iam_role_policy.uploader, aws_iam_role_policy.bootstrap]

  lifecycle {
    # a new runner is a new run (new generator_args, a new build): the worker nodes, stopped after the last run in
    # once mode, must boot again with it, and they need its new address
    replace_triggered_by = [aws_instance.runner.id]
  }
}
