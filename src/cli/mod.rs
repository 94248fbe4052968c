//! The `cairn` command line (to be written).
