"""Least privilege, tested: AWS calls recorded offline, evaluated against the deployed IAM and KMS policies."""
