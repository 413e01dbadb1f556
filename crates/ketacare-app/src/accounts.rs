//! Accounts and authentication: Argon2id passwords (OWASP parameters: 19 MiB, 2 passes, 1 lane, the
//! argon2 crate's defaults; run off the async threads by `password_work.rs`), cookie sessions with idle
//! and absolute expiry and a CSRF token, bearer API tokens stored hashed, and login throttling by account
//! and address (`login_throttle.rs`). Every login is audited, and never with a name that is not an account.

use jiff::{SignedDuration, Timestamp};
use ketacare_store::{ApiTokenSummary, AuditEvent, NewApiToken, NewSession, NewUser, Role, StoreError, UserRecord};

use crate::credential_flood::Refusal;
use crate::login_throttle::{Claimed, account_throttle_key};
use crate::password_policy::check_new_password;
use crate::policy::{Permission, allows, require};
use crate::secrets::{new_id, one_time_password, random_hex, sha256_hex};
use crate::{Actor, App, AppError};

/// How long a cookie session lives.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionPolicy {
    /// Ends a session this long after its last request.
    pub idle: SignedDuration,
    /// Ends a session this long after login, however active.
    pub absolute: SignedDuration,
}

impl Default for SessionPolicy {
    fn default() -> Self {
        // OWASP Session Management Cheat Sheet: short idle timeouts for high-value data; a working day absolute.
        SessionPolicy { idle: SignedDuration::from_mins(30), absolute: SignedDuration::from_hours(12) }
    }
}

/// An account to create.
#[derive(Debug, Clone)]
pub struct NewAccount {
    pub username: String,
    pub password: String,
    pub role: Role,
    /// Someone other than the account's owner chose or saw the password: it must be changed at first use.
    pub must_change_password: bool,
}

/// Who a request is from, once authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
    pub username: String,
    pub role: Role,
    /// The session's CSRF token; `None` for a bearer token (which a browser does not send by itself).
    pub csrf_token: Option<String>,
    /// Until the (one-time) password is changed, the account may do nothing else.
    pub must_change_password: bool,
}

impl Principal {
    pub fn actor(&self, request_id: &str) -> Actor {
        Actor { user_id: self.user_id.clone(), role: self.role, request_id: request_id.to_owned() }
    }
}

/// A successful login: the session secret for the cookie and the CSRF token for the client.
#[derive(Debug, Clone)]
pub struct SignedIn {
    pub session_token: String,
    pub csrf_token: String,
    pub principal: Principal,
    pub expires_at: Timestamp,
}

/// A new API token; the secret is shown once and stored only hashed.
#[derive(Debug, Clone, serde::Serialize)]
pub struct TokenCreated {
    pub token_id: String,
    pub token: String,
    pub role: Role,
    pub label: String,
}

const TOKEN_PREFIX: &str = "kc_";

fn validate_username(username: &str) -> Result<(), AppError> {
    let valid_length = (1..=64).contains(&username.len());
    let valid_characters = username.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '@'));
    if valid_length && valid_characters {
        Ok(())
    } else {
        Err(AppError::invalid("username", "must be 1 to 64 letters, digits, '.', '_', '-' or '@'"))
    }
}

fn parse_time(text: &str) -> Result<Timestamp, AppError> {
    text.parse().map_err(|_| AppError::Storage(StoreError::Corrupt(format!("unreadable time {text:?}"))))
}

impl App {
    /// Creates an account; `actor` is `None` for the first-run bootstrap from the command line.
    pub async fn create_user(&self, actor: Option<&Actor>, account: &NewAccount) -> Result<String, AppError> {
        let mut event = AuditEvent {
            occurred_at: self.now(),
            actor_id: actor.map(|actor| actor.user_id.clone()),
            actor_role: actor.map(|actor| actor.role.as_str().to_owned()),
            action: "user.create".to_owned(),
            resource: format!("user/{}", account.username),
            patient_id: None,
            request_id: actor.map(|actor| actor.request_id.clone()),
            outcome: "success".to_owned(),
        };
        if let Some(actor) = actor
            && let Err(error) = require(actor, Permission::ManageUsers)
        {
            return Err(self.audit_failure(event, error).await);
        }
        validate_username(&account.username)?;
        check_new_password(&account.password).map_err(|error| AppError::invalid("password", error))?;
        let user = NewUser {
            user_id: new_id(),
            username: account.username.clone(),
            password_hash: self.password_work.hash(&account.password).await?,
            role: account.role,
            must_change_password: account.must_change_password,
            created_at: self.now(),
        };
        if actor.is_none() {
            event.actor_id = Some("ketacare-cli".to_owned());
        }
        self.store.insert_user(&user, &event).await?;
        Ok(user.user_id)
    }

    /// A new random password a person can type (about 100 bits), for accounts made at the console.
    pub fn bootstrap_password(&self) -> String {
        one_time_password()
    }

    /// Creates an admin with a random one-time password (for `ketacare demo` and first runs) and returns it.
    pub async fn bootstrap_admin(&self, username: &str) -> Result<String, AppError> {
        let password = one_time_password();
        self.create_user(
            None,
            &NewAccount {
                username: username.to_owned(),
                password: password.clone(),
                role: Role::Admin,
                must_change_password: true,
            },
        )
        .await?;
        Ok(password)
    }

    /// Checks a username and password; on success opens a session. `address` is the client's, for
    /// throttling. The attempt is counted before its password is verified (so parallel guesses cannot
    /// outrun the throttle) and a password is verified even for an unknown or inactive account (so the
    /// answer takes as long). The audit names the account only when the name is one.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        address: &str,
        request_id: &str,
    ) -> Result<SignedIn, AppError> {
        let now = self.now();
        let mut event = AuditEvent {
            occurred_at: now,
            actor_id: None,
            actor_role: None,
            action: "session.login".to_owned(),
            // An unknown name is often a password typed into the wrong field: it is never written down.
            resource: "user/(unknown)".to_owned(),
            patient_id: None,
            request_id: Some(request_id.to_owned()),
            outcome: "success".to_owned(),
        };
        let user = self.store.user_by_username(username).await?;
        let claimed = match &user {
            Some(user) => {
                // The claimed account, so its owner's failed logins can be reviewed together.
                event.resource = format!("user/{}", user.username);
                event.actor_id = Some(user.user_id.clone());
                Claimed::Account(&user.user_id)
            }
            None => Claimed::UnknownName(username),
        };
        let attempt = match self.throttle.reserve(&self.store, claimed, address, now).await {
            Ok(attempt) => attempt,
            Err(error) => return Err(self.audit_failure(event, error).await),
        };
        let password_hash = user.as_ref().map(|user| user.password_hash.clone());
        let matches = match self.password_work.verify(password, password_hash).await {
            Ok(matches) => matches,
            Err(error) => {
                self.throttle.not_checked(&self.store, attempt).await?;
                return Err(self.audit_failure(event, error).await);
            }
        };
        let user = match user {
            Some(user) if matches && user.active => user,
            _ => {
                attempt.failed();
                return Err(self.audit_failure(event, AppError::Unauthenticated).await);
            }
        };
        self.throttle.succeeded(&self.store, attempt).await?;
        let session_token = random_hex(32);
        let csrf_token = random_hex(32);
        let expires_at = now + self.sessions.absolute;
        self.store
            .insert_session(&NewSession {
                session_sha256: sha256_hex(&session_token),
                user_id: user.user_id.clone(),
                csrf_token: csrf_token.clone(),
                created_at: now,
                expires_at,
            })
            .await?;
        let audit = AuditEvent { actor_role: Some(user.role.as_str().to_owned()), ..event };
        self.store.append_audit(&audit).await?;
        let principal = principal_of(&user, Some(csrf_token.clone()));
        Ok(SignedIn { session_token, csrf_token, principal, expires_at })
    }

    /// The principal of a session cookie's secret, if the session is alive; pushes back its idle expiry.
    /// A refused cookie (unknown, expired, or of an inactive account) is audited as `auth.session`, `denied`.
    pub async fn authenticate_session(
        &self,
        session_token: &str,
        request_id: &str,
        client_address: &str,
    ) -> Result<Principal, AppError> {
        let now = self.now();
        let session_sha256 = sha256_hex(session_token);
        let Some(session) = self.store.session(&session_sha256).await? else {
            return Err(self
                .audit_refused_credential("auth.session", "session/(unknown)", None, request_id, client_address)
                .await);
        };
        let expired = now >= parse_time(&session.expires_at)?
            || now - parse_time(&session.last_seen_at)? >= self.sessions.idle
            || !session.user.active;
        if expired {
            self.store.delete_session(&session_sha256).await?;
            let resource = format!("user/{}", session.user.username);
            return Err(self
                .audit_refused_credential(
                    "auth.session",
                    &resource,
                    Some(&session.user.user_id),
                    request_id,
                    client_address,
                )
                .await);
        }
        // Write at most once a minute per session, not on every request.
        if now - parse_time(&session.last_seen_at)? >= SignedDuration::from_mins(1) {
            self.store.touch_session(&session_sha256, now).await?;
        }
        Ok(principal_of(&session.user, Some(session.csrf_token)))
    }

    /// The principal of a bearer token, unless it is unknown or revoked (or its account inactive); a
    /// refused token is audited as `auth.token`, `denied`, naming the token and its owner when known.
    pub async fn authenticate_token(
        &self,
        token: &str,
        request_id: &str,
        client_address: &str,
    ) -> Result<Principal, AppError> {
        let record =
            if token.starts_with(TOKEN_PREFIX) { self.store.api_token(&sha256_hex(token)).await? } else { None };
        match record {
            // A token carries the role it was made under; once the account's role differs it is void,
            // whatever path changed the role (the API revokes such tokens too).
            Some(record) if record.revoked_at.is_none() && record.user.active && record.role == record.user.role => {
                Ok(principal_of(&record.user, None))
            }
            Some(record) => {
                let resource = format!("token/{}", record.token_id);
                Err(self
                    .audit_refused_credential(
                        "auth.token",
                        &resource,
                        Some(&record.user.user_id),
                        request_id,
                        client_address,
                    )
                    .await)
            }
            None => Err(self
                .audit_refused_credential("auth.token", "token/(unknown)", None, request_id, client_address)
                .await),
        }
    }

    /// Audits a refused session cookie or bearer token (never the secret itself) and returns the error.
    async fn audit_refused_credential(
        &self,
        action: &str,
        resource: &str,
        user_id: Option<&str>,
        request_id: &str,
        client_address: &str,
    ) -> AppError {
        // Past its limit, an address's refused credentials are answered 429 and not audited one by one;
        // valid credentials from it are never held back (a clinic's staff may share one address).
        if let Some(retry_after_seconds) = self.credential_flood.throttled(client_address, self.now()) {
            return AppError::Throttled { retry_after_seconds };
        }
        if self.credential_flood.refused(client_address, self.now()) == Refusal::AuditAndMarkThrottled {
            // The address reached its limit: said once, then its attempts are refused unaudited until
            // the window ends (the address itself is not patient data; it stays out of the log anyway).
            let throttled = AuditEvent {
                occurred_at: self.now(),
                actor_id: None,
                actor_role: None,
                action: "auth.throttled".to_owned(),
                resource: "credentials/(address over its limit)".to_owned(),
                patient_id: None,
                request_id: Some(request_id.to_owned()),
                outcome: "denied".to_owned(),
            };
            if let Err(error) = self.store.append_audit(&throttled).await {
                tracing::error!(error = %error, "could not audit a credential throttle");
            }
        }
        let event = AuditEvent {
            occurred_at: self.now(),
            actor_id: user_id.map(str::to_owned),
            actor_role: None,
            action: action.to_owned(),
            resource: resource.to_owned(),
            patient_id: None,
            request_id: Some(request_id.to_owned()),
            outcome: "success".to_owned(),
        };
        self.audit_failure(event, AppError::Unauthenticated).await
    }

    /// Changes the caller's password after checking the current one, which is throttled like a login
    /// (a stolen session must not become a way to guess the password); ends the caller's other sessions
    /// (keeping `session_token`'s, if the change came through a session) and revokes the caller's API
    /// tokens. `client_address` is the caller's, for throttling.
    pub async fn change_password(
        &self,
        principal: &Principal,
        request_id: &str,
        session_token: Option<&str>,
        client_address: &str,
        current_password: &str,
        new_password: &str,
    ) -> Result<(), AppError> {
        let actor = principal.actor(request_id);
        let event = self.audit_event(&actor, "user.password", format!("user/{}", principal.username), None);
        let Some(user) = self.store.user_by_id(&principal.user_id).await? else {
            return Err(AppError::Unauthenticated);
        };
        let attempt =
            match self.throttle.reserve(&self.store, Claimed::Account(&user.user_id), client_address, self.now()).await
            {
                Ok(attempt) => attempt,
                Err(error) => return Err(self.audit_failure(event, error).await),
            };
        let matches = match self.password_work.verify(current_password, Some(user.password_hash.clone())).await {
            Ok(matches) => matches,
            Err(error) => {
                self.throttle.not_checked(&self.store, attempt).await?;
                return Err(error);
            }
        };
        if !matches {
            attempt.failed();
            let error = AppError::invalid("current_password", "is not the account's password");
            return Err(self.audit_failure(event, error).await);
        }
        self.throttle.succeeded(&self.store, attempt).await?;
        check_new_password(new_password).map_err(|error| AppError::invalid("new_password", error))?;
        if new_password == current_password {
            return Err(AppError::invalid("new_password", "must differ from the current password"));
        }
        let hash = self.password_work.hash(new_password).await?;
        let keep = session_token.map(sha256_hex);
        self.store.set_password(&user.user_id, &hash, keep.as_deref(), &event).await?;
        Ok(())
    }

    /// Ends the session of `session_token`, audited like the login that began it.
    pub async fn logout(&self, actor: &Actor, session_token: &str) -> Result<(), AppError> {
        self.store.delete_session(&sha256_hex(session_token)).await?;
        let event = self.audit_event(actor, "session.logout", format!("user/{}", actor.user_id), None);
        self.store.append_audit(&event).await?;
        Ok(())
    }

    /// A new bearer token for the actor, scoped to the actor's role.
    pub async fn create_api_token(&self, actor: &Actor, label: &str) -> Result<TokenCreated, AppError> {
        let label = label.trim();
        if label.is_empty() || label.len() > 100 {
            return Err(AppError::invalid("label", "must be 1 to 100 characters"));
        }
        let token = format!("{TOKEN_PREFIX}{}", random_hex(32));
        let token_id = new_id();
        let record = NewApiToken {
            token_id: token_id.clone(),
            token_sha256: sha256_hex(&token),
            user_id: actor.user_id.clone(),
            role: actor.role,
            label: label.to_owned(),
            created_at: self.now(),
        };
        let event = self.audit_event(actor, "token.create", format!("token/{token_id}"), None);
        self.store.insert_api_token(&record, &event).await?;
        Ok(TokenCreated { token_id, token, role: actor.role, label: label.to_owned() })
    }

    /// Revokes one of the actor's own tokens, or (for an admin) anyone's.
    pub async fn revoke_api_token(&self, actor: &Actor, token_id: &str) -> Result<(), AppError> {
        let event = self.audit_event(actor, "token.revoke", format!("token/{token_id}"), None);
        let owner = if allows(actor.role, Permission::ManageUsers) { None } else { Some(actor.user_id.as_str()) };
        if self.store.revoke_api_token(token_id, owner, &event).await? {
            Ok(())
        } else {
            let error = AppError::NotFound { resource: "token", id: token_id.to_owned() };
            Err(self.audit_failure(event, error).await)
        }
    }

    /// The actor's own API tokens, revoked ones too (never a secret).
    pub async fn list_api_tokens(&self, actor: &Actor) -> Result<Vec<ApiTokenSummary>, AppError> {
        let event = self.audit_event(actor, "token.list", format!("user/{}/tokens", actor.user_id), None);
        let tokens = self.store.api_tokens_of_user(&actor.user_id).await?;
        self.store.append_audit(&event).await?;
        Ok(tokens)
    }

    /// Another account's API tokens, for an admin deciding which to revoke.
    pub async fn list_user_api_tokens(&self, actor: &Actor, user_id: &str) -> Result<Vec<ApiTokenSummary>, AppError> {
        let event = self
            .permitted_event(actor, Permission::ManageUsers, "token.list", format!("user/{user_id}/tokens"), None)
            .await?;
        if self.store.user_by_id(user_id).await?.is_none() {
            let error = AppError::NotFound { resource: "user", id: user_id.to_owned() };
            return Err(self.audit_failure(event, error).await);
        }
        let tokens = self.store.api_tokens_of_user(user_id).await?;
        self.store.append_audit(&event).await?;
        Ok(tokens)
    }

    /// Whether any account exists (first-run bootstrap).
    pub async fn has_users(&self) -> Result<bool, AppError> {
        Ok(self.store.count_users().await? > 0)
    }
}

fn principal_of(user: &UserRecord, csrf_token: Option<String>) -> Principal {
    Principal {
        user_id: user.user_id.clone(),
        username: user.username.clone(),
        role: user.role,
        csrf_token,
        must_change_password: user.must_change_password,
    }
}

/// An account as an admin sees it (never its password hash).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UserView {
    pub user_id: String,
    pub username: String,
    pub role: Role,
    pub active: bool,
    pub must_change_password: bool,
    pub created_at: String,
}

fn user_view(user: UserRecord) -> UserView {
    UserView {
        user_id: user.user_id,
        username: user.username,
        role: user.role,
        active: user.active,
        must_change_password: user.must_change_password,
        created_at: user.created_at,
    }
}

/// A change of an account: its role, whether it is active, or both.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UserChangeInput {
    pub role: Option<Role>,
    pub active: Option<bool>,
}

impl App {
    /// Every account, for an admin.
    pub async fn list_users(&self, actor: &Actor) -> Result<Vec<UserView>, AppError> {
        let event = self.permitted_event(actor, Permission::ManageUsers, "user.list", "users".to_owned(), None).await?;
        let users = self.store.users().await?;
        self.store.append_audit(&event).await?;
        Ok(users.into_iter().map(user_view).collect())
    }

    /// Changes an account's role or deactivates (reactivates) it, for an admin; either ends its sessions
    /// and revokes its tokens. An admin may not deactivate or demote their own account, so a clinic cannot
    /// lock its last admin out by mistake.
    pub async fn update_user(
        &self,
        actor: &Actor,
        user_id: &str,
        input: &UserChangeInput,
    ) -> Result<UserView, AppError> {
        let event = self
            .permitted_event(actor, Permission::ManageUsers, "user.update", format!("user/{user_id}"), None)
            .await?;
        if input.role.is_none() && input.active.is_none() {
            return Err(AppError::invalid("(body)", "give role, active or both"));
        }
        if user_id == actor.user_id
            && (input.active == Some(false) || input.role.is_some_and(|role| role != Role::Admin))
        {
            let field = if input.active == Some(false) { "active" } else { "role" };
            return Err(AppError::invalid(field, "an admin may not deactivate or demote their own account"));
        }
        let Some(current) = self.store.user_by_id(user_id).await? else {
            let error = AppError::NotFound { resource: "user", id: user_id.to_owned() };
            return Err(self.audit_failure(event, error).await);
        };
        let role = input.role.unwrap_or(current.role);
        let active = input.active.unwrap_or(current.active);
        match self.store.update_user(user_id, role, active, &event).await {
            Ok(user) => Ok(user_view(user)),
            Err(error) => Err(self.audit_failure(event, error.into()).await),
        }
    }

    /// Resets an account's password to a new one-time password, returned once (an admin through the API,
    /// or the console with `actor` None): the account must change it at its next login, and its sessions and
    /// API tokens end. An admin resets their own password by changing it instead.
    pub async fn reset_password(&self, actor: Option<&Actor>, user_id: &str) -> Result<String, AppError> {
        let mut event = match actor {
            Some(actor) => self.audit_event(actor, "user.password_reset", format!("user/{user_id}"), None),
            None => AuditEvent {
                occurred_at: self.now(),
                actor_id: None,
                actor_role: Some("console".to_owned()),
                action: "user.password_reset".to_owned(),
                resource: format!("user/{user_id}"),
                patient_id: None,
                request_id: None,
                outcome: "success".to_owned(),
            },
        };
        if let Some(actor) = actor {
            if let Err(error) = require(actor, Permission::ManageUsers) {
                return Err(self.audit_failure(event, error).await);
            }
            if actor.user_id == user_id {
                let error = AppError::invalid("user_id", "change your own password with POST /api/v1/session/password");
                return Err(self.audit_failure(event, error).await);
            }
        }
        let password = one_time_password();
        let hash = self.password_work.hash(&password).await?;
        match self.store.reset_password(user_id, &hash, &event).await {
            Ok(true) => Ok(password),
            Ok(false) => {
                event.outcome = "not_found".to_owned();
                self.store.append_audit(&event).await?;
                Err(AppError::NotFound { resource: "user", id: user_id.to_owned() })
            }
            Err(error) => Err(self.audit_failure(event, error.into()).await),
        }
    }

    /// The usernames of the accounts with these ids, for the pages that say who did something (who
    /// discharged and signed a session, acknowledged an alert, recorded an override): a reader of a
    /// printed record needs a name, not an id. For the roles that read the chart or sessions; ids that
    /// name no account are left out. Audited as `user.names` (the usernames only, no patient data).
    pub async fn user_names(
        &self,
        actor: &Actor,
        user_ids: &[String],
    ) -> Result<std::collections::BTreeMap<String, String>, AppError> {
        let event = self.audit_event(actor, "user.names", "users".to_owned(), None);
        if !allows(actor.role, Permission::ReadChart) && !allows(actor.role, Permission::ReadSessions) {
            let error = require(actor, Permission::ReadChart).expect_err("the role reads neither");
            return Err(self.audit_failure(event, error).await);
        }
        let mut names = std::collections::BTreeMap::new();
        if !user_ids.is_empty() {
            for user in self.store.users().await? {
                if user_ids.contains(&user.user_id) {
                    names.insert(user.user_id, user.username);
                }
            }
        }
        self.store.append_audit(&event).await?;
        Ok(names)
    }

    /// The id of the account named `username`, for the console.
    pub async fn user_id_of(&self, username: &str) -> Result<Option<String>, AppError> {
        Ok(self.store.user_by_username(username).await?.map(|user| user.user_id))
    }

    /// Ends every login lockout of an account (at each address and everywhere), for an admin: the remedy
    /// when someone's guessing has locked the owner out. Audited as `user.unlock`.
    pub async fn unlock_account(&self, actor: &Actor, user_id: &str) -> Result<(), AppError> {
        let event = self
            .permitted_event(actor, Permission::ManageUsers, "user.unlock", format!("user/{user_id}"), None)
            .await?;
        if self.store.user_by_id(user_id).await?.is_none() {
            let error = AppError::NotFound { resource: "user", id: user_id.to_owned() };
            return Err(self.audit_failure(event, error).await);
        }
        self.store.unlock_account(&account_throttle_key(user_id), &event).await?;
        Ok(())
    }
}
