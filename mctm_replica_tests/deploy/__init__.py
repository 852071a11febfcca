"""Deployment checks: the lean install, the image's files, compose and the cluster configs."""

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[2]
