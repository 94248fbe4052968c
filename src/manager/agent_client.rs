//! The HTTPS client of a node's agent (to be written).
