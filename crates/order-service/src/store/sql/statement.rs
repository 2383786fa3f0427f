//! A statement whose text is built at run time (filters that may or may not apply, a multi-row
//! insert): its `$N` text and its bound values, kept apart. `sqlx::QueryBuilder` keeps both in
//! one value, which code generic over the database cannot borrow for a query (the borrow would
//! have to last as long as the builder's own lifetime parameter).

use std::fmt::Write;

use sqlx::error::BoxDynError;
use sqlx::{Arguments, Database, Encode, Type};

use crate::store::StoreError;

pub(super) struct Statement<'q, Db: Database> {
    sql: String,
    args: Db::Arguments<'q>,
    bound: usize,
    /// The first value that could not be bound; the query fails with it.
    error: Option<BoxDynError>,
}

impl<'q, Db: Database> Statement<'q, Db> {
    pub fn new(sql: &str) -> Self {
        Self {
            sql: sql.to_owned(),
            args: Default::default(),
            bound: 0,
            error: None,
        }
    }

    pub fn push(&mut self, text: &str) -> &mut Self {
        self.sql.push_str(text);
        self
    }

    /// Appends the next placeholder, `$N`, and binds `value` to it.
    pub fn bind<T>(&mut self, value: T) -> &mut Self
    where
        T: 'q + Encode<'q, Db> + Type<Db>,
    {
        self.bound += 1;
        let _ = write!(self.sql, "${}", self.bound);
        if let Err(e) = self.args.add(value) {
            self.error.get_or_insert(e);
        }
        self
    }

    /// The text, and the arguments for `sqlx::query_with` and its kin.
    pub fn into_parts(self) -> Result<(String, Db::Arguments<'q>), StoreError> {
        match self.error {
            Some(e) => Err(sqlx::Error::Encode(e).into()),
            None => Ok((self.sql, self.args)),
        }
    }
}
