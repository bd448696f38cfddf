"""The S3 tiers share tests/conftest.py's moto server and bucket fixtures."""
