//! `cairn emulator`: a stand-in for ScyllaDB nodes (to be written).
