//! Tenancy (API.md §0.3). `ProjectScope` resolves the project of a collection operation
//! (path, then X-Project-ID, then query project_id, then body project_id; a later source naming
//! another project is 400 project_mismatch; none = the caller's only project) and checks
//! membership; `ProjectPath` serves item routes under `/projects/{project_id}`, where a
//! project the caller cannot see is a 404, never a 403.

use std::collections::HashMap;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;

use super::auth::{Caller, Principal};
use super::error::{ApiError, ApiResult};
use super::extract::PathParams;
use super::AppState;
use crate::context;

use crate::domain::project::{access, Access, Project, ProjectCounters, ProjectRole};
use crate::domain::Id;
use crate::store::projects::{counters_of, is_live};
use crate::store::{keys, Item, Key};

pub const PROJECT_HEADER: &str = "x-project-id";

/// A project the caller may act on, with the caller's access and its counters.
#[derive(Debug, Clone)]
pub struct ProjectAccess {
    pub principal: Principal,
    pub project: Project,
    pub access: Access,
    pub counters: ProjectCounters,
    /// Extra items the route asked to read in the same call.
    pub found: HashMap<Key, Item>,
}

impl ProjectAccess {
    pub fn id(&self) -> Id {
        self.project.id
    }

    /// 403 insufficient_role unless the caller is an owner (or a superuser).
    pub fn require_owner(&self) -> ApiResult<()> {
        if self.access.is_owner() {
            Ok(())
        } else {
            Err(ApiError::forbidden(
                "insufficient_role",
                "Owner role required",
            ))
        }
    }
}

/// Why a project could not be reached.
enum Denied {
    Missing,
    NotMember,
}

impl Caller {
    /// Loads principal, project, the caller's membership and the counters in one read.
    async fn reach(
        &self,
        state: &AppState,
        pid: Id,
        extra: &[Key],
    ) -> ApiResult<Result<ProjectAccess, Denied>> {
        let meta = keys::project(pid);
        let member = keys::member(pid, self.user_id);
        let stats = keys::project_stats(pid);
        let mut wanted = vec![meta.clone(), member.clone(), stats.clone()];
        wanted.extend_from_slice(extra);
        let (principal, mut found) = self.load_with(state, &wanted).await?;
        let project = match found.remove(&meta).filter(is_live) {
            Some(item) => crate::store::from_item::<Project>(item)?,
            None => return Ok(Err(Denied::Missing)),
        };
        // Read, not taken: a route may have asked for this same membership (removing oneself).
        let role: Option<ProjectRole> = found
            .get(&member)
            .cloned()
            .map(crate::store::from_item::<crate::domain::project::Membership>)
            .transpose()?
            .map(|m| m.role);
        let Some(access) = access(role, principal.user.is_superuser) else {
            return Ok(Err(Denied::NotMember));
        };
        let counters = counters_of(found.remove(&stats));
        context::set_project(pid);
        Ok(Ok(ProjectAccess {
            principal,
            project,
            access,
            counters,
            found,
        }))
    }

    /// Item semantics: a project the caller cannot see is its 404.
    pub async fn project_item(
        &self,
        state: &AppState,
        pid: Id,
        extra: &[Key],
    ) -> ApiResult<ProjectAccess> {
        self.reach(state, pid, extra)
            .await?
            .map_err(|_| ApiError::project_not_found(pid))
    }

    /// Collection semantics for a project named by header, query or body: 403 not_a_member.
    pub async fn project_collection(
        &self,
        state: &AppState,
        pid: Id,
        extra: &[Key],
    ) -> ApiResult<ProjectAccess> {
        self.reach(state, pid, extra).await?.map_err(|_| {
            ApiError::forbidden("not_a_member", format!("Not a member of project {pid}"))
        })
    }
}

/// The integer path parameter `name` (422 int_parsing naming it).
async fn path_param_id(parts: &mut Parts, state: &AppState, name: &str) -> ApiResult<Id> {
    PathParams::from_request_parts(parts, state).await?.id(name)
}

/// A project hint: 0 = absent, else an id 1..2^53−1.
fn hint(s: &str) -> Option<Option<Id>> {
    match s.parse::<u64>() {
        Ok(0) => Some(None),
        Ok(n) if n <= crate::domain::ids::MAX_ID => Some(Some(n)),
        _ => None,
    }
}

/// Parses the project hints of a request: X-Project-ID and query project_id (0 = absent).
fn hints(parts: &Parts) -> ApiResult<(Option<Id>, Option<Id>)> {
    let header = match parts.headers.get(PROJECT_HEADER) {
        None => None,
        Some(v) => {
            let s = v.to_str().unwrap_or("").trim();
            match hint(s) {
                Some(h) => h,
                _ => {
                    return Err(ApiError::field(
                        &["header", "X-Project-ID"],
                        "int_parsing",
                        "Input should be a valid integer, unable to parse string as an integer",
                    ))
                }
            }
        }
    };
    // Decoded as QueryMap decodes it (repeated keys: the last wins).
    let query = parts.uri.query().and_then(|q| {
        super::extract::query_pairs(q)
            .into_iter()
            .filter(|(k, _)| k == "project_id")
            .map(|(_, v)| v)
            .next_back()
    });
    let query = match query.as_deref().map(str::trim) {
        None | Some("") | Some("0") => None,
        Some(s) => match hint(s) {
            Some(h) => h,
            None => {
                return Err(ApiError::field(
                    &["query", "project_id"],
                    "int_parsing",
                    "Input should be a valid integer, unable to parse string as an integer",
                ))
            }
        },
    };
    Ok((header, query))
}

/// The first named project of the sources in precedence order; a later source naming another
/// project is a mismatch.
pub fn first_named(sources: &[Option<Id>]) -> Result<Option<Id>, ApiError> {
    let mut chosen: Option<Id> = None;
    for id in sources.iter().flatten() {
        match chosen {
            None => chosen = Some(*id),
            Some(c) if c != *id => {
                return Err(ApiError::bad_request(
                    "project_mismatch",
                    format!("Project {id} does not match project {c} named earlier in the request"),
                ))
            }
            _ => {}
        }
    }
    Ok(chosen)
}

/// The project hints a collection operation reads, as documented parameters.
impl utoipa::IntoParams for ProjectScope {
    fn into_params(
        _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
    ) -> Vec<utoipa::openapi::path::Parameter> {
        use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
        use utoipa::openapi::schema::{ObjectBuilder, Type};
        let id = || {
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .format(Some(utoipa::openapi::SchemaFormat::KnownFormat(
                    utoipa::openapi::KnownFormat::Int64,
                )))
                .minimum(Some(0))
                .maximum(Some(crate::domain::ids::MAX_ID as isize))
        };
        vec![
            ParameterBuilder::new()
                .name("X-Project-ID")
                .parameter_in(ParameterIn::Header)
                .description(Some(
                    "The project (API.md §0.3), a decimal id (0 = not named): first of \
                     X-Project-ID, query project_id, body project_id; none named = the \
                     caller's only project. Sources naming different projects: 400 \
                     project_mismatch; anything but a decimal 0..2^53−1: 422 int_parsing.",
                ))
                .schema(Some(
                    ObjectBuilder::new()
                        .schema_type(Type::String)
                        .pattern(Some(crate::domain::ids::ID_OR_ZERO_PATTERN)),
                ))
                .build(),
            ParameterBuilder::new()
                .name("project_id")
                .parameter_in(ParameterIn::Query)
                .description(Some(
                    "The project, when X-Project-ID does not name it (0 = absent); naming \
                     another project than X-Project-ID is 400 project_mismatch",
                ))
                .schema(Some(id()))
                .build(),
        ]
    }
}

/// Collection operations: resolve with `resolve(body_project_id)` once the body is parsed.
#[derive(Debug, Clone)]
pub struct ProjectScope {
    pub caller: Caller,
    header: Option<Id>,
    query: Option<Id>,
}

impl FromRequestParts<AppState> for ProjectScope {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let (header, query) = hints(parts)?;
        Ok(Self {
            caller,
            header,
            query,
        })
    }
}

impl ProjectScope {
    /// Resolves the project and checks membership (one read; two when the caller's only
    /// project has to be found).
    pub async fn resolve(
        &self,
        state: &AppState,
        body: Option<Id>,
        extra: &[Key],
    ) -> ApiResult<ProjectAccess> {
        self.resolve_with(state, body, |_| extra.to_vec()).await
    }

    /// `resolve`, reading in the same call the keys `extra` names inside the project once
    /// it is known (items of its partition: a marker, a cache entry).
    pub async fn resolve_with(
        &self,
        state: &AppState,
        body: Option<Id>,
        extra: impl Fn(Id) -> Vec<Key>,
    ) -> ApiResult<ProjectAccess> {
        let required =
            || ApiError::bad_request("project_required", "Project required: send X-Project-ID");
        let pid = match first_named(&[self.header, self.query, body])? {
            Some(pid) => pid,
            None => {
                // A deleted project's memberships stay until its sweep: they do not count.
                let user = self.caller.user_id;
                match state
                    .store
                    .membership_project_ids(user, 2)
                    .await?
                    .as_slice()
                {
                    // One membership (the usual case): the read of the project tells whether
                    // it is live, at no extra cost.
                    [only] => {
                        return match self.caller.reach(state, *only, &extra(*only)).await? {
                            Ok(scope) => Ok(scope),
                            Err(_) => Err(required()),
                        }
                    }
                    [] => return Err(required()),
                    _ => match state.store.user_project_ids(user, 2).await?.as_slice() {
                        [only] => *only,
                        _ => return Err(required()),
                    },
                }
            }
        };
        self.caller
            .project_collection(state, pid, &extra(pid))
            .await
    }
}

/// Item routes under `/projects/{project_id}`: the project, or its 404.
#[derive(Debug, Clone)]
pub struct ProjectPath(pub ProjectAccess);

impl FromRequestParts<AppState> for ProjectPath {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let pid = path_param_id(parts, state, "project_id").await?;
        let (header, query) = hints(parts)?;
        // Another project named in the header or query makes this item invisible.
        if [header, query].iter().flatten().any(|h| *h != pid) {
            return Err(ApiError::project_not_found(pid));
        }
        Ok(Self(caller.project_item(state, pid, &[]).await?))
    }
}

/// A kind of project item addressed by its id alone (`/technologies/{technology_id}`).
pub trait ItemKind: Send + Sync + 'static {
    /// Sort-key prefix (`TECH`).
    const PREFIX: &'static str;
    /// Error code stem (`technology` → technology_not_found).
    const CODE: &'static str;
    /// Label in the 404 detail (`Technology`).
    const LABEL: &'static str;
    /// Path parameter holding the id.
    const PARAM: &'static str;
}

/// An item the caller may reach, with its project: two reads (the id pointer, then one batch
/// of credential, project, membership and the item). A missing item, one of a project the
/// caller is not a member of, or one whose project another hint names, is the item's 404.
pub struct ItemAccess<K: ItemKind> {
    pub scope: ProjectAccess,
    pub id: Id,
    pub record: crate::store::records::Record,
    kind: std::marker::PhantomData<K>,
}

impl<K: ItemKind> ItemAccess<K> {
    /// An item the caller just created in `scope`.
    pub fn created(scope: ProjectAccess, id: Id, record: crate::store::records::Record) -> Self {
        Self {
            scope,
            id,
            record,
            kind: std::marker::PhantomData,
        }
    }

    pub fn not_found(id: Id) -> ApiError {
        ApiError::not_found(K::CODE, K::LABEL, id)
    }
}

impl<K: ItemKind> FromRequestParts<AppState> for ItemAccess<K> {
    type Rejection = ApiError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let id = path_param_id(parts, state, K::PARAM).await?;
        let (header, query) = hints(parts)?;
        Self::reach(state, &caller, id, &[header, query]).await
    }
}

impl<K: ItemKind> ItemAccess<K> {
    /// The item `id` if `caller` may reach it and no hint names another project.
    pub async fn reach(
        state: &AppState,
        caller: &Caller,
        id: Id,
        hints: &[Option<Id>],
    ) -> ApiResult<Self> {
        let pid = match state.store.locate(id).await? {
            Some((pid, kind)) if kind == K::PREFIX => pid,
            _ => return Err(Self::not_found(id)),
        };
        if hints.iter().flatten().any(|h| *h != pid) {
            return Err(Self::not_found(id));
        }
        let key = keys::item(pid, K::PREFIX, id);
        let mut scope = match caller.reach(state, pid, std::slice::from_ref(&key)).await? {
            Ok(scope) => scope,
            Err(_) => return Err(Self::not_found(id)),
        };
        let record = match scope.found.remove(&key) {
            Some(item) => crate::store::records::record_of(item)?,
            None => return Err(Self::not_found(id)),
        };
        Ok(Self {
            scope,
            id,
            record,
            kind: std::marker::PhantomData,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::StatusCode;

    #[test]
    fn precedence_and_mismatch() {
        assert_eq!(first_named(&[None, Some(2), None]).unwrap(), Some(2));
        assert_eq!(first_named(&[Some(1), None, Some(1)]).unwrap(), Some(1));
        assert_eq!(first_named(&[None, None, None]).unwrap(), None);
        let e = first_named(&[Some(1), Some(2)]).unwrap_err();
        assert_eq!(e.code, "project_mismatch");
        assert_eq!(e.status, StatusCode::BAD_REQUEST);
    }
}
