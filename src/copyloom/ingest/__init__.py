"""Reading Braze events at the edge: PII is dropped and recipient ids pseudonymised before anything else."""
