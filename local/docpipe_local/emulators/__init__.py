"""Emulators for AWS APIs that moto answers with canned data (or not at all).

Each emulator answers one botocore service, after botocore validated the request, in the service's own
response shape and with its error codes; see `base.py` for the mechanism.
"""
