"""credproc: AWS credential_process helper that chains AssumeRole across accounts."""

__version__ = "0.1.0"
