//! Locations: reading what a backup location holds, and checking it.
//!
//! | module | owns |
//! |---|---|
//! | [`verify`] | whether every file a node manifest lists is in the location with its size |

pub mod verify;
