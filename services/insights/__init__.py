"""The insights service."""
