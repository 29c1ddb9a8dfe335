//! Users, refresh-token families and personal access tokens.

use serde::{Deserialize, Serialize};

use super::{Id, Timestamp};

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct User {
    pub id: Id,
    pub email: String,
    pub full_name: Option<String>,
    pub password_hash: String,
    pub is_active: bool,
    pub is_superuser: bool,
    pub last_login: Option<Timestamp>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

/// The tokens descending from one login. `current_jti` is the only refresh token that may be
/// presented; presenting an older one of the family is reuse and revokes the family.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct TokenFamily {
    pub family: String,
    pub user_id: Id,
    pub current_jti: String,
    pub revoked: bool,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct PersonalAccessToken {
    pub id: Id,
    pub user_id: Id,
    pub name: String,
    pub token_prefix: String,
    pub token_hash: String,
    pub created_at: Timestamp,
    pub expires_at: Option<Timestamp>,
    pub last_used_at: Option<Timestamp>,
    /// The token this one was created with, when a PAT created it: it never outlives its
    /// parent, and revoking the parent revokes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_id: Option<Id>,
}

impl PersonalAccessToken {
    /// Every token descending from `root` (itself included) among a user's tokens.
    pub fn lineage(root: Id, all: &[PersonalAccessToken]) -> Vec<&PersonalAccessToken> {
        let mut ids = vec![root];
        let mut grew = true;
        while grew {
            grew = false;
            for t in all {
                if !ids.contains(&t.id) && t.parent_id.is_some_and(|p| ids.contains(&p)) {
                    ids.push(t.id);
                    grew = true;
                }
            }
        }
        all.iter().filter(|t| ids.contains(&t.id)).collect()
    }
}

/// Normalizes an email for storage and lookup: trimmed and lower-case.
pub fn normalize_email(email: &str) -> String {
    email.trim().to_lowercase()
}

/// Syntactic email check (RFC 5321/5322 as `email_address` implements it) with a dot in the
/// domain, as users expect of a real address.
pub fn is_valid_email(email: &str) -> bool {
    email_address::EmailAddress::parse_with_options(email, email_address::Options::default())
        .map(|a| a.domain().contains('.') && !a.domain().starts_with('['))
        .unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails() {
        assert!(is_valid_email("ada@example.com"));
        assert!(!is_valid_email("not-an-email"));
        assert!(!is_valid_email("ada@localhost"));
        assert_eq!(normalize_email(" Ada@Example.COM "), "ada@example.com");
    }
}
