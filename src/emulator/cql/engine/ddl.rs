//! Schema changes: `CREATE`/`DROP` of keyspaces, tables, views, indexes and types, and
//! `ALTER TABLE ... WITH`, applied to the schema model with Scylla's errors.

use std::collections::BTreeMap;

use uuid::Uuid;

use super::super::outcome::{ChangeTarget, ChangeType, CqlError, ErrorKind, SchemaChange};
use super::ddl_keyspace;
use super::parse::NATIVE_TYPES;
use super::statement::{ColumnDef, DropKind, Name, PrimaryKey, Properties, Statement, Term};
use crate::emulator::schema::{
    Column, ColumnKind, Keyspace, OptionValue, Options, Schema, Table, TableKind, UserType,
    is_system_keyspace,
};

/// What a DDL statement needs besides the schema.
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    /// The cluster's DCs and node counts (for `NetworkTopologyStrategy`).
    pub dcs: &'a [(String, usize)],
    /// The connection's current keyspace.
    pub keyspace: Option<&'a str>,
}

/// Applies a DDL statement; `None` when `IF [NOT] EXISTS` made it change nothing.
pub fn apply(
    schema: &mut Schema,
    stmt: &Statement,
    ctx: Context<'_>,
) -> Result<Option<SchemaChange>, CqlError> {
    match stmt {
        Statement::CreateKeyspace {
            name,
            if_not_exists,
            properties,
        } => ddl_keyspace::create_keyspace(schema, name, *if_not_exists, properties, ctx),
        Statement::CreateTable {
            name,
            if_not_exists,
            columns,
            key,
            properties,
        } => create_table(schema, name, *if_not_exists, columns, key, properties, ctx),
        Statement::CreateView {
            name,
            if_not_exists,
            columns,
            base,
            where_clause,
            key,
            properties,
        } => {
            let ks = keyspace_of(name, ctx)?;
            if base.keyspace.as_ref().is_some_and(|b| *b != ks) {
                return Err(CqlError::invalid(
                    "Cannot create a materialized view on a table in a separate keyspace",
                ));
            }
            let keyspace = user_keyspace(schema, &ks)?;
            let base_table = base_table(keyspace, &ks, &base.name)?;
            if exists(keyspace, &name.name, *if_not_exists)? {
                return Ok(None);
            }
            check_name("materialized view", &name.name)?;
            let pick = |c: &str| base_table.column(c).cloned();
            let names: Vec<String> = match columns {
                None => base_table.columns.iter().map(|c| c.name.clone()).collect(),
                Some(cols) => {
                    let mut all: Vec<String> = key
                        .partition
                        .iter()
                        .chain(&key.clustering)
                        .cloned()
                        .collect();
                    for c in cols {
                        if !all.contains(c) {
                            all.push(c.clone());
                        }
                    }
                    all
                }
            };
            let mut cols = Vec::new();
            for n in &names {
                let mut c = pick(n).ok_or_else(|| {
                    CqlError::invalid(format!(
                        "Unknown column name detected in CREATE MATERIALIZED VIEW statement: {n}"
                    ))
                })?;
                c.kind = ColumnKind::Regular;
                c.position = -1;
                c.descending = false;
                cols.push(c);
            }
            let mut table = Table {
                name: name.name.clone(),
                id: properties.id.unwrap_or_else(Uuid::new_v4),
                columns: cols,
                options: Options::default(),
                kind: TableKind::View {
                    base: base.name.clone(),
                    where_clause: where_clause.clone(),
                    include_all_columns: columns.is_none(),
                },
            };
            set_key(&mut table, key, properties)?;
            set_options(&mut table.options, properties)?;
            add(schema, &ks, table)
        }
        Statement::CreateIndex {
            name,
            if_not_exists,
            table,
            target,
            properties,
        } => {
            let ks = keyspace_of(table, ctx)?;
            let keyspace = user_keyspace(schema, &ks)?;
            let base = base_table(keyspace, &ks, &table.name)?;
            let index = name
                .clone()
                .unwrap_or_else(|| format!("{}_{}_idx", table.name, target));
            check_name("index", &index)?;
            if keyspace.index(&index).is_some() {
                if *if_not_exists {
                    return Ok(None);
                }
                return Err(CqlError::invalid("Index already exists"));
            }
            let indexed = base.column(target).cloned().ok_or_else(|| {
                CqlError::invalid(format!("No column definition found for column {target}"))
            })?;
            let view_name = format!("{index}_index");
            if keyspace.tables.contains_key(&view_name) {
                return Err(CqlError::invalid(format!(
                    "Index {index} cannot be created, because table {view_name} already exists"
                )));
            }
            let col = |n: &str, ty: &str, kind, position| Column {
                name: n.to_string(),
                ty: ty.to_string(),
                kind,
                position,
                descending: false,
            };
            let mut columns = vec![col(&indexed.name, &indexed.ty, ColumnKind::PartitionKey, 0)];
            columns.push(col("idx_token", "bigint", ColumnKind::Clustering, 0));
            let base_key = base
                .columns
                .iter()
                .filter(|c| matches!(c.kind, ColumnKind::PartitionKey | ColumnKind::Clustering))
                .filter(|c| c.name != indexed.name);
            for (i, c) in base_key.enumerate() {
                columns.push(col(&c.name, &c.ty, ColumnKind::Clustering, i as i32 + 1));
            }
            let mut options = Options::default();
            set_options(&mut options, properties)?;
            let t = Table {
                name: view_name,
                id: properties.id.unwrap_or_else(Uuid::new_v4),
                columns,
                options,
                kind: TableKind::Index {
                    base: table.name.clone(),
                    index,
                    target: target.clone(),
                },
            };
            add(schema, &ks, t).map(|c| {
                c.map(|_| SchemaChange {
                    change: ChangeType::Updated,
                    keyspace: ks.clone(),
                    target: ChangeTarget::Table(table.name.clone()),
                })
            })
        }
        Statement::CreateType {
            name,
            if_not_exists,
            fields,
        } => {
            let ks = keyspace_of(name, ctx)?;
            let keyspace = user_keyspace_mut(schema, &ks)?;
            if keyspace.user_type(&name.name).is_some() {
                if *if_not_exists {
                    return Ok(None);
                }
                return Err(CqlError::invalid(format!(
                    "A user type of name {ks}.{} already exists",
                    name.name
                )));
            }
            for (_, ty) in fields {
                check_type(keyspace, ty)?;
            }
            keyspace.types.push(UserType {
                name: name.name.clone(),
                fields: fields.clone(),
            });
            Ok(Some(SchemaChange {
                change: ChangeType::Created,
                keyspace: ks,
                target: ChangeTarget::Type(name.name.clone()),
            }))
        }
        Statement::AlterTable { name, properties } => {
            let ks = keyspace_of(name, ctx)?;
            let keyspace = user_keyspace_mut(schema, &ks)?;
            let table = keyspace
                .tables
                .get_mut(&name.name)
                .ok_or_else(|| CqlError::invalid(format!("unconfigured table {}", name.name)))?;
            if table.is_view() {
                return Err(CqlError::invalid(
                    "Cannot use ALTER TABLE on Materialized View",
                ));
            }
            let only_tgc = properties.id.is_none()
                && properties.clustering_order.is_empty()
                && properties.values.iter().all(|(n, _)| n == "tombstone_gc");
            if !only_tgc || properties.values.is_empty() {
                return Err(CqlError::invalid(
                    "the emulator supports only ALTER TABLE ... WITH tombstone_gc = {...}",
                ));
            }
            set_options(&mut table.options, properties)?;
            Ok(Some(SchemaChange {
                change: ChangeType::Updated,
                keyspace: ks,
                target: ChangeTarget::Table(name.name.clone()),
            }))
        }
        Statement::Drop {
            what,
            name,
            if_exists,
        } => drop(schema, *what, name, *if_exists, ctx),
        _ => Err(CqlError::invalid("not a schema change")),
    }
}

/// Longest keyspace, table, view or index name Scylla accepts.
const NAME_LENGTH: usize = 192;

/// Checks a new keyspace, table, view or index name as Scylla does (`\w+`, at most 192
/// characters): it becomes a directory name on every node.
pub(super) fn check_name(what: &str, name: &str) -> Result<(), CqlError> {
    let word = !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !word {
        let hint = match what {
            "table" => " (must be alphanumeric character only: [0-9A-Za-z]+)",
            "materialized view" => {
                " (must contain alphanumeric character only: [0-9A-Za-z] or the underscore)"
            }
            _ => "",
        };
        return Err(CqlError::invalid(format!(
            "\"{name}\" is not a valid {what} name{hint}"
        )));
    }
    if name.len() > NAME_LENGTH {
        let mut label = what.to_string();
        label[..1].make_ascii_uppercase();
        return Err(CqlError::invalid(format!(
            "{label} names shouldn't be more than {NAME_LENGTH} characters long (got \"{name}\")"
        )));
    }
    Ok(())
}

/// The keyspace a name refers to (its own or the current one).
fn keyspace_of(name: &Name, ctx: Context<'_>) -> Result<String, CqlError> {
    name.keyspace
        .clone()
        .or_else(|| ctx.keyspace.map(str::to_string))
        .ok_or_else(|| {
            CqlError::invalid("No keyspace has been specified. USE a keyspace, or explicitly specify keyspace.tablename")
        })
}

/// A keyspace that user statements may change.
fn user_keyspace<'a>(schema: &'a Schema, ks: &str) -> Result<&'a Keyspace, CqlError> {
    if is_system_keyspace(ks) {
        return Err(system(ks));
    }
    schema
        .keyspaces
        .get(ks)
        .ok_or_else(|| CqlError::invalid(format!("Keyspace {ks} does not exist")))
}

/// The same, to change it.
fn user_keyspace_mut<'a>(schema: &'a mut Schema, ks: &str) -> Result<&'a mut Keyspace, CqlError> {
    if is_system_keyspace(ks) {
        return Err(system(ks));
    }
    schema
        .keyspaces
        .get_mut(ks)
        .ok_or_else(|| CqlError::invalid(format!("Keyspace {ks} does not exist")))
}

/// Scylla's refusal to change a system keyspace.
fn system(ks: &str) -> CqlError {
    CqlError {
        kind: ErrorKind::Unauthorized,
        message: format!("{ks} keyspace is not user-modifiable."),
    }
}

/// The base table a view or index is created on.
fn base_table<'a>(keyspace: &'a Keyspace, ks: &str, name: &str) -> Result<&'a Table, CqlError> {
    match keyspace.tables.get(name) {
        Some(t) if !t.is_view() => Ok(t),
        Some(_) => Err(CqlError::invalid(format!(
            "Cannot create a materialized view or index on materialized view {ks}.{name}"
        ))),
        None => Err(CqlError::invalid(format!("unconfigured table {name}"))),
    }
}

/// Whether a table exists (fine with `IF NOT EXISTS`, else AlreadyExists).
fn exists(keyspace: &Keyspace, name: &str, if_not_exists: bool) -> Result<bool, CqlError> {
    if keyspace.tables.contains_key(name) {
        if if_not_exists {
            return Ok(true);
        }
        return Err(already(&keyspace.name, name));
    }
    Ok(false)
}

/// AlreadyExists for a table.
fn already(ks: &str, table: &str) -> CqlError {
    CqlError {
        kind: ErrorKind::AlreadyExists {
            keyspace: ks.to_string(),
            table: table.to_string(),
        },
        message: format!("Cannot add already existing table \"{table}\" to keyspace \"{ks}\""),
    }
}

/// Adds a table and reports it created.
fn add(schema: &mut Schema, ks: &str, t: Table) -> Result<Option<SchemaChange>, CqlError> {
    if schema.all_tables().any(|(_, other)| other.id == t.id) {
        return Err(CqlError::invalid(format!(
            "Table with ID {} already exists",
            t.id
        )));
    }
    let name = t.name.clone();
    schema
        .add_table(ks, t)
        .map_err(|e| CqlError::invalid(e.to_string()))?;
    Ok(Some(SchemaChange {
        change: ChangeType::Created,
        keyspace: ks.to_string(),
        target: ChangeTarget::Table(name),
    }))
}

/// A map literal of strings (numbers and booleans as text).
pub(super) fn text_map(pairs: &[(Term, Term)]) -> Result<BTreeMap<String, String>, CqlError> {
    let text = |t: &Term| match t {
        Term::Str(s) | Term::Num(s) => Ok(s.clone()),
        Term::Bool(b) => Ok(b.to_string()),
        _ => Err(CqlError::syntax("expected a map of strings")),
    };
    pairs
        .iter()
        .map(|(k, v)| Ok((text(k)?, text(v)?)))
        .collect()
}

/// Checks a column type names only native types and existing user types.
fn check_type(keyspace: &Keyspace, ty: &str) -> Result<(), CqlError> {
    for word in ty.split(['<', '>', ',', ' ']).filter(|w| !w.is_empty()) {
        let known = matches!(word, "frozen" | "list" | "set" | "map" | "tuple")
            || word.starts_with('\'')
            || NATIVE_TYPES.contains(&word)
            || keyspace.user_type(word.trim_matches('"')).is_some();
        if !known {
            return Err(CqlError::invalid(format!(
                "Unknown type {}.{word}",
                keyspace.name
            )));
        }
    }
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn create_table(
    schema: &mut Schema,
    name: &Name,
    if_not_exists: bool,
    defs: &[ColumnDef],
    key: &PrimaryKey,
    props: &Properties,
    ctx: Context<'_>,
) -> Result<Option<SchemaChange>, CqlError> {
    let ks = keyspace_of(name, ctx)?;
    let keyspace = user_keyspace(schema, &ks)?;
    if exists(keyspace, &name.name, if_not_exists)? {
        return Ok(None);
    }
    check_name("table", &name.name)?;
    let mut columns: Vec<Column> = Vec::new();
    for d in defs {
        if columns.iter().any(|c| c.name == d.name) {
            return Err(CqlError::invalid(format!(
                "Multiple definition of identifier {}",
                d.name
            )));
        }
        check_type(keyspace, &d.ty)?;
        columns.push(Column {
            name: d.name.clone(),
            ty: d.ty.clone(),
            kind: if d.is_static {
                ColumnKind::Static
            } else {
                ColumnKind::Regular
            },
            position: -1,
            descending: false,
        });
    }
    let mut table = Table {
        name: name.name.clone(),
        id: props.id.unwrap_or_else(Uuid::new_v4),
        columns,
        options: Options::default(),
        kind: TableKind::Table,
    };
    set_key(&mut table, key, props)?;
    set_options(&mut table.options, props)?;
    add(schema, &ks, table)
}

/// Marks the key columns and the clustering order, then sorts the columns as Scylla does.
fn set_key(table: &mut Table, key: &PrimaryKey, props: &Properties) -> Result<(), CqlError> {
    for (kind, names) in [
        (ColumnKind::PartitionKey, &key.partition),
        (ColumnKind::Clustering, &key.clustering),
    ] {
        for (i, n) in names.iter().enumerate() {
            let c = table
                .columns
                .iter_mut()
                .find(|c| &c.name == n)
                .ok_or_else(|| {
                    CqlError::invalid(format!("Unknown definition {n} referenced in PRIMARY KEY"))
                })?;
            if c.kind == ColumnKind::Static {
                return Err(CqlError::invalid(format!(
                    "Static column {n} cannot be part of the PRIMARY KEY"
                )));
            }
            c.kind = kind;
            c.position = i as i32;
        }
    }
    for (n, desc) in &props.clustering_order {
        let c = table
            .columns
            .iter_mut()
            .find(|c| &c.name == n && c.kind == ColumnKind::Clustering)
            .ok_or_else(|| CqlError::invalid(format!("Missing CLUSTERING ORDER for column {n}")))?;
        c.descending = *desc;
    }
    table.sort_columns();
    Ok(())
}

/// Applies `WITH name = value` options.
fn set_options(options: &mut Options, props: &Properties) -> Result<(), CqlError> {
    for (name, value) in &props.values {
        let v = match value {
            Term::Str(s) => OptionValue::Text(s.clone()),
            Term::Num(n) => OptionValue::Number(n.clone()),
            Term::Bool(b) => OptionValue::Bool(*b),
            Term::Map(pairs) => OptionValue::Map(text_map(pairs)?),
            _ => {
                return Err(CqlError::syntax(format!(
                    "Invalid value for property '{name}'"
                )));
            }
        };
        options.set(name, v).map_err(|e| match e {
            crate::emulator::schema::options::OptionError::Unknown(_) => {
                CqlError::syntax(e.to_string())
            }
            _ => CqlError {
                kind: ErrorKind::Config,
                message: e.to_string(),
            },
        })?;
    }
    Ok(())
}

fn drop(
    schema: &mut Schema,
    what: DropKind,
    name: &Name,
    if_exists: bool,
    ctx: Context<'_>,
) -> Result<Option<SchemaChange>, CqlError> {
    if what == DropKind::Keyspace {
        let ks = &name.name;
        if is_system_keyspace(ks) {
            return Err(system(ks));
        }
        return match schema.keyspaces.remove(ks) {
            Some(_) => Ok(Some(SchemaChange {
                change: ChangeType::Dropped,
                keyspace: ks.clone(),
                target: ChangeTarget::Keyspace,
            })),
            None if if_exists => Ok(None),
            None => Err(CqlError {
                kind: ErrorKind::Config,
                message: format!("Cannot drop non existing keyspace '{ks}'."),
            }),
        };
    }
    let ks = keyspace_of(name, ctx)?;
    if is_system_keyspace(&ks) {
        return Err(system(&ks));
    }
    let Some(keyspace) = schema.keyspaces.get_mut(&ks) else {
        if if_exists {
            return Ok(None);
        }
        return Err(CqlError::invalid(format!("Keyspace {ks} does not exist")));
    };
    let n = &name.name;
    let dropped = |target| {
        Ok(Some(SchemaChange {
            change: ChangeType::Dropped,
            keyspace: ks.clone(),
            target,
        }))
    };
    match what {
        DropKind::Type => {
            let Some(pos) = keyspace.types.iter().position(|t| &t.name == n) else {
                if if_exists {
                    return Ok(None);
                }
                return Err(CqlError::invalid(format!(
                    "No user type named {ks}.{n} exists."
                )));
            };
            let used = keyspace.tables.values().any(|t| {
                t.columns
                    .iter()
                    .any(|c| c.ty.split(['<', '>', ',', ' ']).any(|w| w == n))
            }) || keyspace.types.iter().any(|t| {
                t.fields
                    .iter()
                    .any(|(_, ty)| ty.split(['<', '>', ',', ' ']).any(|w| w == n))
            });
            if used {
                return Err(CqlError::invalid(format!(
                    "Cannot drop user type {ks}.{n} as it is still used"
                )));
            }
            keyspace.types.remove(pos);
            dropped(ChangeTarget::Type(n.clone()))
        }
        DropKind::Index => {
            let Some(view) = keyspace.index(n).map(|t| t.name.clone()) else {
                if if_exists {
                    return Ok(None);
                }
                return Err(CqlError::invalid(format!(
                    "Index '{n}' could not be found in any of the tables of keyspace '{ks}'"
                )));
            };
            let base = keyspace
                .tables
                .remove(&view)
                .and_then(|t| t.base().map(str::to_string))
                .unwrap_or_default();
            Ok(Some(SchemaChange {
                change: ChangeType::Updated,
                keyspace: ks.clone(),
                target: ChangeTarget::Table(base),
            }))
        }
        DropKind::View | DropKind::Table => {
            // An index's view counts as a view here: neither DROP may remove it.
            let found = keyspace.tables.get(n).map(|t| t.is_view());
            match (what, found) {
                (_, None) if if_exists => Ok(None),
                (DropKind::Table, None) => Err(CqlError {
                    kind: ErrorKind::Config,
                    message: format!("Cannot drop non existing table '{n}' in keyspace '{ks}'."),
                }),
                (_, None) => Err(CqlError {
                    kind: ErrorKind::Config,
                    message: format!(
                        "Cannot drop non existing materialized view '{n}' in keyspace '{ks}'."
                    ),
                }),
                (DropKind::Table, Some(true)) => Err(CqlError::invalid(
                    "Cannot use DROP TABLE on Materialized View",
                )),
                (DropKind::View, Some(false)) => Err(CqlError::invalid(format!(
                    "Cannot use DROP MATERIALIZED VIEW on Table {n}"
                ))),
                (DropKind::View, Some(true))
                    if matches!(
                        keyspace.tables.get(n).map(|t| &t.kind),
                        Some(TableKind::Index { .. })
                    ) =>
                {
                    Err(CqlError::invalid(format!(
                        "Cannot drop view {n}: it backs a secondary index; drop the index instead"
                    )))
                }
                _ => {
                    schema
                        .drop_table(&ks, n)
                        .map_err(|e| CqlError::invalid(e.to_string()))?;
                    dropped(ChangeTarget::Table(n.clone()))
                }
            }
        }
        DropKind::Keyspace => Ok(None),
    }
}
