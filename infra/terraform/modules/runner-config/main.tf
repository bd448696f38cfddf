# The runner's decisions, as pure functions of their inputs: CPU architecture, availability zone, the artifacts to
# upload, and the cloud-init user data. No provider and no resources, so tests/infra evaluates this very module with
# terraform offline (tests/infra/test_runner_config.py) and the bootstrap rehearsal runs the user data it renders.

locals {
  # arm64 (Graviton) or x86_64, from what EC2 says the type runs; no type supports both
  known_architectures = [for a in ["arm64", "x86_64"] : a if contains(var.supported_architectures, a)]
  architecture        = try(local.known_architectures[0], "unsupported")

  # sorted, so the choice is stable from one plan to the next
  zones             = sort(setintersection(var.offered_zones, var.usable_zones))
  availability_zone = coalesce(var.requested_zone, try(local.zones[0], "none"))

  manifest_file = "${var.artifacts_dir}/artifacts.json"
  manifest      = fileexists(local.manifest_file) ? jsondecode(file(local.manifest_file)) : null
  build         = try(local.manifest.architectures[local.architecture], null)
  build_dir     = "${var.artifacts_dir}/${local.architecture}"
  artifacts = local.build == null ? {} : {
    for name, sha256 in local.build.files : "${var.artifacts_prefix}/${local.architecture}/${name}" => {
      source = "${local.build_dir}/${name}"
      sha256 = sha256
    }
  }
  intact = alltrue([for f in values(local.artifacts) : fileexists(f.source) ? filesha256(f.source) == f.sha256 : false])

  cluster = var.dask_nodes > 1
  # one template for both roles, so a worker node is bootstrapped exactly as the runner is
  # the scheduler's address reaches only the workers' user data: the runner's must not depend on the runner itself
  user_data        = local.build == null ? "" : templatefile("${path.module}/cloud-init.sh.tftpl", merge(local.template, { role = "runner", scheduler_host = "127.0.0.1" }))
  worker_user_data = local.build == null || !local.cluster ? "" : templatefile("${path.module}/cloud-init.sh.tftpl", merge(local.template, { role = "worker", scheduler_host = var.scheduler_host }))
  template = {
    bucket              = var.bucket
    events_prefix       = var.events_prefix
    artifacts_prefix    = var.artifacts_prefix
    architecture        = local.architecture
    requirements_sha256 = local.intact ? filesha256("${local.build_dir}/requirements.txt") : "artifacts-changed"
    python_version      = local.manifest.python_version
    region              = var.region
    run_mode            = var.run_mode
    schedule            = var.schedule
    spot                = var.spot
    generator_args      = var.generator_args
    cloudwatch_logs     = var.cloudwatch_logs
    log_group           = var.log_group
    dask_nodes          = var.dask_nodes
    dask_workers        = var.dask_nodes * var.vcpus
    efs_address         = var.efs_address
    scheduler_port      = var.scheduler_port
  }
}

output "architecture" {
  description = "CPU architecture of instance_type: arm64 or x86_64 (picks the AMI and the wheelhouse)."
  value       = local.architecture
  precondition {
    condition     = local.architecture != "unsupported"
    error_message = "instance_type ${var.instance_type} runs ${join("/", var.supported_architectures)}; temu-gen needs x86_64 or arm64 (see python -m temu_gen size)."
  }
}

output "availability_zone" {
  description = "The zone of the runner's subnet: one that offers instance_type and needs no opt-in."
  value       = local.availability_zone
  precondition {
    condition     = length(local.zones) > 0
    error_message = "No availability zone of ${var.region} offers ${var.instance_type}; choose another instance_type (python -m temu_gen size) or region."
  }
  precondition {
    condition     = var.requested_zone == null || contains(local.zones, coalesce(var.requested_zone, "-"))
    error_message = "availability_zone ${coalesce(var.requested_zone, "-")} does not offer ${var.instance_type}; zones that do: ${join(", ", local.zones)}."
  }
}

output "artifacts" {
  description = "S3 key => {source, sha256} of every file the instance installs, for its architecture."
  value       = local.artifacts
  precondition {
    condition     = local.manifest != null
    error_message = "No artifacts in ${var.artifacts_dir}: build them first, from the repository root: python scripts/build_artifacts.py"
  }
  precondition {
    condition     = local.build != null
    error_message = "${var.artifacts_dir} holds no build for ${local.architecture} (${var.instance_type}); run: python scripts/build_artifacts.py --arch ${local.architecture}"
  }
  precondition {
    condition     = local.intact
    error_message = "Files in ${local.build_dir} differ from artifacts.json (changed or missing after the build); run python scripts/build_artifacts.py again."
  }
}

output "python_version" {
  description = "Python the artifacts were built for; the instance installs python<version>."
  value       = try(local.manifest.python_version, null)
}

output "user_data" {
  description = "cloud-init user data: bootstrap, then the run unit."
  value       = local.user_data
  precondition {
    condition     = length(local.user_data) <= 16384
    error_message = "The rendered user data is ${length(local.user_data)} bytes; EC2 accepts at most 16384."
  }
}

output "worker_user_data" {
  description = "cloud-init user data of a cluster's worker node (dask_nodes > 1): bootstrap, then the Dask worker unit; empty without a cluster."
  value       = local.worker_user_data
  precondition {
    condition     = length(local.worker_user_data) <= 16384
    error_message = "The rendered worker user data is ${length(local.worker_user_data)} bytes; EC2 accepts at most 16384."
  }
  precondition {
    condition     = !local.cluster || can(regex("^[0-9]{1,3}(\\.[0-9]{1,3}){3}$", var.scheduler_host))
    error_message = "A cluster's worker nodes need the runner's private IPv4 address (scheduler_host), not '${var.scheduler_host}'."
  }
  precondition {
    condition     = !local.cluster || var.vcpus <= 500
    error_message = "${var.instance_type} has ${var.vcpus} vCPUs; a cluster node runs one Dask worker per vCPU on ports 9000-9499, so at most 500. Choose a smaller type and more dask_nodes."
  }
  precondition {
    condition     = !local.cluster || can(regex("^[0-9]{1,3}(\\.[0-9]{1,3}){3}$", var.efs_address))
    error_message = "A cluster (dask_nodes = ${var.dask_nodes}) needs the IPv4 address of its EFS mount target, not '${var.efs_address}'."
  }
}
