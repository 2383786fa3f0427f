//! `txlog-service setup`: prepares a database for the service, idempotently. For MongoDB:
//! the records collection and its indexes, the role `ordersysTxlogAppender` with only
//! `insert`, `find` and `listIndexes` on it, and optionally an application user holding only that role.
//! For SQLite: the schema (tables, indexes, append-only triggers). With `--seal-existing`, it
//! then seals the records stored before seals existed (SPEC section 12), after checking the
//! whole chain and tree (`transparency::seal::seal_existing`).

use std::path::PathBuf;

use anyhow::Context as _;
use mongodb::bson::{doc, Document};
use mongodb::Database;

use crate::transparency::SealKey;

use crate::store::{
    self, CHECKPOINTS_COLLECTION, COSIGNATURES_COLLECTION, OLD_TREE_COLLECTION, RECORDS_COLLECTION,
    TREE_COLLECTION, VERIFIED_COLLECTION,
};

pub const APPENDER_ROLE: &str = "ordersysTxlogAppender";

#[derive(Debug, Clone, Default)]
pub struct SetupOptions {
    /// Create or update this user with only the appender role.
    pub app_user: Option<String>,
    /// Its password, read from this file (a trailing newline is dropped).
    pub app_password_file: Option<PathBuf>,
    /// Do not create the role (MongoDB Atlas: roles are made in the Atlas UI or CLI).
    pub skip_role: bool,
    /// Seal the records stored without a seal with this key, after checking the store.
    pub seal_existing: Option<SealKey>,
}

/// Runs the setup against `database_url` and returns what was done, one line per step.
pub async fn run(database_url: &str, options: &SetupOptions) -> anyhow::Result<Vec<String>> {
    let mut done = if database_url.starts_with("sqlite:") {
        store::SqliteStore::connect(database_url).await?;
        vec!["SQLite schema (records table, indexes, append-only triggers) is in place".to_owned()]
    } else {
        mongo(database_url, options).await?
    };
    if let Some(key) = &options.seal_existing {
        let store = store::connect(database_url).await?;
        done.push(crate::transparency::seal::seal_existing(&*store, key).await?);
    }
    Ok(done)
}

async fn mongo(database_url: &str, options: &SetupOptions) -> anyhow::Result<Vec<String>> {
    let password = match (&options.app_user, &options.app_password_file) {
        (Some(_), Some(path)) => Some(read_password(path)?),
        (Some(_), None) => anyhow::bail!("--app-user needs --app-password-file"),
        (None, Some(_)) => anyhow::bail!("--app-password-file needs --app-user"),
        (None, None) => None,
    };
    let database = store::mongo::open(database_url).await?;
    let mut done = Vec::new();
    let place = format!("{}.{RECORDS_COLLECTION}", database.name());
    store::mongo::ensure_indexes(&database)
        .await
        .with_context(|| format!("cannot prepare {place}"))?;
    done.push(format!("collection {place} and its indexes are in place"));
    if options.skip_role {
        done.push(format!("role {APPENDER_ROLE} skipped (--skip-role)"));
    } else {
        done.push(ensure_role(&database).await?);
    }
    if let (Some(user), Some(password)) = (&options.app_user, password) {
        done.push(ensure_user(&database, user, &password).await?);
    }
    Ok(done)
}

/// The seal key of the signing key in `TXLOG_SIGNING_KEY` or `TXLOG_SIGNING_KEY_FILE`, for
/// `--seal-existing` (which, unlike serving, needs nothing else from the configuration).
pub fn seal_key_from_env() -> anyhow::Result<SealKey> {
    let key = crate::config::signing_key_from_env()?;
    Ok(key.seal_key().clone())
}

fn read_password(path: &PathBuf) -> anyhow::Result<String> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let password = text.trim_end_matches(['\n', '\r']).to_owned();
    anyhow::ensure!(
        !password.is_empty(),
        "the password file {} is empty",
        path.display()
    );
    Ok(password)
}

/// The role's privileges: on the records collection `insert` and `find`, and `listIndexes` so
/// that the service can see at start that `setup` has created the indexes; on the Merkle tree's
/// hashes, the checkpoints and the verified heads `insert` and `find`. Nothing else: no update, no delete.
pub fn role_privileges(database: &str) -> Vec<Document> {
    let mut privileges = vec![doc! {
        "resource": {"db": database, "collection": RECORDS_COLLECTION},
        "actions": ["insert", "find", "listIndexes"],
    }];
    for collection in [
        TREE_COLLECTION,
        OLD_TREE_COLLECTION,
        CHECKPOINTS_COLLECTION,
        VERIFIED_COLLECTION,
        COSIGNATURES_COLLECTION,
    ] {
        privileges.push(doc! {
            "resource": {"db": database, "collection": collection},
            "actions": ["insert", "find"],
        });
    }
    privileges
}

async fn ensure_role(database: &Database) -> anyhow::Result<String> {
    let info = database
        .run_command(doc! {"rolesInfo": APPENDER_ROLE})
        .await
        .context("rolesInfo failed")?;
    let exists = info.get_array("roles").is_ok_and(|roles| !roles.is_empty());
    let privileges = role_privileges(database.name());
    if exists {
        database
            .run_command(doc! {"updateRole": APPENDER_ROLE, "privileges": privileges, "roles": []})
            .await
            .context("updateRole failed")?;
        Ok(format!(
            "role {APPENDER_ROLE} updated: insert, find and listIndexes on {RECORDS_COLLECTION}, \
             insert and find on {TREE_COLLECTION}, {OLD_TREE_COLLECTION}, {CHECKPOINTS_COLLECTION}, \
             {VERIFIED_COLLECTION} and {COSIGNATURES_COLLECTION}"
        ))
    } else {
        database
            .run_command(doc! {"createRole": APPENDER_ROLE, "privileges": privileges, "roles": []})
            .await
            .context("createRole failed")?;
        Ok(format!(
            "role {APPENDER_ROLE} created: insert, find and listIndexes on {RECORDS_COLLECTION}, \
             insert and find on {TREE_COLLECTION}, {OLD_TREE_COLLECTION}, {CHECKPOINTS_COLLECTION}, \
             {VERIFIED_COLLECTION} and {COSIGNATURES_COLLECTION}"
        ))
    }
}

async fn ensure_user(database: &Database, user: &str, password: &str) -> anyhow::Result<String> {
    let info = database
        .run_command(doc! {"usersInfo": user})
        .await
        .context("usersInfo failed")?;
    let exists = info.get_array("users").is_ok_and(|users| !users.is_empty());
    let roles = vec![doc! {"role": APPENDER_ROLE, "db": database.name()}];
    if exists {
        database
            .run_command(doc! {"updateUser": user, "pwd": password, "roles": roles})
            .await
            .context("updateUser failed")?;
        Ok(format!(
            "user {user} updated with only the role {APPENDER_ROLE}"
        ))
    } else {
        database
            .run_command(doc! {"createUser": user, "pwd": password, "roles": roles})
            .await
            .context("createUser failed")?;
        Ok(format!(
            "user {user} created with only the role {APPENDER_ROLE}"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_role_may_only_insert_and_find() {
        let privileges = role_privileges("txlog");
        let granted: Vec<(&str, Vec<&str>)> = privileges
            .iter()
            .map(|p| {
                let resource = p.get_document("resource").unwrap();
                assert_eq!(resource.get_str("db").unwrap(), "txlog");
                let actions = p.get_array("actions").unwrap();
                let actions = actions.iter().filter_map(|a| a.as_str()).collect();
                (resource.get_str("collection").unwrap(), actions)
            })
            .collect();
        assert_eq!(
            granted,
            [
                (RECORDS_COLLECTION, vec!["insert", "find", "listIndexes"]),
                (TREE_COLLECTION, vec!["insert", "find"]),
                (OLD_TREE_COLLECTION, vec!["insert", "find"]),
                (CHECKPOINTS_COLLECTION, vec!["insert", "find"]),
                (VERIFIED_COLLECTION, vec!["insert", "find"]),
                (COSIGNATURES_COLLECTION, vec!["insert", "find"]),
            ]
        );
    }

    #[test]
    fn passwords_lose_only_the_trailing_newline() {
        let dir = std::env::temp_dir().join(format!("txlog-pw-{}", std::process::id()));
        std::fs::write(&dir, " p@ss word \n").unwrap();
        assert_eq!(read_password(&dir).unwrap(), " p@ss word ");
        std::fs::write(&dir, "\n").unwrap();
        assert!(read_password(&dir).is_err());
        std::fs::remove_file(&dir).unwrap();
    }
}
