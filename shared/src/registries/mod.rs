//! Package registries (API.md §20 "Latest from", §0.9 base URLs; DESIGN.md "Outside services"):
//! one small client per registry, the latest version of a package or None. Our policy lives
//! here: bounded concurrency, short timeouts, a size cap on bodies, a 24 h cache in DynamoDB,
//! and every failure (network, status, shape) is "unknown" — it never fails an analysis.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use futures::StreamExt;
use serde_json::Value;

use crate::domain::Timestamp;
use crate::store::{n, s, Item, Key, Store};

/// Base URLs (API.md §0.9).
#[derive(Debug, Clone, PartialEq)]
pub struct RegistryUrls {
    pub npm: String,
    pub pypi: String,
    pub go: String,
    pub crates: String,
    pub maven: String,
    pub rubygems: String,
    pub packagist: String,
}

impl RegistryUrls {
    /// Each REGISTRY_<NAME>_URL, else the public registry.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str, default: &str| {
            lookup(name)
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_string())
                .trim_end_matches('/')
                .to_string()
        };
        Self {
            npm: get("REGISTRY_NPM_URL", "https://registry.npmjs.org"),
            pypi: get("REGISTRY_PYPI_URL", "https://pypi.org"),
            go: get("REGISTRY_GO_URL", "https://proxy.golang.org"),
            crates: get("REGISTRY_CRATES_URL", "https://crates.io"),
            maven: get("REGISTRY_MAVEN_URL", "https://search.maven.org"),
            rubygems: get("REGISTRY_RUBYGEMS_URL", "https://rubygems.org"),
            packagist: get("REGISTRY_PACKAGIST_URL", "https://repo.packagist.org"),
        }
    }
}

/// The registry a package manager's packages are looked up in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Registry {
    Npm,
    Pypi,
    Go,
    Crates,
    Maven,
    Rubygems,
    Packagist,
}

impl Registry {
    /// By §20 parser name (gradle and maven share Maven Central).
    pub fn of(package_manager: &str) -> Option<Self> {
        Some(match package_manager {
            "npm" => Self::Npm,
            "pip" => Self::Pypi,
            "go-modules" => Self::Go,
            "cargo" => Self::Crates,
            "maven" | "gradle" => Self::Maven,
            "bundler" => Self::Rubygems,
            "composer" => Self::Packagist,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Npm => "npm",
            Self::Pypi => "pypi",
            Self::Go => "go",
            Self::Crates => "crates",
            Self::Maven => "maven",
            Self::Rubygems => "rubygems",
            Self::Packagist => "packagist",
        }
    }
}

/// Lookups in flight at once (per analysis).
pub const CONCURRENCY: usize = 16;
/// Cached answers are fresh this long.
pub const CACHE_SECS: i64 = 24 * 3600;
/// The largest registry document read (PyPI's JSON lists every release).
const MAX_BODY: usize = 8 << 20;
/// Names longer than this are not looked up (no registry has them; keys stay small).
const MAX_NAME: usize = 214;
const USER_AGENT: &str = "CommandCenter/2.0 (+https://github.com/PerformanceSuite/CommandCenter)";

/// The registry clients of a process (cheap to clone).
#[derive(Clone)]
pub struct Registries {
    http: reqwest::Client,
    urls: std::sync::Arc<RegistryUrls>,
}

impl Registries {
    pub fn new(urls: RegistryUrls) -> Result<Self, String> {
        let http = reqwest::Client::builder()
            .tls_backend_preconfigured(crate::webhooks::send::tls_config()?)
            .no_proxy()
            .redirect(reqwest::redirect::Policy::limited(3))
            .retry(reqwest::retry::never())
            .connect_timeout(Duration::from_secs(3))
            .timeout(Duration::from_secs(8))
            .user_agent(USER_AGENT)
            .build()
            .map_err(|e| format!("registry client: {e}"))?;
        Ok(Self {
            http,
            urls: std::sync::Arc::new(urls),
        })
    }

    /// The URL §20 names for a package (None: a name the registry cannot have).
    pub fn url(&self, registry: Registry, name: &str) -> Option<String> {
        let u = &self.urls;
        let seg = |s: &str| {
            url::form_urlencoded::byte_serialize(s.as_bytes())
                .collect::<String>()
                .replace('+', "%20")
        };
        if name.is_empty() || name.len() > MAX_NAME || name.chars().any(char::is_control) {
            return None;
        }
        Some(match registry {
            Registry::Npm => {
                // Scoped packages keep their `@scope/` (the registry serves both forms).
                let path = match name.strip_prefix('@').and_then(|r| r.split_once('/')) {
                    Some((scope, pkg)) => format!("@{}/{}", seg(scope), seg(pkg)),
                    None => seg(name),
                };
                format!("{}/{path}/latest", u.npm)
            }
            Registry::Pypi => format!("{}/pypi/{}/json", u.pypi, seg(name)),
            Registry::Go => format!("{}/{}/@latest", u.go, go_escape(name)?),
            Registry::Crates => format!("{}/api/v1/crates/{}", u.crates, seg(name)),
            Registry::Maven => {
                let (g, a) = name.split_once(':')?;
                format!(
                    "{}/solrsearch/select?q=g:{}+AND+a:{}&rows=1&wt=json",
                    u.maven,
                    seg(g),
                    seg(a)
                )
            }
            Registry::Rubygems => format!("{}/api/v1/gems/{}.json", u.rubygems, seg(name)),
            Registry::Packagist => {
                let (vendor, pkg) = name.split_once('/')?;
                format!("{}/p2/{}/{}.json", u.packagist, seg(vendor), seg(pkg))
            }
        })
    }

    /// The latest version, or None for any failure.
    pub async fn latest(&self, registry: Registry, name: &str) -> Option<String> {
        let url = self.url(registry, name)?;
        let response = self.http.get(&url).send().await.ok()?;
        if !response.status().is_success() {
            tracing::debug!(%url, status = %response.status(), "registry lookup failed");
            return None;
        }
        let body = read_capped(response).await?;
        let doc: Value = serde_json::from_slice(&body).ok()?;
        latest_of(registry, name, &doc)
    }
}

async fn read_capped(mut response: reqwest::Response) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.ok()? {
        if body.len() + chunk.len() > MAX_BODY {
            return None;
        }
        body.extend_from_slice(&chunk);
    }
    Some(body)
}

/// Go module path escaping (golang.org/x/mod/module): upper-case letters become `!` + lower.
fn go_escape(module: &str) -> Option<String> {
    if module.contains("..") || module.starts_with('/') {
        return None;
    }
    let mut out = String::with_capacity(module.len());
    for c in module.chars() {
        match c {
            'A'..='Z' => {
                out.push('!');
                out.push(c.to_ascii_lowercase());
            }
            c if c.is_ascii_alphanumeric() || "-._~/+".contains(c) => out.push(c),
            _ => return None,
        }
    }
    Some(out)
}

/// The version field §20 names in a registry's document.
pub fn latest_of(registry: Registry, name: &str, doc: &Value) -> Option<String> {
    let text = |v: Option<&Value>| {
        v.and_then(Value::as_str)
            .map(str::trim)
            .filter(|s| !s.is_empty() && s.len() <= 128)
            .map(str::to_string)
    };
    match registry {
        Registry::Npm => text(doc.get("version")),
        Registry::Pypi => text(doc.pointer("/info/version")),
        Registry::Go => text(doc.get("Version")).map(|v| v.trim_start_matches('v').to_string()),
        Registry::Crates => text(doc.pointer("/crate/max_version")),
        Registry::Maven => text(doc.pointer("/response/docs/0/latestVersion")),
        Registry::Rubygems => text(doc.get("version")),
        Registry::Packagist => doc
            .get("packages")
            .and_then(|p| p.get(name))
            .and_then(Value::as_array)?
            .iter()
            .filter_map(|v| text(v.get("version")))
            .find(|v| !v.starts_with("dev-"))
            .map(|v| v.trim_start_matches('v').to_string()),
    }
}

fn cache_key(registry: Registry, name: &str) -> Key {
    Key::new(format!("REGCACHE#{}", registry.as_str()), name.to_string())
}

/// What a set of lookups cost: cache hits and registry calls.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct LookupStats {
    pub cached: usize,
    pub fetched: usize,
    pub unknown: usize,
}

/// The latest version of each (registry, name): fresh cache entries first (one BatchGetItem per
/// 100), the rest from the registries with `CONCURRENCY` in flight, answers cached for 24 h.
/// Failures are None and are not cached (the next analysis asks again).
pub async fn latest_versions(
    registries: &Registries,
    store: &Store,
    wanted: &BTreeSet<(Registry, String)>,
    now: Timestamp,
) -> (HashMap<(Registry, String), Option<String>>, LookupStats) {
    let mut out = HashMap::new();
    let mut stats = LookupStats::default();
    let keys: Vec<Key> = wanted
        .iter()
        .filter(|(_, name)| name.len() <= MAX_NAME)
        .map(|(r, name)| cache_key(*r, name))
        .collect();
    let cached = match store.batch_get(&keys).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "registry cache unreadable; asking the registries");
            HashMap::new()
        }
    };
    let mut missing = Vec::new();
    for (registry, name) in wanted {
        let hit = cached.get(&cache_key(*registry, name)).and_then(|item| {
            let at = crate::store::attr_n(item, "fetched_at")?;
            (now.unix() - at < CACHE_SECS && at <= now.unix())
                .then(|| crate::store::attr_s(item, "latest"))
                .flatten()
        });
        match hit {
            Some(v) => {
                stats.cached += 1;
                out.insert((*registry, name.clone()), Some(v));
            }
            None => missing.push((*registry, name.clone())),
        }
    }
    let answers: Vec<((Registry, String), Option<String>)> = futures::stream::iter(missing)
        .map(|(registry, name)| async move {
            let latest = registries.latest(registry, &name).await;
            ((registry, name), latest)
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;
    let mut puts = Vec::new();
    for ((registry, name), latest) in answers {
        match &latest {
            Some(v) => {
                stats.fetched += 1;
                if name.len() <= MAX_NAME {
                    let mut item: Item = cache_key(registry, &name).to_item();
                    item.insert("latest".into(), s(v.clone()));
                    item.insert("fetched_at".into(), n(now.unix()));
                    item.insert("expires_at".into(), n(now.unix() + CACHE_SECS));
                    puts.push(item);
                }
            }
            None => stats.unknown += 1,
        }
        out.insert((registry, name), latest);
    }
    if let Err(e) = store.batch_put(puts).await {
        tracing::warn!(error = %e, "registry answers not cached");
    }
    (out, stats)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn urls() -> RegistryUrls {
        RegistryUrls::from_lookup(|_| None)
    }

    #[test]
    fn urls_follow_section_20() {
        let r = Registries::new(urls()).unwrap();
        assert_eq!(
            r.url(Registry::Npm, "@types/node").unwrap(),
            "https://registry.npmjs.org/@types/node/latest"
        );
        assert_eq!(
            r.url(Registry::Pypi, "Django").unwrap(),
            "https://pypi.org/pypi/Django/json"
        );
        assert_eq!(
            r.url(Registry::Go, "github.com/BurntSushi/toml").unwrap(),
            "https://proxy.golang.org/github.com/!burnt!sushi/toml/@latest"
        );
        assert_eq!(
            r.url(Registry::Crates, "serde").unwrap(),
            "https://crates.io/api/v1/crates/serde"
        );
        assert_eq!(
            r.url(Registry::Maven, "org.slf4j:slf4j-api").unwrap(),
            "https://search.maven.org/solrsearch/select?q=g:org.slf4j+AND+a:slf4j-api&rows=1&wt=json"
        );
        assert_eq!(
            r.url(Registry::Rubygems, "rails").unwrap(),
            "https://rubygems.org/api/v1/gems/rails.json"
        );
        assert_eq!(
            r.url(Registry::Packagist, "monolog/monolog").unwrap(),
            "https://repo.packagist.org/p2/monolog/monolog.json"
        );
        assert_eq!(r.url(Registry::Maven, "nogroup"), None);
        assert_eq!(r.url(Registry::Go, "../etc"), None);
        assert_eq!(r.url(Registry::Npm, &"x".repeat(300)), None);
        // Path tricks stay inside one segment.
        assert_eq!(
            r.url(Registry::Pypi, "a/../../b?c").unwrap(),
            "https://pypi.org/pypi/a%2F..%2F..%2Fb%3Fc/json"
        );
    }

    #[test]
    fn latest_versions_are_read_where_section_20_says() {
        assert_eq!(
            latest_of(Registry::Npm, "x", &json!({"version": "18.3.1"})),
            Some("18.3.1".into())
        );
        assert_eq!(
            latest_of(Registry::Pypi, "x", &json!({"info": {"version": "5.1"}})),
            Some("5.1".into())
        );
        assert_eq!(
            latest_of(Registry::Go, "x", &json!({"Version": "v1.9.0"})),
            Some("1.9.0".into())
        );
        assert_eq!(
            latest_of(
                Registry::Crates,
                "x",
                &json!({"crate": {"max_version": "1.0.200"}})
            ),
            Some("1.0.200".into())
        );
        assert_eq!(
            latest_of(
                Registry::Maven,
                "g:a",
                &json!({"response": {"docs": [{"latestVersion": "2.0.16"}]}})
            ),
            Some("2.0.16".into())
        );
        assert_eq!(
            latest_of(Registry::Maven, "g:a", &json!({"response": {"docs": []}})),
            None
        );
        assert_eq!(
            latest_of(
                Registry::Packagist,
                "monolog/monolog",
                &json!({"packages": {"monolog/monolog": [
                    {"version": "dev-main"}, {"version": "3.7.0"}, {"version": "3.6.0"}]}})
            ),
            Some("3.7.0".into())
        );
        assert_eq!(latest_of(Registry::Npm, "x", &json!({"version": 3})), None);
        assert_eq!(latest_of(Registry::Npm, "x", &json!([])), None);
    }

    #[test]
    fn package_managers_map_to_registries() {
        assert_eq!(Registry::of("gradle"), Some(Registry::Maven));
        assert_eq!(Registry::of("go-modules"), Some(Registry::Go));
        assert_eq!(Registry::of("other"), None);
    }
}
