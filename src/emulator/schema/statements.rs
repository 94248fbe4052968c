//! The `CREATE` statements of schema objects, worded as Scylla's `DESCRIBE` writes them
//! (`schema.cc`, `keyspace_metadata::describe`, `user_type_impl::describe`); a snapshot's
//! `schema.cql` is the table's statement without internals.

use super::table::{ColumnKind, Table, TableKind};
use super::{Keyspace, UserType};

/// CQL keywords that must be quoted when used as names.
const RESERVED: &[&str] = &[
    "add",
    "allow",
    "alter",
    "and",
    "apply",
    "asc",
    "authorize",
    "batch",
    "begin",
    "by",
    "columnfamily",
    "create",
    "delete",
    "desc",
    "describe",
    "drop",
    "entries",
    "execute",
    "from",
    "full",
    "grant",
    "if",
    "in",
    "index",
    "infinity",
    "insert",
    "into",
    "is",
    "keyspace",
    "limit",
    "materialized",
    "mbean",
    "mbeans",
    "modify",
    "nan",
    "norecursive",
    "not",
    "null",
    "of",
    "on",
    "or",
    "order",
    "primary",
    "rename",
    "replace",
    "revoke",
    "schema",
    "select",
    "set",
    "table",
    "to",
    "token",
    "truncate",
    "unlogged",
    "update",
    "use",
    "using",
    "view",
    "where",
    "with",
];

/// An identifier as CQL must write it: bare when lower-case and not a keyword, else quoted.
pub fn maybe_quote(name: &str) -> String {
    let bare = name.chars().next().is_some_and(|c| c.is_ascii_lowercase())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && !RESERVED.contains(&name);
    if bare {
        name.to_string()
    } else {
        format!("\"{}\"", name.replace('"', "\"\""))
    }
}

/// `CREATE KEYSPACE ...;`
pub fn keyspace(k: &Keyspace) -> String {
    let mut repl = format!("'class': '{}'", k.replication.class());
    for (key, value) in k.replication.options() {
        repl.push_str(&format!(", '{key}': '{value}'"));
    }
    format!(
        "CREATE KEYSPACE {} WITH replication = {{{repl}}} AND durable_writes = {} AND tablets = {{'enabled': {}}};",
        maybe_quote(&k.name),
        k.durable_writes,
        k.tablets
    )
}

/// `CREATE TYPE ks.t (...);`
pub fn user_type(ks: &str, t: &UserType) -> String {
    let fields: Vec<String> = t
        .fields
        .iter()
        .map(|(n, ty)| format!("    {} {ty}", maybe_quote(n)))
        .collect();
    format!(
        "CREATE TYPE {}.{} (\n{}\n);",
        maybe_quote(ks),
        maybe_quote(&t.name),
        fields.join(",\n")
    )
}

/// The `CREATE TABLE`, `CREATE MATERIALIZED VIEW` or `CREATE INDEX` statement of a table;
/// `with_internals` adds its `ID`.
pub fn table(ks: &str, t: &Table, with_internals: bool) -> String {
    let q = maybe_quote;
    let mut os = String::from("CREATE ");
    match &t.kind {
        TableKind::Index {
            base,
            index,
            target,
        } => {
            os.push_str(&format!(
                "INDEX {} ON {}.{}({}) WITH ",
                q(index),
                q(ks),
                q(base),
                q(target)
            ));
            if with_internals {
                os.push_str(&format!("ID = {}\n    AND ", t.id));
            }
            os.push_str(&properties(t));
            os.push_str(";\n");
            return os;
        }
        TableKind::View {
            base,
            where_clause,
            include_all_columns,
        } => {
            os.push_str(&format!("MATERIALIZED VIEW {}.{} AS\n", q(ks), q(&t.name)));
            if *include_all_columns {
                os.push_str("    SELECT *");
            } else {
                let cols: Vec<String> = t.columns.iter().map(|c| q(&c.name)).collect();
                os.push_str(&format!("    SELECT {}", cols.join(", ")));
            }
            os.push_str(&format!(
                "\n    FROM {}.{}\n    WHERE {where_clause}",
                q(ks),
                q(base)
            ));
        }
        TableKind::Table => {
            os.push_str(&format!("TABLE {}.{} (", q(ks), q(&t.name)));
            for c in &t.columns {
                let stat = if c.kind == ColumnKind::Static {
                    " STATIC"
                } else {
                    ""
                };
                os.push_str(&format!("\n    {} {}{stat},", q(&c.name), c.ty));
            }
        }
    }
    let pk: Vec<String> = t
        .columns_of(ColumnKind::PartitionKey)
        .map(|c| q(&c.name))
        .collect();
    let ck: Vec<&super::table::Column> = t.columns_of(ColumnKind::Clustering).collect();
    os.push_str("\n    PRIMARY KEY (");
    if pk.len() > 1 {
        os.push_str(&format!("({})", pk.join(", ")));
    } else {
        os.push_str(&pk.concat());
    }
    for c in &ck {
        os.push_str(&format!(", {}", q(&c.name)));
    }
    os.push(')');
    os.push_str(if t.is_view() { "\n    " } else { "\n) " });
    os.push_str("WITH ");
    if with_internals {
        os.push_str(&format!("ID = {}\nAND ", t.id));
    }
    if !ck.is_empty() {
        let order: Vec<String> = ck
            .iter()
            .map(|c| {
                format!(
                    "{} {}",
                    q(&c.name),
                    if c.descending { "DESC" } else { "ASC" }
                )
            })
            .collect();
        os.push_str(&format!(
            "CLUSTERING ORDER BY ({})\n    AND ",
            order.join(", ")
        ));
    }
    os.push_str(&properties(t));
    os.push_str(";\n");
    os
}

/// `bloom_filter_fp_chance = 0.01\n    AND caching = {...}...`
fn properties(t: &Table) -> String {
    t.options
        .rendered()
        .into_iter()
        .map(|(n, v)| format!("{n} = {v}"))
        .collect::<Vec<_>>()
        .join("\n    AND ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_quoted_only_when_cql_needs_it() {
        assert_eq!(maybe_quote("orders"), "orders");
        assert_eq!(maybe_quote("Orders"), "\"Orders\"");
        assert_eq!(maybe_quote("select"), "\"select\"");
        assert_eq!(maybe_quote("a\"b"), "\"a\"\"b\"");
        assert_eq!(maybe_quote("1x"), "\"1x\"");
    }
}
