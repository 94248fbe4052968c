//! The bodies of the responses the emulator sends (§4.2 of `native_protocol_v4.spec`): `ERROR`,
//! `SUPPORTED`, `AUTHENTICATE`, `AUTH_SUCCESS` and the `RESULT` kinds.

use super::frame::Writer;
use super::outcome::{ChangeTarget, ChangeType, Column, CqlError, ErrorKind, SchemaChange};
use super::value::{CqlType, Value};

/// The CQL version advertised in `SUPPORTED`, as Scylla advertises it.
pub const CQL_VERSION: &str = "3.3.1";
/// The authenticator named in `AUTHENTICATE`.
pub const AUTHENTICATOR: &str = "org.apache.cassandra.auth.PasswordAuthenticator";

/// `RESULT` kind Void.
const VOID: i32 = 0x0001;
/// `RESULT` kind Rows.
const ROWS: i32 = 0x0002;
/// `RESULT` kind Set_keyspace.
const SET_KEYSPACE: i32 = 0x0003;
/// `RESULT` kind Prepared.
const PREPARED: i32 = 0x0004;
/// `RESULT` kind Schema_change.
const SCHEMA_CHANGE: i32 = 0x0005;
/// Metadata flag: one keyspace and table for every column.
const GLOBAL_TABLES_SPEC: i32 = 0x0001;
/// Metadata flag: a paging state follows; more pages are left.
const HAS_MORE_PAGES: i32 = 0x0002;
/// Metadata flag: no column specifications follow.
const NO_METADATA: i32 = 0x0004;

/// An `ERROR` body: the code, the message and the kind's extra fields.
pub fn error(e: &CqlError) -> Vec<u8> {
    let mut w = Writer::default();
    w.int(e.kind.code()).string(&e.message);
    match &e.kind {
        ErrorKind::AlreadyExists { keyspace, table } => {
            w.string(keyspace).string(table);
        }
        ErrorKind::Unprepared(id) => {
            w.short_bytes(id);
        }
        _ => {}
    }
    w.out
}

/// The `SUPPORTED` body: CQL 3.3.1, no compression, no shard-awareness keys.
pub fn supported() -> Vec<u8> {
    let mut w = Writer::default();
    w.string_multimap(&[("CQL_VERSION", &[CQL_VERSION]), ("COMPRESSION", &[])]);
    w.out
}

/// The `AUTHENTICATE` body.
pub fn authenticate() -> Vec<u8> {
    let mut w = Writer::default();
    w.string(AUTHENTICATOR);
    w.out
}

/// The `AUTH_SUCCESS` body: an empty final token, as Scylla sends.
pub fn auth_success() -> Vec<u8> {
    let mut w = Writer::default();
    w.bytes(Some(&[]));
    w.out
}

/// A Void result.
pub fn void() -> Vec<u8> {
    let mut w = Writer::default();
    w.int(VOID);
    w.out
}

/// A Set_keyspace result.
pub fn set_keyspace(keyspace: &str) -> Vec<u8> {
    let mut w = Writer::default();
    w.int(SET_KEYSPACE).string(keyspace);
    w.out
}

/// A Schema_change result.
pub fn schema_change(c: &SchemaChange) -> Vec<u8> {
    let mut w = Writer::default();
    w.int(SCHEMA_CHANGE);
    w.string(match c.change {
        ChangeType::Created => "CREATED",
        ChangeType::Updated => "UPDATED",
        ChangeType::Dropped => "DROPPED",
    });
    match &c.target {
        ChangeTarget::Keyspace => {
            w.string("KEYSPACE").string(&c.keyspace);
        }
        ChangeTarget::Table(name) => {
            w.string("TABLE").string(&c.keyspace).string(name);
        }
        ChangeTarget::Type(name) => {
            w.string("TYPE").string(&c.keyspace).string(name);
        }
    }
    w.out
}

/// A Rows result holding `rows` (one page); `paging_state` is set when more pages are left, and
/// `skip_metadata` leaves the column specifications out (the client has them from `PREPARE`).
pub fn rows(
    columns: &[Column],
    rows: &[Vec<Value>],
    paging_state: Option<&[u8]>,
    skip_metadata: bool,
) -> Vec<u8> {
    let mut w = Writer::default();
    w.int(ROWS);
    result_metadata(&mut w, columns, paging_state, skip_metadata);
    w.int(rows.len() as i32);
    for row in rows {
        for value in row {
            value.encode(&mut w.out);
        }
    }
    w.out
}

/// A Prepared result: the id, the markers' metadata and the result's metadata.
pub fn prepared(id: &[u8], markers: &[Column], result: &[Column]) -> Vec<u8> {
    let mut w = Writer::default();
    w.int(PREPARED).short_bytes(id);
    let global = shared_table(markers);
    w.int(if global.is_some() {
        GLOBAL_TABLES_SPEC
    } else {
        0
    })
    .int(markers.len() as i32)
    // No partition key indexes: drivers then route without token awareness.
    .int(0);
    column_specs(&mut w, markers, global);
    result_metadata(&mut w, result, None, result.is_empty());
    w.out
}

/// `<flags><columns_count>[<paging_state>][<global_table_spec>?<col_spec_1>...]`.
fn result_metadata(
    w: &mut Writer,
    columns: &[Column],
    paging_state: Option<&[u8]>,
    no_metadata: bool,
) {
    let global = shared_table(columns);
    let mut flags = 0;
    if paging_state.is_some() {
        flags |= HAS_MORE_PAGES;
    }
    if no_metadata {
        flags |= NO_METADATA;
    } else if global.is_some() {
        flags |= GLOBAL_TABLES_SPEC;
    }
    w.int(flags).int(columns.len() as i32);
    if let Some(state) = paging_state {
        w.bytes(Some(state));
    }
    if !no_metadata {
        column_specs(w, columns, global);
    }
}

/// The global table spec (when given) and each column's spec.
fn column_specs(w: &mut Writer, columns: &[Column], global: Option<(&str, &str)>) {
    if let Some((keyspace, table)) = global {
        w.string(keyspace).string(table);
    }
    for c in columns {
        if global.is_none() {
            w.string(&c.keyspace).string(&c.table);
        }
        w.string(&c.name);
        type_option(w, &c.ty);
    }
}

/// The keyspace and table every column shares, if any.
fn shared_table(columns: &[Column]) -> Option<(&str, &str)> {
    let first = columns.first()?;
    columns
        .iter()
        .all(|c| c.keyspace == first.keyspace && c.table == first.table)
        .then_some((first.keyspace.as_str(), first.table.as_str()))
}

/// A type as an `[option]`: its id, then its element types for collections.
fn type_option(w: &mut Writer, ty: &CqlType) {
    let ty = ty.unfrozen();
    w.short(ty.option_id());
    match ty {
        CqlType::List(t) | CqlType::Set(t) => type_option(w, t),
        CqlType::Map(k, v) => {
            type_option(w, k);
            type_option(w, v);
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_already_exists_error_carries_keyspace_and_table() {
        let body = error(&CqlError {
            kind: ErrorKind::AlreadyExists {
                keyspace: "ks".into(),
                table: "t".into(),
            },
            message: "m".into(),
        });
        assert_eq!(
            body,
            [
                &0x2400i32.to_be_bytes()[..],
                &[0, 1, b'm'],
                &[0, 2, b'k', b's'],
                &[0, 1, b't'],
            ]
            .concat()
        );
    }

    #[test]
    fn columns_of_two_tables_are_each_named_with_their_table() {
        let col = |t: &str, ty| Column {
            keyspace: "ks".into(),
            table: t.into(),
            name: "c".into(),
            ty,
        };
        let body = rows(
            &[
                col("a", CqlType::Int),
                col("b", CqlType::Set(Box::new(CqlType::Text))),
            ],
            &[],
            None,
            false,
        );
        let spec = |t: u8| vec![0, 2, b'k', b's', 0, 1, t, 0, 1, b'c'];
        let expected = [
            &ROWS.to_be_bytes()[..],
            &0i32.to_be_bytes(),
            &2i32.to_be_bytes(),
            &spec(b'a'),
            &[0, 9],
            &spec(b'b'),
            &[0, 0x22, 0, 0x0D],
            &0i32.to_be_bytes(),
        ]
        .concat();
        assert_eq!(body, expected);
    }
}
