//! Projects, roles and memberships.

use serde::{Deserialize, Serialize};

use super::{Id, Timestamp};
use crate::string_enum;

string_enum!(
    /// A member's role in a project.
    ProjectRole { Owner = "owner", Member = "member" }
);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Project {
    pub id: Id,
    pub name: String,
    pub owner: String,
    pub description: Option<String>,
    /// KMS ciphertext (base64) of the project's GitHub token; never returned.
    pub github_token_enc: Option<String>,
    /// Whose (name, owner) uniqueness marker this project holds.
    pub created_by: Id,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Membership {
    pub project_id: Id,
    pub user_id: Id,
    pub email: String,
    pub full_name: Option<String>,
    pub role: ProjectRole,
    pub added_at: Timestamp,
}

/// Per-project counters kept in the project's STATS item, changed in the same transaction as
/// the writes that change them. Names: `repositories`, `technologies`, `research_tasks`,
/// `knowledge_entries`, `owners`, `members`, and per-value breakdowns such as
/// `technologies.status.discovery` or `research_tasks.status.blocked`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProjectCounters(pub std::collections::BTreeMap<String, i64>);

impl ProjectCounters {
    pub fn get(&self, name: &str) -> i64 {
        self.0.get(name).copied().unwrap_or(0)
    }
}

/// Counter names of per-value breakdowns.
pub fn breakdown(kind: &str, field: &str, value: &str) -> String {
    format!("{kind}.{field}.{value}")
}

/// GitHub token formats accepted for projects and repositories (API.md §3).
pub const GITHUB_TOKEN_PATTERN: &str =
    r"^(?:(?:ghp|gho|ghu|ghs|ghr)_[A-Za-z0-9]{36,255}|github_pat_[A-Za-z0-9_]{22,255})$";

/// Whether `token` has a GitHub token format.
pub fn is_valid_github_token(token: &str) -> bool {
    super::validate::pattern_matches(GITHUB_TOKEN_PATTERN, token)
}

/// Who may do what in a project.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A member with a role; superusers who are not members act as owners.
    Role(ProjectRole),
    SuperuserGuest,
}

impl Access {
    pub fn is_owner(self) -> bool {
        matches!(
            self,
            Access::Role(ProjectRole::Owner) | Access::SuperuserGuest
        )
    }
    /// The role shown on the Project (null for a superuser who is not a member).
    pub fn shown_role(self) -> Option<ProjectRole> {
        match self {
            Access::Role(r) => Some(r),
            Access::SuperuserGuest => None,
        }
    }
}

/// Resolves a caller's access: membership role, or owner rights for superusers, else none.
pub fn access(role: Option<ProjectRole>, is_superuser: bool) -> Option<Access> {
    match (role, is_superuser) {
        (Some(r), _) => Some(Access::Role(r)),
        (None, true) => Some(Access::SuperuserGuest),
        (None, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn github_token_formats() {
        assert!(is_valid_github_token(&format!("ghp_{}", "a".repeat(36))));
        assert!(is_valid_github_token(&format!(
            "github_pat_{}",
            "A_1".repeat(8)
        )));
        assert!(!is_valid_github_token(&format!("ghx_{}", "a".repeat(36))));
        assert!(!is_valid_github_token("ghp_short"));
    }

    #[test]
    fn superusers_act_as_owners() {
        assert!(access(None, true).unwrap().is_owner());
        assert_eq!(access(None, true).unwrap().shown_role(), None);
        assert!(!access(Some(ProjectRole::Member), false).unwrap().is_owner());
        assert!(access(None, false).is_none());
    }
}
