//! The parser's schema statements: `CREATE`/`DROP` of keyspaces, tables, views, indexes and
//! types, `ALTER TABLE ... WITH`, their properties and column types.

use super::super::outcome::CqlError;
use super::lexer::Tok;
use super::parse::{NATIVE_TYPES, Parser};
use super::statement::{ColumnDef, DropKind, Name, PrimaryKey, Properties, Statement, Term};

impl Parser<'_> {
    pub(super) fn create(&mut self) -> Result<Statement, CqlError> {
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

    pub(super) fn create_table(&mut self) -> Result<Statement, CqlError> {
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
    pub(super) fn primary_key(&mut self) -> Result<PrimaryKey, CqlError> {
        self.sym("(")?;
        let mut key = PrimaryKey::default();
        if self.eat_sym("(") {
            key.partition = self.ident_list()?;
            self.sym(")")?;
        } else {
            key.partition.push(self.ident()?);
        }
        while self.eat_sym(",") {
            key.clustering.push(self.ident()?);
        }
        self.sym(")")?;
        Ok(key)
    }

    pub(super) fn create_view(&mut self) -> Result<Statement, CqlError> {
        let if_not_exists = self.if_not_exists()?;
        let name = self.name()?;
        self.kw("AS")?;
        self.kw("SELECT")?;
        let columns = if self.eat_sym("*") {
            None
        } else {
            Some(self.ident_list()?)
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

    pub(super) fn create_index(&mut self) -> Result<Statement, CqlError> {
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

    pub(super) fn drop(&mut self) -> Result<Statement, CqlError> {
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

    pub(super) fn alter(&mut self) -> Result<Statement, CqlError> {
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
    pub(super) fn properties(&mut self) -> Result<Properties, CqlError> {
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
    pub(super) fn cql_type(&mut self) -> Result<String, CqlError> {
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
