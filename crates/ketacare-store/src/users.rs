//! Accounts, cookie sessions and bearer API tokens. Secrets are never stored: passwords as Argon2id
//! PHC strings (hashed by the caller), session and token secrets as their SHA-256.

use crate::audit::{AuditEvent, append_audit};
use crate::row_versions::touch;
use crate::rows::RowExt;
use crate::{Store, StoreError, format_time, on_pool, write_tx};

/// What a user may do; the web layer maps each to its routes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Admin,
    Prescriber,
    Nurse,
    /// De-identified data only.
    Analyst,
    /// Reads the audit log; no clinical data.
    Auditor,
}

impl Role {
    pub const ALL: [Role; 5] = [Role::Admin, Role::Prescriber, Role::Nurse, Role::Analyst, Role::Auditor];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Prescriber => "prescriber",
            Role::Nurse => "nurse",
            Role::Analyst => "analyst",
            Role::Auditor => "auditor",
        }
    }

    pub fn parse(text: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == text)
    }
}

fn role_from(text: String) -> Result<Role, StoreError> {
    Role::parse(&text).ok_or_else(|| StoreError::Corrupt(format!("unknown role {text:?}")))
}

#[derive(Debug, Clone)]
pub struct NewUser {
    pub user_id: String,
    pub username: String,
    /// An Argon2id PHC string.
    pub password_hash: String,
    pub role: Role,
    /// The password was generated (one-time): the account must change it before anything else.
    pub must_change_password: bool,
    pub created_at: jiff::Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    pub user_id: String,
    pub username: String,
    pub password_hash: String,
    pub role: Role,
    pub active: bool,
    pub must_change_password: bool,
    pub created_at: String,
}

#[derive(Debug, Clone)]
pub struct NewSession {
    pub session_sha256: String,
    pub user_id: String,
    pub csrf_token: String,
    pub created_at: jiff::Timestamp,
    pub expires_at: jiff::Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub session_sha256: String,
    pub user: UserRecord,
    pub csrf_token: String,
    pub created_at: String,
    pub last_seen_at: String,
    pub expires_at: String,
}

#[derive(Debug, Clone)]
pub struct NewApiToken {
    pub token_id: String,
    pub token_sha256: String,
    pub user_id: String,
    pub role: Role,
    pub label: String,
    pub created_at: jiff::Timestamp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiTokenRecord {
    pub token_id: String,
    pub user: UserRecord,
    pub role: Role,
    pub label: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

/// A token as its owner or an admin sees it: never its secret or hash.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct ApiTokenSummary {
    pub token_id: String,
    pub role: Role,
    pub label: String,
    pub created_at: String,
    pub revoked_at: Option<String>,
}

const USER_COLUMNS: &str =
    "u.user_id, u.username, u.password_hash, u.role, u.active, u.must_change_password, u.created_at";

fn user_from_row(row: &impl RowExt) -> Result<UserRecord, StoreError> {
    Ok(UserRecord {
        user_id: row.text("user_id")?,
        username: row.text("username")?,
        password_hash: row.text("password_hash")?,
        role: role_from(row.text("role")?)?,
        active: row.int("active")? == 1,
        must_change_password: row.int("must_change_password")? == 1,
        created_at: row.text("created_at")?,
    })
}

/// Maps a unique-constraint violation to [`StoreError::Duplicate`].
pub(crate) fn duplicate_as(what: &'static str) -> impl Fn(sqlx::Error) -> StoreError {
    move |error| match &error {
        sqlx::Error::Database(database) if database.is_unique_violation() => StoreError::Duplicate { what },
        _ => StoreError::Database(error),
    }
}

/// Names an account's row and the rows of all its API tokens (a password or role change revokes them)
/// as touched by the current writer job.
macro_rules! touch_user_and_tokens {
    ($tx:expr, $user_id:expr) => {{
        touch!($tx, "users", [$user_id]);
        let token_ids: Vec<(String,)> = sqlx::query_as("SELECT token_id FROM api_tokens WHERE user_id = $1")
            .bind($user_id)
            .fetch_all(&mut *$tx.conn)
            .await?;
        for (token_id,) in &token_ids {
            touch!($tx, "api_tokens", [token_id]);
        }
    }};
}

impl Store {
    /// Adds an account; a taken username is [`StoreError::Duplicate`].
    pub async fn insert_user(&self, user: &NewUser, audit: &AuditEvent) -> Result<(), StoreError> {
        write_tx!(self, [user, audit], tx => {
            sqlx::query(
                "INSERT INTO users (user_id, username, password_hash, role, active, must_change_password, created_at) \
                 VALUES ($1, $2, $3, $4, 1, $5, $6)",
            )
                .bind(&user.user_id)
                .bind(&user.username)
                .bind(&user.password_hash)
                .bind(user.role.as_str())
                .bind(i64::from(user.must_change_password))
                .bind(format_time(user.created_at))
                .execute(&mut *tx.conn)
                .await
                .map_err(duplicate_as("username"))?;
            touch!(tx, "users", [&user.user_id]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    pub async fn user_by_username(&self, username: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.username = $1");
        on_pool!(self, pool => {
            let row = sqlx::query(&sql).bind(username).fetch_optional(pool).await?;
            row.as_ref().map(user_from_row).transpose()
        })
    }

    pub async fn count_users(&self) -> Result<i64, StoreError> {
        let (count,): (i64,) =
            on_pool!(self, pool => sqlx::query_as("SELECT COUNT(*) FROM users").fetch_one(pool).await?);
        Ok(count)
    }

    /// Replaces a user's password (and clears `must_change_password`), ending the user's other sessions
    /// and revoking every API token of the user: whoever learnt the old password may have made one.
    pub async fn set_password(
        &self,
        user_id: &str,
        password_hash: &str,
        keep_session_sha256: Option<&str>,
        audit: &AuditEvent,
    ) -> Result<(), StoreError> {
        write_tx!(self, [user_id, password_hash, keep_session_sha256, audit], tx => {
            sqlx::query("UPDATE users SET password_hash = $2, must_change_password = 0 WHERE user_id = $1")
                .bind(&user_id)
                .bind(&password_hash)
                .execute(&mut *tx.conn)
                .await?;
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND session_sha256 <> $2")
                .bind(&user_id)
                .bind(keep_session_sha256.unwrap_or_default())
                .execute(&mut *tx.conn)
                .await?;
            sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                .bind(&user_id)
                .bind(format_time(audit.occurred_at))
                .execute(&mut *tx.conn)
                .await?;
            touch_user_and_tokens!(tx, &user_id);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    pub async fn insert_session(&self, session: &NewSession) -> Result<(), StoreError> {
        let created_at = format_time(session.created_at);
        on_pool!(self, pool => {
            sqlx::query("INSERT INTO sessions (session_sha256, user_id, csrf_token, created_at, last_seen_at, expires_at) VALUES ($1, $2, $3, $4, $4, $5)")
                .bind(&session.session_sha256)
                .bind(&session.user_id)
                .bind(&session.csrf_token)
                .bind(&created_at)
                .bind(format_time(session.expires_at))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    pub async fn session(&self, session_sha256: &str) -> Result<Option<SessionRecord>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, s.session_sha256, s.csrf_token, s.created_at AS session_created_at, s.last_seen_at, \
             s.expires_at FROM sessions s JOIN users u ON u.user_id = s.user_id WHERE s.session_sha256 = $1"
        );
        on_pool!(self, pool => {
            let Some(row) = sqlx::query(&sql).bind(session_sha256).fetch_optional(pool).await? else { return Ok(None) };
            Ok(Some(SessionRecord {
                session_sha256: row.text("session_sha256")?,
                user: user_from_row(&row)?,
                csrf_token: row.text("csrf_token")?,
                created_at: row.text("session_created_at")?,
                last_seen_at: row.text("last_seen_at")?,
                expires_at: row.text("expires_at")?,
            }))
        })
    }

    /// Records activity on a session, which pushes back its idle expiry.
    pub async fn touch_session(&self, session_sha256: &str, at: jiff::Timestamp) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("UPDATE sessions SET last_seen_at = $2 WHERE session_sha256 = $1")
                .bind(session_sha256)
                .bind(format_time(at))
                .execute(pool)
                .await?;
        });
        Ok(())
    }

    /// Ends a session (logout or expiry). Sessions are not clinical records; the audit log keeps the logins.
    pub async fn delete_session(&self, session_sha256: &str) -> Result<(), StoreError> {
        on_pool!(self, pool => {
            sqlx::query("DELETE FROM sessions WHERE session_sha256 = $1").bind(session_sha256).execute(pool).await?;
        });
        Ok(())
    }

    pub async fn insert_api_token(&self, token: &NewApiToken, audit: &AuditEvent) -> Result<(), StoreError> {
        write_tx!(self, [token, audit], tx => {
            sqlx::query("INSERT INTO api_tokens (token_id, token_sha256, user_id, role, label, created_at) VALUES ($1, $2, $3, $4, $5, $6)")
                .bind(&token.token_id)
                .bind(&token.token_sha256)
                .bind(&token.user_id)
                .bind(token.role.as_str())
                .bind(&token.label)
                .bind(format_time(token.created_at))
                .execute(&mut *tx.conn)
                .await?;
            touch!(tx, "api_tokens", [&token.token_id]);
            append_audit!(tx, &audit);
        });
        Ok(())
    }

    /// The token with this secret hash, revoked or not.
    pub async fn api_token(&self, token_sha256: &str) -> Result<Option<ApiTokenRecord>, StoreError> {
        let sql = format!(
            "SELECT {USER_COLUMNS}, t.token_id, t.role AS token_role, t.label, t.created_at AS token_created_at, \
             t.revoked_at FROM api_tokens t JOIN users u ON u.user_id = t.user_id WHERE t.token_sha256 = $1"
        );
        on_pool!(self, pool => {
            let Some(row) = sqlx::query(&sql).bind(token_sha256).fetch_optional(pool).await? else { return Ok(None) };
            Ok(Some(ApiTokenRecord {
                token_id: row.text("token_id")?,
                user: user_from_row(&row)?,
                role: role_from(row.text("token_role")?)?,
                label: row.text("label")?,
                created_at: row.text("token_created_at")?,
                revoked_at: row.opt_text("revoked_at")?,
            }))
        })
    }

    /// Revokes a token, of `owner_user_id` only when that is given (an admin revokes anyone's), with its
    /// audit event; false (and nothing audited) when there is no such unrevoked token.
    pub async fn revoke_api_token(
        &self,
        token_id: &str,
        owner_user_id: Option<&str>,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let revoked = write_tx!(self, [token_id, owner_user_id, audit], tx => {
            let result = sqlx::query(
                "UPDATE api_tokens SET revoked_at = $3 WHERE token_id = $1 AND ($2 = '' OR user_id = $2) AND revoked_at IS NULL",
            )
            .bind(&token_id)
            .bind(owner_user_id.clone().unwrap_or_default())
            .bind(format_time(audit.occurred_at))
            .execute(&mut *tx.conn)
            .await?;
            // Nothing revoked: the caller audits the refusal with its own outcome.
            let revoked = result.rows_affected() == 1;
            if revoked {
                touch!(tx, "api_tokens", [&token_id]);
                append_audit!(tx, &audit);
            }
            revoked
        });
        Ok(revoked)
    }

    /// The API tokens of a user, revoked ones too, oldest first (never their secrets or hashes).
    pub async fn api_tokens_of_user(&self, user_id: &str) -> Result<Vec<ApiTokenSummary>, StoreError> {
        let sql = "SELECT token_id, role, label, created_at, revoked_at FROM api_tokens WHERE user_id = $1 \
                   ORDER BY created_at, token_id";
        on_pool!(self, pool => {
            let rows = sqlx::query(sql).bind(user_id).fetch_all(pool).await?;
            rows.iter()
                .map(|row| {
                    Ok(ApiTokenSummary {
                        token_id: row.text("token_id")?,
                        role: role_from(row.text("role")?)?,
                        label: row.text("label")?,
                        created_at: row.text("created_at")?,
                        revoked_at: row.opt_text("revoked_at")?,
                    })
                })
                .collect()
        })
    }

    pub async fn user_by_id(&self, user_id: &str) -> Result<Option<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.user_id = $1");
        on_pool!(self, pool => {
            let row = sqlx::query(&sql).bind(user_id).fetch_optional(pool).await?;
            row.as_ref().map(user_from_row).transpose()
        })
    }
}

impl Store {
    /// Every account, by username.
    pub async fn users(&self) -> Result<Vec<UserRecord>, StoreError> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users u ORDER BY u.username");
        on_pool!(self, pool => {
            let rows = sqlx::query(&sql).fetch_all(pool).await?;
            rows.iter().map(user_from_row).collect()
        })
    }

    /// Changes an account's role and whether it is active. Either change ends the account's sessions
    /// and revokes its API tokens (a token's role was chosen under the old one), in the same transaction.
    pub async fn update_user(
        &self,
        user_id: &str,
        role: Role,
        active: bool,
        audit: &AuditEvent,
    ) -> Result<UserRecord, StoreError> {
        let select = format!("SELECT {USER_COLUMNS} FROM users u WHERE u.user_id = $1");
        let role_text = role.as_str().to_owned();
        write_tx!(self, [user_id, audit, select, role_text], tx => {
            let Some(row) = sqlx::query(&select).bind(&user_id).fetch_optional(&mut *tx.conn).await? else {
                return Err(StoreError::NotFound { resource: "user", id: user_id.to_owned() });
            };
            let prior = user_from_row(&row)?;
            if prior.role != role || prior.active != active {
                sqlx::query("UPDATE users SET role = $2, active = $3 WHERE user_id = $1")
                    .bind(&user_id)
                    .bind(&role_text)
                    .bind(i64::from(active))
                    .execute(&mut *tx.conn)
                    .await?;
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(&user_id).execute(&mut *tx.conn).await?;
                sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                    .bind(&user_id)
                    .bind(format_time(audit.occurred_at))
                    .execute(&mut *tx.conn)
                    .await?;
                touch_user_and_tokens!(tx, &user_id);
            }
            append_audit!(tx, &audit);
            Ok(UserRecord { role, active, ..prior })
        })
    }

    /// Resets an account's password to a one-time one (which must be changed at the next login): ends all
    /// its sessions and revokes all its API tokens, in one transaction. `false` when no such account.
    pub async fn reset_password(
        &self,
        user_id: &str,
        password_hash: &str,
        audit: &AuditEvent,
    ) -> Result<bool, StoreError> {
        let found = write_tx!(self, [user_id, password_hash, audit], tx => {
            let updated = sqlx::query("UPDATE users SET password_hash = $2, must_change_password = 1 WHERE user_id = $1")
                .bind(&user_id)
                .bind(&password_hash)
                .execute(&mut *tx.conn)
                .await?;
            let found = updated.rows_affected() == 1;
            if found {
                sqlx::query("DELETE FROM sessions WHERE user_id = $1").bind(&user_id).execute(&mut *tx.conn).await?;
                sqlx::query("UPDATE api_tokens SET revoked_at = $2 WHERE user_id = $1 AND revoked_at IS NULL")
                    .bind(&user_id)
                    .bind(format_time(audit.occurred_at))
                    .execute(&mut *tx.conn)
                    .await?;
                touch_user_and_tokens!(tx, &user_id);
                append_audit!(tx, &audit);
            }
            found
        });
        Ok(found)
    }
}
