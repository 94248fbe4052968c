//! Cluster discovery through the agents (to be written).
