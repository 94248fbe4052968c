//! A backup's work beyond one run's stages; for now deleting backups on request.

pub mod delete;
