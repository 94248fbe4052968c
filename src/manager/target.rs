//! Task properties and backup targets (to be written).
