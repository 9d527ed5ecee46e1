"""`ufctl`: the command line for publishers, reviewers, auditors and SREs."""
