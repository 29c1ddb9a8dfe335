//! Users, email markers, refresh-token families and personal access tokens.

use super::{attr_n, from_item, keys, s, to_item, tx, Store, StoreError};
use crate::domain::user::{PersonalAccessToken, TokenFamily, User};
use crate::domain::{Id, Timestamp};

/// Index of the email marker in the registration transaction (its condition failing = 409).
pub const REGISTER_EMAIL_INDEX: usize = 1;

/// What the PAT lookup item (`PATHASH#<sha256>`) holds.
#[derive(Debug, Clone, PartialEq)]
pub struct PatLookup {
    pub user_id: Id,
    pub token_id: Id,
    pub expires_at: Option<i64>,
}

impl Store {
    pub async fn create_user(&self, user: &User) -> Result<(), StoreError> {
        let mut marker = keys::email_marker(&user.email).to_item();
        marker.insert("user_id".into(), super::n(user.id));
        self.transact(vec![
            tx::put(
                to_item(user, &keys::user(user.id))?,
                Some("attribute_not_exists(pk)"),
            )
            .build(&self.table),
            tx::put(marker, Some("attribute_not_exists(pk)")).build(&self.table),
        ])
        .await
    }

    pub async fn get_user(&self, id: Id) -> Result<Option<User>, StoreError> {
        self.get(&keys::user(id)).await?.map(from_item).transpose()
    }

    /// A new session: the family item and last_login, atomically.
    pub async fn start_session(&self, user_id: Id, family: &TokenFamily) -> Result<(), StoreError> {
        let now = Timestamp::now();
        let mut fam = to_item(family, &keys::family(user_id, &family.family))?;
        fam.insert(
            "expires_at".into(),
            super::n(now.unix() + crate::domain::auth::REFRESH_TTL_SECS + 3600),
        );
        self.transact(vec![
            tx::update(&keys::user(user_id), "SET last_login = :t")
                .condition("attribute_exists(pk)")
                .value(":t", s(now.to_rfc3339()))
                .build(&self.table),
            tx::put(fam, Some("attribute_not_exists(pk)")).build(&self.table),
        ])
        .await
    }

    /// Rotation: only the family's current refresh token can be exchanged, once.
    pub async fn rotate_family(
        &self,
        user_id: Id,
        family: &str,
        old_jti: &str,
        new_jti: &str,
    ) -> Result<(), StoreError> {
        let exp = Timestamp::now().unix() + crate::domain::auth::REFRESH_TTL_SECS + 3600;
        self.transact(vec![tx::update(
            &keys::family(user_id, family),
            "SET current_jti = :new, expires_at = :exp",
        )
        .condition("current_jti = :old AND revoked = :f")
        .value(":new", s(new_jti))
        .value(":old", s(old_jti))
        .value(":f", aws_sdk_dynamodb::types::AttributeValue::Bool(false))
        .value(":exp", super::n(exp))
        .build(&self.table)])
            .await
    }

    pub async fn revoke_family(&self, user_id: Id, family: &str) -> Result<(), StoreError> {
        self.transact(vec![tx::update(
            &keys::family(user_id, family),
            "SET revoked = :t",
        )
        .condition("attribute_exists(pk)")
        .value(":t", aws_sdk_dynamodb::types::AttributeValue::Bool(true))
        .build(&self.table)])
            .await
    }

    pub async fn create_pat(&self, pat: &PersonalAccessToken) -> Result<(), StoreError> {
        let mut lookup = keys::pat_lookup(&pat.token_hash).to_item();
        lookup.insert("user_id".into(), super::n(pat.user_id));
        lookup.insert("token_id".into(), super::n(pat.id));
        if let Some(exp) = pat.expires_at {
            lookup.insert("token_expires_at".into(), super::n(exp.unix()));
            // Expired lookups are cleaned up by TTL; expiry is also checked on every use.
            lookup.insert("expires_at".into(), super::n(exp.unix() + 86_400));
        }
        let mut items = vec![
            tx::put(
                to_item(pat, &keys::pat(pat.user_id, pat.id))?,
                Some("attribute_not_exists(pk)"),
            )
            .build(&self.table),
            tx::put(lookup, Some("attribute_not_exists(pk)")).build(&self.table),
        ];
        // The parent must still exist when the child is written (condition 2 = revoked).
        if let Some(parent) = pat.parent_id {
            items.push(tx::check_exists(
                &keys::pat(pat.user_id, parent),
                &self.table,
            ));
        }
        self.transact(items).await
    }

    /// A user's tokens, newest first.
    pub async fn list_pats(&self, user_id: Id) -> Result<Vec<PersonalAccessToken>, StoreError> {
        self.query_prefix(&keys::user_pk(user_id), keys::PAT_PREFIX, None, false)
            .await?
            .into_iter()
            .map(from_item)
            .collect()
    }

    pub async fn get_pat(
        &self,
        user_id: Id,
        token_id: Id,
    ) -> Result<Option<PersonalAccessToken>, StoreError> {
        self.get(&keys::pat(user_id, token_id))
            .await?
            .map(from_item)
            .transpose()
    }

    /// Revokes a token and every token created with it (transitively), record and lookup
    /// alike. A child is created only while its parent exists (`create_pat`), so once the
    /// parent is gone no new child can appear; a second pass catches one written between
    /// the first pass's read and its delete.
    pub async fn revoke_pat(&self, pat: &PersonalAccessToken) -> Result<(), StoreError> {
        loop {
            let all = self.list_pats(pat.user_id).await?;
            let doomed = PersonalAccessToken::lineage(pat.id, &all);
            if doomed.is_empty() {
                return Ok(());
            }
            // 50 tokens (100 items) per transaction, the parent first.
            for chunk in doomed.chunks(50) {
                let items = chunk
                    .iter()
                    .flat_map(|t| {
                        [
                            tx::delete(&keys::pat(t.user_id, t.id), None, &self.table),
                            tx::delete(&keys::pat_lookup(&t.token_hash), None, &self.table),
                        ]
                    })
                    .collect();
                self.transact(items).await?;
            }
        }
    }

    pub async fn pat_lookup(&self, hash: &str) -> Result<Option<PatLookup>, StoreError> {
        Ok(self.get(&keys::pat_lookup(hash)).await?.and_then(|item| {
            Some(PatLookup {
                user_id: attr_n(&item, "user_id")? as Id,
                token_id: attr_n(&item, "token_id")? as Id,
                expires_at: attr_n(&item, "token_expires_at"),
            })
        }))
    }

    /// Records use of a token (callers throttle this to about once a minute).
    pub async fn touch_pat(&self, user_id: Id, token_id: Id) -> Result<(), StoreError> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(keys::pat(user_id, token_id).to_item()))
            .update_expression("SET last_used_at = :t")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":t", s(Timestamp::now().to_rfc3339()))
            .send()
            .await
            .map(|_| ())
            .or_else(|e| {
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception())
                {
                    Ok(())
                } else {
                    Err(super::classify(e))
                }
            })
    }
}
