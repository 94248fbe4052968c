//! The manager's state store (to be written).
