//! SSTable file names (to be written).
