//! The statements the engine understands, as a syntax tree, and the parser that builds it.
//! Keywords are case-insensitive; unquoted names are folded to lower case, quoted ones kept.

use super::super::outcome::CqlError;
use super::lexer::{Spanned, Tok, lex};

/// A literal or a bind marker.
#[derive(Debug, Clone, PartialEq)]
pub enum Term {
    /// `'text'`.
    Str(String),
    /// A number as written.
    Num(String),
    /// `true`/`false`.
    Bool(bool),
    /// A UUID.
    Uuid(uuid::Uuid),
    /// `0x...`.
    Blob(String),
    /// `null`.
    Null,
    /// `{k: v, ...}`.
    Map(Vec<(Term, Term)>),
    /// `{a, b}`.
    Set(Vec<Term>),
    /// `[a, b]`.
    List(Vec<Term>),
    /// The n-th `?` of the statement (from 0).
    Marker(usize),
}

/// A `[keyspace.]name`.
#[derive(Debug, Clone, PartialEq)]
pub struct Name {
    /// The keyspace, when given.
    pub keyspace: Option<String>,
    /// The name.
    pub name: String,
}

/// One `WHERE` restriction of a `SELECT`.
#[derive(Debug, Clone, PartialEq)]
pub enum Restriction {
    /// `col = term`.
    Eq(String, Term),
    /// `col IN (terms)`.
    In(String, Vec<Term>),
    /// `col IN ?`.
    InMarker(String, usize),
}

/// A `SELECT`.
#[derive(Debug, Clone, PartialEq)]
pub struct Select {
    /// Selected columns; `None` for `*`.
    pub columns: Option<Vec<String>>,
    /// Whether it is `SELECT COUNT(*)`.
    pub count: bool,
    /// The table.
    pub from: Name,
    /// `WHERE` restrictions.
    pub restrictions: Vec<Restriction>,
    /// `LIMIT n` (a literal or a marker).
    pub limit: Option<Term>,
}

/// What a `DESCRIBE` asks for.
#[derive(Debug, Clone, PartialEq)]
pub enum Describe {
    /// `DESCRIBE [FULL] SCHEMA`.
    Schema {
        /// `FULL`: include system keyspaces.
        full: bool,
    },
    /// `DESCRIBE KEYSPACES`.
    Keyspaces,
    /// `DESCRIBE [ONLY] KEYSPACE [ks]`.
    Keyspace {
        /// The keyspace (the current one when `None`).
        name: Option<String>,
        /// `ONLY`: the keyspace's statement alone.
        only: bool,
    },
    /// `DESCRIBE TABLES`.
    Tables,
    /// `DESCRIBE TABLE [ks.]t`.
    Table(Name),
    /// `DESCRIBE MATERIALIZED VIEW [ks.]v`.
    View(Name),
    /// `DESCRIBE INDEX [ks.]i`.
    Index(Name),
    /// `DESCRIBE TYPE [ks.]t`.
    Type(Name),
}

/// A column definition of `CREATE TABLE`.
#[derive(Debug, Clone, PartialEq)]
pub struct ColumnDef {
    /// Name.
    pub name: String,
    /// CQL type, normalized.
    pub ty: String,
    /// `STATIC`.
    pub is_static: bool,
}

/// A primary key: partition key columns, then clustering columns.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PrimaryKey {
    /// Partition key columns.
    pub partition: Vec<String>,
    /// Clustering columns.
    pub clustering: Vec<String>,
}

/// `WITH` properties: `name = term` pairs, `CLUSTERING ORDER BY`, and `ID`.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Properties {
    /// `name = value` pairs in order (without `ID`).
    pub values: Vec<(String, Term)>,
    /// `CLUSTERING ORDER BY (c ASC|DESC, ...)`: (column, descending).
    pub clustering_order: Vec<(String, bool)>,
    /// `ID = <uuid>`.
    pub id: Option<uuid::Uuid>,
    /// `COMPACT STORAGE` was given.
    pub compact_storage: bool,
}

/// A statement.
#[derive(Debug, Clone, PartialEq)]
pub enum Statement {
    /// `USE ks`.
    Use(String),
    /// `SELECT ...`.
    Select(Select),
    /// `DESCRIBE ...`; `with_internals` for `WITH INTERNALS`.
    Describe(Describe, bool),
    /// `CREATE KEYSPACE`.
    CreateKeyspace {
        /// Keyspace name.
        name: String,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// `replication`, `durable_writes`, `tablets`.
        properties: Properties,
    },
    /// `CREATE TABLE`.
    CreateTable {
        /// The table.
        name: Name,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// Column definitions.
        columns: Vec<ColumnDef>,
        /// Primary key.
        key: PrimaryKey,
        /// `WITH ...`.
        properties: Properties,
    },
    /// `CREATE MATERIALIZED VIEW`.
    CreateView {
        /// The view.
        name: Name,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// Selected columns; `None` for `*`.
        columns: Option<Vec<String>>,
        /// Base table.
        base: Name,
        /// The `WHERE` clause as written (whitespace collapsed).
        where_clause: String,
        /// Primary key.
        key: PrimaryKey,
        /// `WITH ...`.
        properties: Properties,
    },
    /// `CREATE INDEX`.
    CreateIndex {
        /// Index name, when given.
        name: Option<String>,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// The indexed table.
        table: Name,
        /// The indexed column.
        target: String,
        /// `WITH ...`.
        properties: Properties,
    },
    /// `CREATE TYPE`.
    CreateType {
        /// The type.
        name: Name,
        /// `IF NOT EXISTS`.
        if_not_exists: bool,
        /// Fields: name and normalized type.
        fields: Vec<(String, String)>,
    },
    /// `ALTER TABLE t WITH ...`.
    AlterTable {
        /// The table.
        name: Name,
        /// `WITH ...`.
        properties: Properties,
    },
    /// `DROP KEYSPACE|TABLE|MATERIALIZED VIEW|INDEX|TYPE`.
    Drop {
        /// What kind of object.
        what: DropKind,
        /// Its name.
        name: Name,
        /// `IF EXISTS`.
        if_exists: bool,
    },
}

/// What a `DROP` removes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropKind {
    /// `DROP KEYSPACE`.
    Keyspace,
    /// `DROP TABLE`.
    Table,
    /// `DROP MATERIALIZED VIEW`.
    View,
    /// `DROP INDEX`.
    Index,
    /// `DROP TYPE`.
    Type,
}

/// A parsed statement and how many markers it has.
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed {
    /// The statement.
    pub statement: Statement,
    /// Number of `?` markers.
    pub markers: usize,
}

/// Parses one statement (an optional trailing `;`).
pub fn parse(text: &str) -> Result<Parsed, CqlError> {
    let toks = lex(text)?;
    let mut p = Parser {
        text,
        toks,
        at: 0,
        markers: 0,
    };
    let statement = p.statement()?;
    p.eat_sym(";");
    if let Some(t) = p.toks.get(p.at) {
        return Err(p.error_at(t.start, "extraneous input"));
    }
    Ok(Parsed {
        statement,
        markers: p.markers,
    })
}

/// Reads tokens into statements.
struct Parser<'a> {
    /// The statement text (for `WHERE` clauses and messages).
    text: &'a str,
    /// Its tokens.
    toks: Vec<Spanned>,
    /// The next token.
    at: usize,
    /// Markers seen so far.
    markers: usize,
}

/// Native CQL types.
pub const NATIVE_TYPES: &[&str] = &[
    "ascii",
    "bigint",
    "blob",
    "boolean",
    "counter",
    "date",
    "decimal",
    "double",
    "duration",
    "float",
    "inet",
    "int",
    "smallint",
    "text",
    "time",
    "timestamp",
    "timeuuid",
    "tinyint",
    "uuid",
    "varchar",
    "varint",
];

impl Parser<'_> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.at).map(|s| &s.tok)
    }

    fn peek_at(&self, n: usize) -> Option<&Tok> {
        self.toks.get(self.at + n).map(|s| &s.tok)
    }

    /// A syntax error at byte `at`, showing the text from there.
    fn error_at(&self, at: usize, what: &str) -> CqlError {
        let near: String = self.text.get(at..).unwrap_or("").chars().take(30).collect();
        CqlError::syntax(format!("line 1:{at} {what} at '{near}'"))
    }

    /// A syntax error at the next token (or the end).
    fn error(&self, what: &str) -> CqlError {
        match self.toks.get(self.at) {
            Some(t) => self.error_at(t.start, what),
            None => CqlError::syntax(format!("line 1:{} {what} at end of input", self.text.len())),
        }
    }

    fn is_kw(&self, kw: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(kw))
    }

    fn eat_kw(&mut self, kw: &str) -> bool {
        if self.is_kw(kw) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn kw(&mut self, kw: &str) -> Result<(), CqlError> {
        if self.eat_kw(kw) {
            Ok(())
        } else {
            Err(self.error(&format!("expected {kw}")))
        }
    }

    fn eat_sym(&mut self, sym: &str) -> bool {
        if matches!(self.peek(), Some(Tok::Sym(s)) if *s == sym) {
            self.at += 1;
            true
        } else {
            false
        }
    }

    fn sym(&mut self, sym: &str) -> Result<(), CqlError> {
        if self.eat_sym(sym) {
            Ok(())
        } else {
            Err(self.error(&format!("expected '{sym}'")))
        }
    }

    /// A name: unquoted folded to lower case, quoted kept.
    fn ident(&mut self) -> Result<String, CqlError> {
        let name = match self.peek() {
            Some(Tok::Word(w)) => w.to_ascii_lowercase(),
            Some(Tok::Quoted(q)) => q.clone(),
            _ => return Err(self.error("expected a name")),
        };
        self.at += 1;
        Ok(name)
    }

    /// `[ks.]name`.
    fn name(&mut self) -> Result<Name, CqlError> {
        let first = self.ident()?;
        if self.eat_sym(".") {
            Ok(Name {
                keyspace: Some(first),
                name: self.ident()?,
            })
        } else {
            Ok(Name {
                keyspace: None,
                name: first,
            })
        }
    }

    fn if_not_exists(&mut self) -> Result<bool, CqlError> {
        if self.eat_kw("IF") {
            self.kw("NOT")?;
            self.kw("EXISTS")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn if_exists(&mut self) -> Result<bool, CqlError> {
        if self.eat_kw("IF") {
            self.kw("EXISTS")?;
            Ok(true)
        } else {
            Ok(false)
        }
    }

    fn statement(&mut self) -> Result<Statement, CqlError> {
        let Some(Tok::Word(first)) = self.peek().cloned() else {
            return Err(self.error("no viable alternative"));
        };
        self.at += 1;
        match first.to_ascii_uppercase().as_str() {
            "USE" => Ok(Statement::Use(self.ident()?)),
            "SELECT" => self.select().map(Statement::Select),
            "DESCRIBE" | "DESC" => self.describe(),
            "CREATE" => self.create(),
            "DROP" => self.drop(),
            "ALTER" => self.alter(),
            _ => {
                self.at -= 1;
                Err(self.error("no viable alternative"))
            }
        }
    }

    fn select(&mut self) -> Result<Select, CqlError> {
        self.eat_kw("JSON");
        let mut count = false;
        let columns = if self.eat_sym("*") {
            None
        } else if self.is_kw("COUNT") && self.peek_at(1) == Some(&Tok::Sym("(")) {
            self.at += 2;
            if !self.eat_sym("*") {
                self.ident()?;
            }
            self.sym(")")?;
            count = true;
            None
        } else {
            let mut cols = vec![self.ident()?];
            while self.eat_sym(",") {
                cols.push(self.ident()?);
            }
            Some(cols)
        };
        self.kw("FROM")?;
        let from = self.name()?;
        let mut restrictions = Vec::new();
        if self.eat_kw("WHERE") {
            loop {
                let col = self.ident()?;
                if self.eat_sym("=") {
                    restrictions.push(Restriction::Eq(col, self.term()?));
                } else if self.eat_kw("IN") {
                    if matches!(self.peek(), Some(Tok::Marker)) {
                        self.at += 1;
                        restrictions.push(Restriction::InMarker(col, self.markers));
                        self.markers += 1;
                    } else {
                        self.sym("(")?;
                        let mut terms = Vec::new();
                        if !self.eat_sym(")") {
                            loop {
                                terms.push(self.term()?);
                                if self.eat_sym(")") {
                                    break;
                                }
                                self.sym(",")?;
                            }
                        }
                        restrictions.push(Restriction::In(col, terms));
                    }
                } else {
                    return Err(self.error("expected '=' or IN"));
                }
                if !self.eat_kw("AND") {
                    break;
                }
            }
        }
        let limit = if self.eat_kw("LIMIT") {
            Some(self.term()?)
        } else {
            None
        };
        if self.eat_kw("ALLOW") {
            self.kw("FILTERING")?;
        }
        Ok(Select {
            columns,
            count,
            from,
            restrictions,
            limit,
        })
    }

    /// A literal or marker.
    fn term(&mut self) -> Result<Term, CqlError> {
        let tok = self
            .peek()
            .cloned()
            .ok_or_else(|| self.error("expected a value"))?;
        self.at += 1;
        Ok(match tok {
            Tok::Str(s) => Term::Str(s),
            Tok::Num(n) => Term::Num(n),
            Tok::Uuid(u) => Term::Uuid(u),
            Tok::Blob(b) => Term::Blob(b),
            Tok::Marker => {
                self.markers += 1;
                Term::Marker(self.markers - 1)
            }
            Tok::Word(w) if w.eq_ignore_ascii_case("true") => Term::Bool(true),
            Tok::Word(w) if w.eq_ignore_ascii_case("false") => Term::Bool(false),
            Tok::Word(w) if w.eq_ignore_ascii_case("null") => Term::Null,
            Tok::Word(w) if ["nan", "infinity"].contains(&w.to_ascii_lowercase().as_str()) => {
                Term::Num(w)
            }
            Tok::Sym("-") if self.is_kw("infinity") => {
                self.at += 1;
                Term::Num("-Infinity".into())
            }
            Tok::Sym("[") => {
                let mut items = Vec::new();
                if !self.eat_sym("]") {
                    loop {
                        items.push(self.term()?);
                        if self.eat_sym("]") {
                            break;
                        }
                        self.sym(",")?;
                    }
                }
                Term::List(items)
            }
            Tok::Sym("{") => {
                if self.eat_sym("}") {
                    return Ok(Term::Map(Vec::new()));
                }
                let first = self.term()?;
                if self.eat_sym(":") {
                    let mut pairs = vec![(first, self.term()?)];
                    while self.eat_sym(",") {
                        let k = self.term()?;
                        self.sym(":")?;
                        pairs.push((k, self.term()?));
                    }
                    self.sym("}")?;
                    Term::Map(pairs)
                } else {
                    let mut items = vec![first];
                    while self.eat_sym(",") {
                        items.push(self.term()?);
                    }
                    self.sym("}")?;
                    Term::Set(items)
                }
            }
            _ => {
                self.at -= 1;
                return Err(self.error("expected a value"));
            }
        })
    }

    fn describe(&mut self) -> Result<Statement, CqlError> {
        let what = if self.eat_kw("FULL") {
            self.kw("SCHEMA")?;
            Describe::Schema { full: true }
        } else if self.eat_kw("SCHEMA") {
            Describe::Schema { full: false }
        } else if self.eat_kw("KEYSPACES") {
            Describe::Keyspaces
        } else if self.eat_kw("TABLES") {
            Describe::Tables
        } else if self.is_kw("ONLY") || self.is_kw("KEYSPACE") {
            let only = self.eat_kw("ONLY");
            self.kw("KEYSPACE")?;
            let name = match self.peek() {
                Some(Tok::Word(_) | Tok::Quoted(_)) if !self.is_kw("WITH") => Some(self.ident()?),
                _ => None,
            };
            Describe::Keyspace { name, only }
        } else if self.eat_kw("TABLE") || self.eat_kw("COLUMNFAMILY") {
            Describe::Table(self.name()?)
        } else if self.eat_kw("MATERIALIZED") {
            self.kw("VIEW")?;
            Describe::View(self.name()?)
        } else if self.eat_kw("INDEX") {
            Describe::Index(self.name()?)
        } else if self.eat_kw("TYPE") {
            Describe::Type(self.name()?)
        } else {
            return Err(self.error("DESCRIBE of this kind is not supported by the emulator"));
        };
        let internals = if self.eat_kw("WITH") {
            self.kw("INTERNALS")?;
            true
        } else {
            false
        };
        Ok(Statement::Describe(what, internals))
    }

    fn create(&mut self) -> Result<Statement, CqlError> {
        if self.eat_kw("KEYSPACE") || self.eat_kw("SCHEMA") {
            let if_not_exists = self.if_not_exists()?;
            let name = self.ident()?;
            self.kw("WITH")?;
            let properties = self.properties()?;
            Ok(Statement::CreateKeyspace {
                name,
                if_not_exists,
                properties,
            })
        } else if self.eat_kw("TABLE") || self.eat_kw("COLUMNFAMILY") {
            self.create_table()
        } else if self.eat_kw("MATERIALIZED") {
            self.kw("VIEW")?;
            self.create_view()
        } else if self.eat_kw("INDEX") {
            self.create_index()
        } else if self.eat_kw("TYPE") {
            let if_not_exists = self.if_not_exists()?;
            let name = self.name()?;
            self.sym("(")?;
            let mut fields = Vec::new();
            loop {
                let f = self.ident()?;
                fields.push((f, self.cql_type()?));
                if self.eat_sym(")") {
                    break;
                }
                self.sym(",")?;
            }
            Ok(Statement::CreateType {
                name,
                if_not_exists,
                fields,
            })
        } else {
            Err(self.error("CREATE of this kind is not supported by the emulator"))
        }
    }

    fn create_table(&mut self) -> Result<Statement, CqlError> {
        let if_not_exists = self.if_not_exists()?;
        let name = self.name()?;
        self.sym("(")?;
        let mut columns = Vec::new();
        let mut key = None;
        loop {
            if self.is_kw("PRIMARY")
                && self
                    .peek_at(1)
                    .is_some_and(|t| matches!(t, Tok::Word(w) if w.eq_ignore_ascii_case("KEY")))
            {
                self.at += 2;
                if key.is_some() {
                    return Err(CqlError::invalid(
                        "Multiple PRIMARY KEYs specified (exactly one required)",
                    ));
                }
                key = Some(self.primary_key()?);
            } else {
                let col = self.ident()?;
                let ty = self.cql_type()?;
                let is_static = self.eat_kw("STATIC");
                if self.eat_kw("PRIMARY") {
                    self.kw("KEY")?;
                    if key.is_some() {
                        return Err(CqlError::invalid(
                            "Multiple PRIMARY KEYs specified (exactly one required)",
                        ));
                    }
                    key = Some(PrimaryKey {
                        partition: vec![col.clone()],
                        clustering: Vec::new(),
                    });
                }
                columns.push(ColumnDef {
                    name: col,
                    ty,
                    is_static,
                });
            }
            if self.eat_sym(")") {
                break;
            }
            self.sym(",")?;
            if self.eat_sym(")") {
                break;
            }
        }
        let key =
            key.ok_or_else(|| CqlError::invalid("No PRIMARY KEY specifed (exactly one required)"))?;
        let properties = if self.eat_kw("WITH") {
            self.properties()?
        } else {
            Properties::default()
        };
        Ok(Statement::CreateTable {
            name,
            if_not_exists,
            columns,
            key,
            properties,
        })
    }

    /// After `PRIMARY KEY`: `((a, b), c, d)` or `(a, c)`.
    fn primary_key(&mut self) -> Result<PrimaryKey, CqlError> {
        self.sym("(")?;
        let mut key = PrimaryKey::default();
        if self.eat_sym("(") {
            loop {
                key.partition.push(self.ident()?);
                if self.eat_sym(")") {
                    break;
                }
                self.sym(",")?;
            }
        } else {
            key.partition.push(self.ident()?);
        }
        while self.eat_sym(",") {
            key.clustering.push(self.ident()?);
        }
        self.sym(")")?;
        Ok(key)
    }

    fn create_view(&mut self) -> Result<Statement, CqlError> {
        let if_not_exists = self.if_not_exists()?;
        let name = self.name()?;
        self.kw("AS")?;
        self.kw("SELECT")?;
        let columns = if self.eat_sym("*") {
            None
        } else {
            let mut cols = vec![self.ident()?];
            while self.eat_sym(",") {
                cols.push(self.ident()?);
            }
            Some(cols)
        };
        self.kw("FROM")?;
        let base = self.name()?;
        self.kw("WHERE")?;
        let start = self
            .toks
            .get(self.at)
            .map(|t| t.start)
            .unwrap_or(self.text.len());
        while !(self.is_kw("PRIMARY") || self.peek().is_none()) {
            if matches!(self.peek(), Some(Tok::Marker)) {
                return Err(CqlError::invalid(
                    "Cannot use query parameters in CREATE MATERIALIZED VIEW statements",
                ));
            }
            self.at += 1;
        }
        let end = self
            .toks
            .get(self.at)
            .map(|t| t.start)
            .unwrap_or(self.text.len());
        let where_clause = self
            .text
            .get(start..end)
            .unwrap_or("")
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if where_clause.is_empty() {
            return Err(self.error("expected a WHERE clause"));
        }
        self.kw("PRIMARY")?;
        self.kw("KEY")?;
        let key = self.primary_key()?;
        let properties = if self.eat_kw("WITH") {
            self.properties()?
        } else {
            Properties::default()
        };
        Ok(Statement::CreateView {
            name,
            if_not_exists,
            columns,
            base,
            where_clause,
            key,
            properties,
        })
    }

    fn create_index(&mut self) -> Result<Statement, CqlError> {
        let if_not_exists = self.if_not_exists()?;
        let name = if self.is_kw("ON") {
            None
        } else {
            Some(self.ident()?)
        };
        self.kw("ON")?;
        let table = self.name()?;
        self.sym("(")?;
        let target = self.ident()?;
        if self.eat_sym("(") {
            return Err(CqlError::invalid(format!(
                "CREATE INDEX with {target}(...) targets is not supported by the emulator"
            )));
        }
        self.sym(")")?;
        if self.eat_kw("USING") {
            return Err(CqlError::invalid(
                "CREATE CUSTOM INDEX ... USING is not supported by the emulator",
            ));
        }
        let properties = if self.eat_kw("WITH") {
            self.properties()?
        } else {
            Properties::default()
        };
        Ok(Statement::CreateIndex {
            name,
            if_not_exists,
            table,
            target,
            properties,
        })
    }

    fn drop(&mut self) -> Result<Statement, CqlError> {
        let what = if self.eat_kw("KEYSPACE") || self.eat_kw("SCHEMA") {
            DropKind::Keyspace
        } else if self.eat_kw("TABLE") || self.eat_kw("COLUMNFAMILY") {
            DropKind::Table
        } else if self.eat_kw("MATERIALIZED") {
            self.kw("VIEW")?;
            DropKind::View
        } else if self.eat_kw("INDEX") {
            DropKind::Index
        } else if self.eat_kw("TYPE") {
            DropKind::Type
        } else {
            return Err(self.error("DROP of this kind is not supported by the emulator"));
        };
        let if_exists = self.if_exists()?;
        let name = if what == DropKind::Keyspace {
            Name {
                keyspace: None,
                name: self.ident()?,
            }
        } else {
            self.name()?
        };
        Ok(Statement::Drop {
            what,
            name,
            if_exists,
        })
    }

    fn alter(&mut self) -> Result<Statement, CqlError> {
        if !(self.eat_kw("TABLE") || self.eat_kw("COLUMNFAMILY")) {
            return Err(CqlError::invalid(format!(
                "the emulator supports only ALTER TABLE ... WITH tombstone_gc = {{...}}, not: {}",
                self.text.trim()
            )));
        }
        let name = self.name()?;
        if !self.eat_kw("WITH") {
            return Err(CqlError::invalid(format!(
                "the emulator supports only ALTER TABLE ... WITH tombstone_gc = {{...}}, not: {}",
                self.text.trim()
            )));
        }
        let properties = self.properties()?;
        Ok(Statement::AlterTable { name, properties })
    }

    /// `name = term AND CLUSTERING ORDER BY (...) AND COMPACT STORAGE AND ID = ...`.
    fn properties(&mut self) -> Result<Properties, CqlError> {
        let mut props = Properties::default();
        loop {
            if self.eat_kw("CLUSTERING") {
                self.kw("ORDER")?;
                self.kw("BY")?;
                self.sym("(")?;
                loop {
                    let col = self.ident()?;
                    let desc = if self.eat_kw("DESC") {
                        true
                    } else {
                        self.eat_kw("ASC");
                        false
                    };
                    props.clustering_order.push((col, desc));
                    if self.eat_sym(")") {
                        break;
                    }
                    self.sym(",")?;
                }
            } else if self.eat_kw("COMPACT") {
                self.kw("STORAGE")?;
                props.compact_storage = true;
            } else {
                let name = self.ident()?;
                self.sym("=")?;
                let value = self.term()?;
                if name == "id" {
                    match value {
                        Term::Uuid(u) => props.id = Some(u),
                        _ => return Err(CqlError::invalid("Invalid table id: expected a UUID")),
                    }
                } else {
                    props.values.push((name, value));
                }
            }
            if !self.eat_kw("AND") {
                return Ok(props);
            }
        }
    }

    /// A CQL type, normalized as `system_schema.columns.type` writes it.
    fn cql_type(&mut self) -> Result<String, CqlError> {
        if let Some(Tok::Str(s)) = self.peek() {
            let s = s.clone();
            self.at += 1;
            return Ok(format!("'{s}'"));
        }
        let name = self.ident()?;
        let lower = name.to_ascii_lowercase();
        let args = |p: &mut Self, n: Option<usize>| -> Result<Vec<String>, CqlError> {
            p.sym("<")?;
            let mut out = vec![p.cql_type()?];
            while p.eat_sym(",") {
                out.push(p.cql_type()?);
            }
            p.sym(">")?;
            if n.is_some_and(|n| n != out.len()) {
                return Err(CqlError::syntax(format!(
                    "{lower} takes {} type argument(s), got {}",
                    n.unwrap_or(0),
                    out.len()
                )));
            }
            Ok(out)
        };
        Ok(match lower.as_str() {
            "varchar" => "text".into(),
            "frozen" | "list" | "set" => format!("{lower}<{}>", args(self, Some(1))?[0]),
            "map" => format!("map<{}>", args(self, Some(2))?.join(", ")),
            "tuple" => format!("tuple<{}>", args(self, None)?.join(", ")),
            n if NATIVE_TYPES.contains(&n) => n.to_string(),
            _ => {
                if self.eat_sym(".") {
                    self.ident()?
                } else {
                    name
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_parse_with_cql_case_rules() {
        let p = parse(
            "select \"Key\", tokens FROM System.Local where key = 'local' AND x IN ? LIMIT ?;",
        )
        .unwrap();
        assert_eq!(p.markers, 2);
        let Statement::Select(s) = p.statement else {
            panic!()
        };
        assert_eq!(s.columns, Some(vec!["Key".into(), "tokens".into()]));
        assert_eq!(s.from.keyspace.as_deref(), Some("system"));
        assert_eq!(s.restrictions[1], Restriction::InMarker("x".into(), 0));
        let p = parse("CREATE TABLE IF NOT EXISTS ks.t (a int, b frozen<map<text, varchar>>, c int static, PRIMARY KEY ((a), b)) WITH ID = 123e4567-e89b-12d3-a456-426614174000 AND CLUSTERING ORDER BY (b DESC) AND comment = 'x'").unwrap();
        let Statement::CreateTable {
            columns,
            key,
            properties,
            if_not_exists,
            ..
        } = p.statement
        else {
            panic!()
        };
        assert!(if_not_exists);
        assert_eq!(columns[1].ty, "frozen<map<text, text>>");
        assert!(columns[2].is_static);
        assert_eq!(key.partition, vec!["a"]);
        assert_eq!(properties.clustering_order, vec![("b".to_string(), true)]);
        assert!(properties.id.is_some());
        assert!(parse("SELECT FROM").is_err());
        assert!(parse("UPDATE t SET a = 1").is_err());
        assert!(parse("DESCRIBE FUNCTIONS").is_err());
    }
}
