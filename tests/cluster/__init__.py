"""The cluster tier: a real single-node Kubernetes with the system installed by setup-env.sh."""
