//! Batched writes: a table module names each column once, with its values, and this
//! module turns the columns into an `UNNEST` statement. Several tables' parts run as
//! one statement (the first ones as data-modifying CTEs): one round trip for a batch.
//!
//! A column is either *per row* (one array parameter, unnested) or *shared* (one
//! scalar parameter, the same value in every row: a batch's decision time, an actor).
use super::StoreError;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArguments, PgConnection, Postgres};
use sqlx::{Arguments, AssertSqlSafe, Encode, Type, TypeInfo};

/// One statement being built: the parts of the tables it writes, and their parameters.
#[derive(Default)]
pub(super) struct Write {
    parts: Vec<String>,
    args: PgArguments,
    /// The first binding that failed; the statement then is not sent.
    failed: Option<BoxDynError>,
}

/// The columns of one table's part, as its module lists them.
pub(super) struct Columns<'w> {
    write: &'w mut Write,
    table: &'static str,
    /// `(column, value expression)`: `u.column` for per-row ones, `$n::type` for shared ones.
    set: Vec<(&'static str, String)>,
    /// `$n::type[]`, per-row column names: the `UNNEST` and its aliases.
    arrays: Vec<String>,
    unnested: Vec<&'static str>,
    /// How many rows the part writes: every per-row column has that many values.
    rows: usize,
}

/// What a part does with its rows.
pub(super) enum Verb {
    /// `INSERT … SELECT … ORDER BY` the rows' order (ids and sequence numbers follow
    /// it), then `tail` (e.g. an `ON CONFLICT` clause).
    Insert { tail: &'static str },
    /// `UPDATE … FROM UNNEST … WHERE` the table's `key` equals the per-row `key` column.
    Update { key: &'static str },
    /// `DELETE … USING UNNEST … WHERE` every per-row column equals the table's (the
    /// columns named are the key; shared ones make no sense here).
    Delete,
}

impl Write {
    pub fn new() -> Write {
        Write::default()
    }

    /// Adds `table`'s part of `rows` rows; `columns` names each column once. A part
    /// without rows is left out (and binds nothing).
    pub fn part(
        &mut self,
        table: &'static str,
        verb: Verb,
        rows: usize,
        columns: impl FnOnce(&mut Columns<'_>),
    ) {
        if rows == 0 {
            return;
        }
        let mut c = Columns {
            write: self,
            table,
            set: Vec::new(),
            arrays: Vec::new(),
            unnested: Vec::new(),
            rows,
        };
        columns(&mut c);
        let sql = c.sql(verb);
        self.parts.push(sql);
    }

    /// Sends the statement (nothing when no part has rows).
    pub async fn execute(self, conn: &mut PgConnection) -> Result<(), StoreError> {
        if let Some(e) = self.failed {
            return Err(StoreError::Db(sqlx::Error::Encode(e)));
        }
        let Some(sql) = self.statement() else {
            return Ok(());
        };
        // The text is the same for every batch of the same shape, so each connection
        // prepares it once.
        sqlx::query_with(AssertSqlSafe(sql), self.args)
            .execute(conn)
            .await?;
        Ok(())
    }

    /// The parts as one statement: all but the last as data-modifying CTEs (they all
    /// run, to completion, whether or not the last reads them).
    fn statement(&self) -> Option<String> {
        let (last, first) = self.parts.split_last()?;
        let mut sql = String::new();
        for (i, part) in first.iter().enumerate() {
            sql.push_str(if i == 0 { "WITH " } else { ", " });
            sql.push_str(&format!("w{i} AS ({part})"));
        }
        if !first.is_empty() {
            sql.push(' ');
        }
        sql.push_str(last);
        Some(sql)
    }

    /// Binds `value` and returns its placeholder with a cast (`$3::TEXT[]`), which
    /// keeps the statement readable in the server's logs.
    fn bind<'v, T>(&mut self, value: T) -> String
    where
        T: Encode<'v, Postgres> + Type<Postgres>,
    {
        if let Err(e) = self.args.add(value) {
            self.failed.get_or_insert(e);
        }
        format!("${}::{}", self.args.len(), T::type_info().name())
    }
}

impl Columns<'_> {
    /// A column with one value per row.
    pub fn rows<'v, T>(&mut self, name: &'static str, values: &'v [T])
    where
        &'v [T]: Encode<'v, Postgres> + Type<Postgres>,
    {
        if values.len() != self.rows {
            // UNNEST would pad the shorter arrays with NULLs: a bug, never written.
            let why = format!(
                "{}.{name}: {} values for {} rows",
                self.table,
                values.len(),
                self.rows
            );
            self.write.failed.get_or_insert(why.into());
        }
        let placeholder = self.write.bind(values);
        self.arrays.push(placeholder);
        self.unnested.push(name);
        self.set.push((name, format!("u.{name}")));
    }

    /// A column with the same value in every row.
    pub fn shared<'v, T>(&mut self, name: &'static str, value: T)
    where
        T: Encode<'v, Postgres> + Type<Postgres>,
    {
        let placeholder = self.write.bind(value);
        self.set.push((name, placeholder));
    }

    fn sql(&self, verb: Verb) -> String {
        let table = self.table;
        let arrays = self.arrays.join(", ");
        let aliases = self.unnested.join(", ");
        match verb {
            Verb::Insert { tail } => {
                let names: Vec<&str> = self.set.iter().map(|(n, _)| *n).collect();
                let values: Vec<&str> = self.set.iter().map(|(_, v)| v.as_str()).collect();
                format!(
                    "INSERT INTO {table} ({}) SELECT {} FROM UNNEST({arrays}) \
                     WITH ORDINALITY AS u({aliases}, n) ORDER BY u.n{tail}",
                    names.join(", "),
                    values.join(", "),
                )
            }
            Verb::Update { key } => {
                let set: Vec<String> = self
                    .set
                    .iter()
                    .filter(|(n, _)| *n != key)
                    .map(|(n, v)| format!("{n} = {v}"))
                    .collect();
                format!(
                    "UPDATE {table} AS t SET {} FROM UNNEST({arrays}) AS u({aliases}) \
                     WHERE t.{key} = u.{key}",
                    set.join(", "),
                )
            }
            Verb::Delete => {
                let key: Vec<String> = self
                    .unnested
                    .iter()
                    .map(|n| format!("t.{n} = u.{n}"))
                    .collect();
                format!(
                    "DELETE FROM {table} AS t USING UNNEST({arrays}) AS u({aliases}) WHERE {}",
                    key.join(" AND "),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};

    #[test]
    fn parts_chain_into_one_statement_with_numbered_parameters() {
        let ids = ["a", "b"];
        let owners = [Some("alice"), None];
        let at = DateTime::<Utc>::UNIX_EPOCH;
        let mut w = Write::new();
        w.part("leads", Verb::Update { key: "lead_id" }, 2, |c| {
            c.rows("lead_id", &ids);
            c.rows("owner_id", &owners);
            c.shared("decided_at", at);
        });
        w.part("routing_decisions", Verb::Insert { tail: "" }, 2, |c| {
            c.rows("lead_id", &ids);
            c.shared("actor", "jdoe");
        });
        let empty: [&str; 0] = [];
        w.part("outbox", Verb::Insert { tail: "" }, 0, |c| {
            c.rows("event_id", &empty)
        });
        let tail = " ON CONFLICT DO NOTHING";
        w.part("pool_rotations", Verb::Insert { tail }, 1, |c| {
            c.rows("pool", &["west"]);
        });
        assert!(w.failed.is_none());
        assert_eq!(
            w.statement().unwrap(),
            "WITH w0 AS (UPDATE leads AS t SET owner_id = u.owner_id, decided_at = $3::TIMESTAMPTZ \
             FROM UNNEST($1::TEXT[], $2::TEXT[]) AS u(lead_id, owner_id) WHERE t.lead_id = u.lead_id), \
             w1 AS (INSERT INTO routing_decisions (lead_id, actor) SELECT u.lead_id, $5::TEXT \
             FROM UNNEST($4::TEXT[]) WITH ORDINALITY AS u(lead_id, n) ORDER BY u.n) \
             INSERT INTO pool_rotations (pool) SELECT u.pool FROM UNNEST($6::TEXT[]) \
             WITH ORDINALITY AS u(pool, n) ORDER BY u.n ON CONFLICT DO NOTHING"
        );
        assert_eq!(w.args.len(), 6, "the empty part binds nothing");
    }

    #[test]
    fn a_delete_matches_every_key_column() {
        let mut w = Write::new();
        w.part("lead_assignees", Verb::Delete, 1, |c| {
            c.rows("lead_id", &["L1"]);
            c.rows("agent_id", &["bob"]);
        });
        assert_eq!(
            w.statement().unwrap(),
            "DELETE FROM lead_assignees AS t USING UNNEST($1::TEXT[], $2::TEXT[]) \
             AS u(lead_id, agent_id) WHERE t.lead_id = u.lead_id AND t.agent_id = u.agent_id"
        );
    }

    #[test]
    fn columns_of_different_lengths_are_refused() {
        let mut w = Write::new();
        w.part("leads", Verb::Insert { tail: "" }, 2, |c| {
            c.rows("lead_id", &["a", "b"]);
            c.rows("owner_id", &[Some("alice")]);
        });
        let why = w.failed.expect("refused").to_string();
        assert_eq!(why, "leads.owner_id: 1 values for 2 rows");
    }

    #[test]
    fn nothing_to_write_is_no_statement() {
        let mut w = Write::new();
        w.part("leads", Verb::Insert { tail: "" }, 0, |c| {
            c.shared("decided_at", "x")
        });
        assert_eq!(w.statement(), None);
        assert_eq!(w.args.len(), 0);
    }
}
