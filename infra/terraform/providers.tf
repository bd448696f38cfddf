provider "aws" {
  region = var.region

  default_tags {
    tags = merge({ Project = "temu-gen", ManagedBy = "terraform" }, var.tags)
  }
}
