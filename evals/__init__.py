"""The eval suite (see ../shared/EVALS.md). Arrives with the eval issue."""
