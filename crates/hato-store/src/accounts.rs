//! Accounts (tenants) and their API keys. Keys are stored only as SHA-256 hashes.

use hato_core::{AccountId, ApiKeyId};

use crate::{
    Result, Store, StoreError,
    db::{self, Row},
};

/// A tenant and its webhook settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Account {
    pub id: AccountId,
    pub name: String,
    pub webhook_url: Option<String>,
    pub webhook_secret: String,
    /// The secret before the last rotation, still signed with until `previous_secret_expires_at`.
    pub previous_webhook_secret: Option<String>,
    pub previous_secret_expires_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

/// An API key as listed (never the secret itself).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiKeyRecord {
    pub id: ApiKeyId,
    pub account_id: AccountId,
    pub account_name: String,
    pub name: String,
    /// The first characters of the key, to recognise it.
    pub prefix: String,
    pub created_at: i64,
    pub revoked_at: Option<i64>,
}

/// Who a valid key belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthenticatedKey {
    pub key_id: ApiKeyId,
    pub account_id: AccountId,
}

const ACCOUNT_COLUMNS: &str = "id, name, webhook_url, webhook_secret, previous_webhook_secret, previous_secret_expires_at, created_at, updated_at";

fn account_from_row(row: &Row) -> Result<Account> {
    Ok(Account {
        id: AccountId::from_trusted(row.try_get("id")?),
        name: row.try_get("name")?,
        webhook_url: row.try_get("webhook_url")?,
        webhook_secret: row.try_get("webhook_secret")?,
        previous_webhook_secret: row.try_get("previous_webhook_secret")?,
        previous_secret_expires_at: row.try_get("previous_secret_expires_at")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn key_from_row(row: &Row) -> Result<ApiKeyRecord> {
    Ok(ApiKeyRecord {
        id: ApiKeyId::from_trusted(row.try_get("id")?),
        account_id: AccountId::from_trusted(row.try_get("account_id")?),
        account_name: row.try_get("account_name")?,
        name: row.try_get("name")?,
        prefix: row.try_get("prefix")?,
        created_at: row.try_get("created_at")?,
        revoked_at: row.try_get("revoked_at")?,
    })
}

const KEY_SELECT: &str = "SELECT k.id, k.account_id, a.name AS account_name, k.name, k.prefix, k.created_at, k.revoked_at \
     FROM api_keys k JOIN accounts a ON a.id = k.account_id";

impl Store {
    /// The account called `name`, created (with `new_secret`) if it does not exist yet.
    pub async fn ensure_account(&self, name: &str, new_secret: &str, at: i64) -> Result<Account> {
        let (name, new_secret) = (name.to_owned(), new_secret.to_owned());
        self.on_writer("account", move |store| async move {
            let mut tx = store.write().begin().await?;
            db::query(
                "INSERT INTO accounts (id, name, webhook_secret, created_at, updated_at) VALUES ($1, $2, $3, $4, $4) \
                 ON CONFLICT (name) DO NOTHING",
            )
            .bind(AccountId::generate().as_str().to_owned())
            .bind(name.as_str())
            .bind(new_secret.as_str())
            .bind(at)
            .execute(&mut tx)
            .await?;
            let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE name = $1");
            let row = db::query(sql).bind(name.as_str()).fetch_one(&mut tx).await?;
            tx.commit().await?;
            account_from_row(&row)
        })
        .await
    }

    pub async fn account(&self, id: &AccountId) -> Result<Option<Account>> {
        let sql = format!("SELECT {ACCOUNT_COLUMNS} FROM accounts WHERE id = $1");
        let row = db::query(sql)
            .bind(id.as_str())
            .fetch_optional(self.read())
            .await?;
        row.as_ref().map(account_from_row).transpose()
    }

    /// Sets (or with `None` clears) the account's default webhook URL.
    pub async fn set_webhook_url(
        &self,
        id: &AccountId,
        url: Option<&str>,
        at: i64,
    ) -> Result<Account> {
        let sql = format!(
            "UPDATE accounts SET webhook_url = $1, updated_at = $2 WHERE id = $3 RETURNING {ACCOUNT_COLUMNS}"
        );
        let update = db::query(sql)
            .bind(url.map(str::to_owned))
            .bind(at)
            .bind(id.as_str().to_owned());
        self.update_account("webhook_url", update).await
    }

    /// Replaces the webhook secret; the old one stays valid for signing until `previous_until`,
    /// so receivers can switch over without dropping events.
    pub async fn rotate_webhook_secret(
        &self,
        id: &AccountId,
        new_secret: &str,
        previous_until: i64,
        at: i64,
    ) -> Result<Account> {
        let sql = format!(
            "UPDATE accounts SET previous_webhook_secret = webhook_secret, previous_secret_expires_at = $1, \
               webhook_secret = $2, updated_at = $3 WHERE id = $4 RETURNING {ACCOUNT_COLUMNS}"
        );
        let update = db::query(sql)
            .bind(previous_until)
            .bind(new_secret.to_owned())
            .bind(at)
            .bind(id.as_str().to_owned());
        self.update_account("webhook_secret", update).await
    }

    /// Runs an `UPDATE accounts … RETURNING` the account's columns on the writer.
    async fn update_account(
        &self,
        operation: &'static str,
        update: db::Query<'static>,
    ) -> Result<Account> {
        self.on_writer(operation, move |store| async move {
            account_from_row(&update.fetch_one(store.write()).await?)
        })
        .await
    }

    pub async fn create_api_key(
        &self,
        account_id: &AccountId,
        name: &str,
        key_hash: &str,
        prefix: &str,
        at: i64,
    ) -> Result<ApiKeyRecord> {
        let id = ApiKeyId::generate();
        let insert = db::query(
            "INSERT INTO api_keys (id, account_id, name, key_hash, prefix, created_at) VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(id.as_str().to_owned())
        .bind(account_id.as_str().to_owned())
        .bind(name.to_owned())
        .bind(key_hash.to_owned())
        .bind(prefix.to_owned())
        .bind(at);
        self.on_writer("api_key", move |store| async move {
            let mut tx = store.write().begin().await?;
            insert.execute(&mut tx).await?;
            let sql = format!("{KEY_SELECT} WHERE k.id = $1");
            let row = db::query(sql).bind(id.as_str()).fetch_one(&mut tx).await?;
            tx.commit().await?;
            key_from_row(&row)
        })
        .await
    }

    /// Every key, oldest first, optionally of one account (by name).
    pub async fn api_keys(&self, account_name: Option<&str>) -> Result<Vec<ApiKeyRecord>> {
        let sql = format!("{KEY_SELECT} WHERE ($1 IS NULL OR a.name = $1) ORDER BY k.id");
        let rows = db::query(sql)
            .bind(account_name)
            .fetch_all(self.read())
            .await?;
        rows.iter().map(key_from_row).collect()
    }

    /// Revokes a key by id or by its printed prefix; returns it, or None if no key matches.
    pub async fn revoke_api_key(
        &self,
        id_or_prefix: &str,
        at: i64,
    ) -> Result<Option<ApiKeyRecord>> {
        let id_or_prefix = id_or_prefix.to_owned();
        self.on_writer("revoke_api_key", move |store| async move {
            let mut tx = store.write().begin().await?;
            let sql = format!("{KEY_SELECT} WHERE k.id = $1 OR k.prefix = $1");
            let rows = db::query(sql)
                .bind(id_or_prefix.as_str())
                .fetch_all(&mut tx)
                .await?;
            let key = match rows.as_slice() {
                [] => return Ok(None),
                [row] => key_from_row(row)?,
                _ => {
                    return Err(StoreError::Ambiguous(format!(
                        "`{id_or_prefix}` matches several keys: use the key id"
                    )));
                }
            };
            db::query("UPDATE api_keys SET revoked_at = COALESCE(revoked_at, $1) WHERE id = $2")
                .bind(at)
                .bind(key.id.as_str())
                .execute(&mut tx)
                .await?;
            tx.commit().await?;
            Ok(Some(ApiKeyRecord {
                revoked_at: key.revoked_at.or(Some(at)),
                ..key
            }))
        })
        .await
    }

    /// The live key with this hash, if any.
    pub async fn authenticate(&self, key_hash: &str) -> Result<Option<AuthenticatedKey>> {
        let row = db::query(
            "SELECT id, account_id FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
        )
        .bind(key_hash)
        .fetch_optional(self.read())
        .await?;
        row.map(|row| {
            Ok(AuthenticatedKey {
                key_id: ApiKeyId::from_trusted(row.try_get("id")?),
                account_id: AccountId::from_trusted(row.try_get("account_id")?),
            })
        })
        .transpose()
    }
}
