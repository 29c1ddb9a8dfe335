//! The outbound webhook HTTP sender (API.md §10.2 "Sending", §10.3; DESIGN.md "webhook
//! receivers: the SSRF rule is enforced in our own DNS resolver, and the connection goes to the
//! checked address").
//!
//! One [`Sender`] per process wraps one reqwest client configured for exactly this job:
//! - HTTP/1.1 only, no redirects followed (a 3xx is an answer), no retries, no proxy (the
//!   environment's `HTTP(S)_PROXY` is ignored), no cookies, no decompression, no Referer;
//! - connect limit 5 s (DNS, TCP and TLS together), total limit 15 s (until the body is read);
//! - TLS: rustls on the aws-lc-rs provider with the webpki-roots trust anchors compiled in
//!   (the OS certificate store is never read);
//! - the §10.3 target rule in two places: [`check_target`] on the URL literal before anything
//!   happens (an IP literal never reaches a resolver), and our own resolver for host names,
//!   which refuses the whole target if *any* answer is not [`is_public`] and otherwise hands
//!   the checked addresses to the connector, which connects to them and resolves nothing
//!   again (no DNS rebinding between check and connect).
//!
//! `allow_private` (config `WEBHOOK_ALLOW_PRIVATE_TARGETS`, local development) lifts the address
//! rule and allows `http://`; names still go through the same resolver.

use std::error::Error as StdError;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures::future::BoxFuture;
use http::header::{HeaderMap, HeaderName, HeaderValue, CONTENT_TYPE, RETRY_AFTER, USER_AGENT};
use reqwest::dns::{Addrs, Name, Resolve, Resolving};

use crate::domain::webhook::{check_target, is_public, TargetError};

/// `User-Agent` of every delivery (API.md §10.2).
pub const USER_AGENT_VALUE: &str = "CommandCenter-Webhook/1.0";
/// Connect limit: DNS, TCP and TLS handshake together.
pub const CONNECT_TIMEOUT_MS: u64 = 5_000;
/// Total limit: from the start of the request until the answer's body is read.
pub const TOTAL_TIMEOUT_MS: u64 = 15_000;
/// How much of an answer's body [`Attempt::Answered`] keeps, in characters.
pub const BODY_CHARS: usize = 10_000;
/// How much of an answer's body is read at most, in bytes (10 000 characters are at most
/// 40 000 bytes of UTF-8, so the cut never reaches the kept part).
pub const BODY_READ_BYTES: usize = 64 * 1024;
/// Pooled connections are dropped after this long idle (a frozen Lambda environment leaves
/// stale ones behind).
const POOL_IDLE: Duration = Duration::from_secs(30);
/// Longest reason text in [`Attempt::Failed`].
const REASON_CHARS: usize = 200;

/// A host-name resolver: `(host, port)` → addresses. The sender calls it with port 0 and
/// ignores the ports it answers: the connection always uses the URL's (explicit or default)
/// port.
pub type Lookup =
    Arc<dyn Fn(&str, u16) -> BoxFuture<'static, io::Result<Vec<SocketAddr>>> + Send + Sync>;

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Attempt {
    /// The receiver answered: status, Retry-After header (raw, lossy UTF-8), body (first
    /// [`BODY_CHARS`] characters, lossy UTF-8; at most [`BODY_READ_BYTES`] are read), duration.
    /// Once the status line and headers have arrived the attempt counts as answered: a body
    /// that breaks off or is still arriving at the total limit is kept as far as it came.
    Answered {
        status: u16,
        retry_after: Option<String>,
        body: String,
        duration_ms: u64,
    },
    /// §10.3 refused the URL or one of its DNS answers (no connection was made).
    Blocked,
    /// No answer within the limits: `ms` is the limit hit ([`CONNECT_TIMEOUT_MS`] or
    /// [`TOTAL_TIMEOUT_MS`]).
    Timeout { ms: u64, duration_ms: u64 },
    /// Anything else (refused connection, TLS, DNS failure, bad URL or header): a short reason
    /// for `Request error: <reason>`. It never contains the URL or a header value.
    Failed { reason: String, duration_ms: u64 },
}

/// The limits of one attempt (fixed by §10.2; shorter only in tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Limits {
    connect_ms: u64,
    total_ms: u64,
}

const LIMITS: Limits = Limits {
    connect_ms: CONNECT_TIMEOUT_MS,
    total_ms: TOTAL_TIMEOUT_MS,
};

/// The webhook sender: one per process (built once; cheap to clone, clones share the
/// connection pool).
#[derive(Clone)]
pub struct Sender {
    /// The client, or why it could not be built (then every attempt fails with that reason;
    /// a unit test makes sure it builds).
    client: Result<reqwest::Client, Arc<str>>,
    allow_private: bool,
    limits: Limits,
}

impl std::fmt::Debug for Sender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sender")
            .field("ready", &self.client.is_ok())
            .field("allow_private", &self.allow_private)
            .field("limits", &self.limits)
            .finish()
    }
}

impl Sender {
    /// The production sender: host names go through the system resolver (`getaddrinfo`),
    /// then through the §10.3 check. `allow_private` = config WEBHOOK_ALLOW_PRIVATE_TARGETS
    /// (lifts §10.3 and allows `http://`).
    pub fn new(allow_private: bool) -> Self {
        Self::with_lookup(allow_private, system_lookup())
    }

    /// For tests: resolve host names with `lookup` instead of the system resolver (its
    /// answers are checked and connected to exactly as the system resolver's would be).
    pub fn with_lookup(allow_private: bool, lookup: Lookup) -> Self {
        Self::with_limits(allow_private, lookup, LIMITS)
    }

    fn with_limits(allow_private: bool, lookup: Lookup, limits: Limits) -> Self {
        let client = build_client(allow_private, lookup, limits).map_err(Arc::from);
        if let Err(e) = &client {
            tracing::error!(error = %e, "webhook HTTP client could not be built");
        }
        Self {
            client,
            allow_private,
            limits,
        }
    }

    /// POSTs `body` to `url` with `headers` (the caller builds the signature headers; this adds
    /// `Content-Type: application/json` and `User-Agent: CommandCenter-Webhook/1.0`, replacing
    /// any the caller passed). One attempt, never retried here.
    pub async fn post(&self, url: &str, headers: &[(&str, String)], body: Bytes) -> Attempt {
        let started = Instant::now();
        match check_target(url, self.allow_private) {
            Ok(()) => {}
            Err(TargetError::NotAllowed) => return Attempt::Blocked,
            Err(TargetError::Invalid) => return failed("invalid URL".into(), started),
        }
        let client = match &self.client {
            Ok(client) => client,
            Err(reason) => return failed(reason.to_string(), started),
        };
        let mut map = HeaderMap::with_capacity(headers.len() + 2);
        for (name, value) in headers {
            let Ok(header) = HeaderName::from_bytes(name.as_bytes()) else {
                return failed("invalid header name".into(), started);
            };
            let Ok(value) = HeaderValue::from_str(value) else {
                return failed(format!("invalid value for header {header}"), started);
            };
            map.append(header, value);
        }
        map.insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        map.insert(USER_AGENT, HeaderValue::from_static(USER_AGENT_VALUE));

        let response = match client.post(url).headers(map).body(body).send().await {
            Ok(response) => response,
            Err(e) => return self.attempt_from_error(e, started),
        };
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let deadline = started + Duration::from_millis(self.limits.total_ms);
        let body = read_body(response, tokio::time::Instant::from_std(deadline)).await;
        Attempt::Answered {
            status,
            retry_after,
            body,
            duration_ms: elapsed_ms(started),
        }
    }

    fn attempt_from_error(&self, e: reqwest::Error, started: Instant) -> Attempt {
        let duration_ms = elapsed_ms(started);
        let e = e.without_url();
        if causes(&e).any(|c| c.is::<BlockedAnswer>()) {
            return Attempt::Blocked;
        }
        if e.is_timeout() {
            // The connect limit wraps DNS, TCP and TLS; anything later is the total limit.
            let ms = if e.is_connect() {
                self.limits.connect_ms
            } else {
                self.limits.total_ms
            };
            return Attempt::Timeout { ms, duration_ms };
        }
        // The innermost cause says what happened ("Connection refused (os error 111)",
        // "invalid peer certificate: UnknownIssuer", "failed to lookup address information: …").
        let root = causes(&e).last().map(|c| c.to_string()).unwrap_or_default();
        let reason = if e.is_dns() {
            format!("dns error: {root}")
        } else if e.is_connect() {
            format!("connection failed: {root}")
        } else {
            root
        };
        Attempt::Failed {
            reason: reason.chars().take(REASON_CHARS).collect(),
            duration_ms,
        }
    }
}

fn failed(reason: String, started: Instant) -> Attempt {
    Attempt::Failed {
        reason,
        duration_ms: elapsed_ms(started),
    }
}

fn elapsed_ms(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

/// `e` and its sources, innermost last (bounded, in case of a cycle).
fn causes<'a>(
    e: &'a (dyn StdError + 'static),
) -> impl Iterator<Item = &'a (dyn StdError + 'static)> {
    std::iter::successors(Some(e), |c: &&'a (dyn StdError + 'static)| (*c).source()).take(32)
}

/// Reads at most [`BODY_READ_BYTES`] of the body before `deadline` and keeps the first
/// [`BODY_CHARS`] characters (lossy UTF-8). A body that breaks off or is still arriving at the
/// deadline is kept as far as it came.
async fn read_body(mut response: reqwest::Response, deadline: tokio::time::Instant) -> String {
    let mut buf: Vec<u8> = Vec::new();
    while buf.len() < BODY_READ_BYTES {
        match tokio::time::timeout_at(deadline, response.chunk()).await {
            Ok(Ok(Some(chunk))) => {
                let room = BODY_READ_BYTES - buf.len();
                buf.extend_from_slice(chunk.get(..room).unwrap_or(&chunk));
            }
            Ok(Ok(None)) | Ok(Err(_)) | Err(_) => break,
        }
    }
    String::from_utf8_lossy(&buf)
        .chars()
        .take(BODY_CHARS)
        .collect()
}

/// The system resolver (`getaddrinfo` on tokio's blocking pool).
fn system_lookup() -> Lookup {
    Arc::new(|host: &str, port: u16| {
        let host = host.to_owned();
        Box::pin(async move {
            tokio::net::lookup_host((host.as_str(), port))
                .await
                .map(|addrs| addrs.collect())
        })
    })
}

/// A DNS answer §10.3 refuses; the resolver fails with it and [`Sender::post`] maps it to
/// [`Attempt::Blocked`].
#[derive(Debug)]
struct BlockedAnswer;

impl std::fmt::Display for BlockedAnswer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Target address not allowed")
    }
}

impl StdError for BlockedAnswer {}

/// Our resolver: `lookup`, then §10.3 on every answer (unless `allow_private`). The connector
/// connects only to the addresses returned here.
struct CheckedResolver {
    allow_private: bool,
    lookup: Lookup,
}

impl Resolve for CheckedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let answers = (self.lookup)(name.as_str(), 0);
        let allow_private = self.allow_private;
        Box::pin(async move {
            let answers = answers.await?;
            if answers.is_empty() {
                return Err(io::Error::new(io::ErrorKind::NotFound, "no addresses").into());
            }
            // One refused answer refuses the target: dropping it and using the others would let
            // a name that points at both a public and an internal address reach the internal
            // one on a later lookup.
            if !allow_private && answers.iter().any(|a| !is_public(a.ip())) {
                return Err(BlockedAnswer.into());
            }
            // Port 0: the connector puts the URL's (explicit or default) port on every address.
            let addrs: Addrs = Box::new(answers.into_iter().map(|mut a| {
                a.set_port(0);
                a
            }));
            Ok(addrs)
        })
    }
}

/// TLS for receivers: rustls on aws-lc-rs (the provider the AWS SDK already brings), the
/// webpki-roots trust anchors compiled in, HTTP/1.1 only.
pub(crate) fn tls_config() -> Result<rustls::ClientConfig, String> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let roots = rustls::RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup failed: {e}"))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

fn build_client(
    allow_private: bool,
    lookup: Lookup,
    limits: Limits,
) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .tls_backend_preconfigured(tls_config()?)
        .dns_resolver(CheckedResolver {
            allow_private,
            lookup,
        })
        .https_only(!allow_private)
        .http1_only()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .retry(reqwest::retry::never())
        .referer(false)
        .connect_timeout(Duration::from_millis(limits.connect_ms))
        .timeout(Duration::from_millis(limits.total_ms))
        .pool_idle_timeout(POOL_IDLE)
        .user_agent(USER_AGENT_VALUE)
        .build()
        .map_err(|e| format!("HTTP client setup failed: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{IpAddr, Ipv4Addr};
    use std::sync::atomic::{AtomicUsize, Ordering};
    use wiremock::matchers::{body_bytes, header, method, path};
    use wiremock::{Mock, MockServer, ResponseTemplate};

    /// A lookup that answers `answers` for every name and counts its calls.
    fn fake_lookup(answers: Vec<SocketAddr>) -> (Lookup, Arc<AtomicUsize>) {
        let calls = Arc::new(AtomicUsize::new(0));
        let counter = calls.clone();
        let lookup: Lookup = Arc::new(move |_host: &str, _port: u16| {
            counter.fetch_add(1, Ordering::SeqCst);
            let answers = answers.clone();
            Box::pin(async move { Ok(answers) })
        });
        (lookup, calls)
    }

    fn addr(ip: &str, port: u16) -> SocketAddr {
        SocketAddr::new(ip.parse::<IpAddr>().expect("test address"), port)
    }

    fn short_limits(connect_ms: u64, total_ms: u64) -> Limits {
        Limits {
            connect_ms,
            total_ms,
        }
    }

    async fn post(sender: &Sender, url: &str) -> Attempt {
        sender.post(url, &[], Bytes::from_static(b"{}")).await
    }

    #[test]
    fn the_production_client_builds_with_the_section_10_2_limits() {
        // Catches a reqwest/rustls version split (reqwest would not recognize our
        // ClientConfig and refuse to build).
        let sender = Sender::new(false);
        assert!(sender.client.is_ok(), "{:?}", sender.client.err());
        assert_eq!(sender.limits, short_limits(5_000, 15_000));
        assert!(Sender::new(true).client.is_ok());
    }

    #[test]
    fn the_url_crate_normalizes_numeric_ipv4_forms() {
        for literal in [
            "https://2130706433/",
            "https://0x7f000001/",
            "https://0x7f.1/",
            "https://0177.0.0.1/",
            "https://127.1/",
            "https://127.0.0.1./",
        ] {
            let url = url::Url::parse(literal).expect("parses");
            assert_eq!(
                url.host(),
                Some(url::Host::Ipv4(Ipv4Addr::LOCALHOST)),
                "{literal}"
            );
        }
    }

    #[tokio::test]
    async fn literal_targets_are_blocked_before_any_lookup() {
        let (lookup, calls) = fake_lookup(vec![addr("93.184.216.34", 0)]);
        let sender = Sender::with_lookup(false, lookup);
        for url in [
            "https://127.0.0.1/hook",
            "https://127.1/",
            "https://2130706433/",
            "https://0x7f000001/",
            "https://0x7f.1/",
            "https://0177.0.0.1/",
            "https://10.0.0.1/",
            "https://172.16.0.1/",
            "https://172.31.255.255/",
            "https://192.168.1.1/",
            "https://100.64.0.1/",
            "https://169.254.169.254/latest/meta-data/",
            "https://0.0.0.0/",
            "https://255.255.255.255/",
            "https://224.0.0.1/",
            "https://[::1]/",
            "https://[::]/",
            "https://[fc00::1]/",
            "https://[fd12:3456::1]/",
            "https://[fe80::1]/",
            "https://[ff02::1]/",
            "https://[::ffff:127.0.0.1]/",
            "https://[::ffff:7f00:1]/",
            "https://[::127.0.0.1]/",
            "https://localhost/",
            "https://LOCALHOST./",
            "https://foo.localhost/",
            "http://hooks.example.com/",
            "http://93.184.216.34/",
        ] {
            assert_eq!(post(&sender, url).await, Attempt::Blocked, "{url}");
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0, "literals never resolve");
    }

    #[tokio::test]
    async fn one_private_answer_blocks_the_name_without_connecting() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let (lookup, calls) =
            fake_lookup(vec![addr("93.184.216.34", port), addr("127.0.0.1", port)]);
        let sender = Sender::with_lookup(false, lookup);
        let attempt = post(&sender, &format!("https://hooks.example.com:{port}/hook")).await;
        assert_eq!(attempt, Attempt::Blocked);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        let accepted = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
        assert!(
            accepted.is_err(),
            "no connection may reach the private answer"
        );
    }

    #[tokio::test]
    async fn every_private_dns_answer_form_is_blocked() {
        for ip in [
            "127.0.0.1",
            "10.1.2.3",
            "172.16.5.4",
            "192.168.0.10",
            "100.100.100.100",
            "169.254.169.254",
            "0.0.0.0",
            "224.0.0.251",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd00:ec2::254",
            "fe80::1",
            "ff02::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::127.0.0.1",
        ] {
            let (lookup, calls) = fake_lookup(vec![addr(ip, 443)]);
            let sender = Sender::with_lookup(false, lookup);
            assert_eq!(
                post(&sender, "https://hooks.example.com/hook").await,
                Attempt::Blocked,
                "{ip}"
            );
            assert_eq!(calls.load(Ordering::SeqCst), 1, "{ip}");
        }
    }

    #[tokio::test]
    async fn the_connection_goes_to_the_address_our_resolver_returned() {
        let server = MockServer::start().await;
        let port = server.address().port();
        let body = Bytes::from_static(b"{\"type\":\"job.completed\",\"data\":{\"x\":[1,2]}}\n");
        Mock::given(method("POST"))
            .and(path("/hook"))
            .and(header("user-agent", USER_AGENT_VALUE))
            .and(header("content-type", "application/json"))
            .and(header("webhook-id", "123"))
            .and(header("x-webhook-event", "job.completed"))
            .and(body_bytes(body.to_vec()))
            .respond_with(ResponseTemplate::new(204))
            .expect(1)
            .mount(&server)
            .await;
        // The system resolver cannot resolve receiver.test; only our lookup can. Its answer
        // carries a wrong port: the URL's port wins.
        let (lookup, calls) = fake_lookup(vec![addr("127.0.0.1", 1)]);
        let sender = Sender::with_lookup(true, lookup);
        let headers = [
            ("webhook-id", "123".to_string()),
            ("X-Webhook-Event", "job.completed".to_string()),
            ("Content-Type", "text/plain".to_string()),
        ];
        let attempt = sender
            .post(&format!("http://receiver.test:{port}/hook"), &headers, body)
            .await;
        assert!(
            matches!(attempt, Attempt::Answered { status: 204, ref body, .. } if body.is_empty()),
            "{attempt:?}"
        );
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        server.verify().await;
    }

    #[tokio::test]
    async fn private_literals_are_sent_when_allowed() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_body_string("ok"))
            .expect(1)
            .mount(&server)
            .await;
        let sender = Sender::with_lookup(true, fake_lookup(vec![]).0);
        let attempt = post(&sender, &format!("{}/hook", server.uri())).await;
        assert!(
            matches!(attempt, Attempt::Answered { status: 200, ref body, .. } if body == "ok"),
            "{attempt:?}"
        );
    }

    #[tokio::test]
    async fn a_redirect_is_an_answer_and_is_not_followed() {
        let server = MockServer::start().await;
        Mock::given(path("/hook"))
            .respond_with(
                ResponseTemplate::new(302)
                    .insert_header("location", format!("{}/elsewhere", server.uri())),
            )
            .expect(1)
            .mount(&server)
            .await;
        Mock::given(path("/elsewhere"))
            .respond_with(ResponseTemplate::new(200))
            .expect(0)
            .mount(&server)
            .await;
        let sender = Sender::with_lookup(true, fake_lookup(vec![]).0);
        let attempt = post(&sender, &format!("{}/hook", server.uri())).await;
        assert!(
            matches!(attempt, Attempt::Answered { status: 302, .. }),
            "{attempt:?}"
        );
        server.verify().await;
    }

    #[tokio::test]
    async fn a_slow_receiver_times_out_at_the_total_limit() {
        let server = MockServer::start().await;
        Mock::given(method("POST"))
            .respond_with(ResponseTemplate::new(200).set_delay(Duration::from_secs(16)))
            .mount(&server)
            .await;
        let (lookup, _) = fake_lookup(vec![addr("127.0.0.1", 0)]);
        let sender = Sender::with_limits(true, lookup, short_limits(200, 300));
        let url = format!("http://receiver.test:{}/hook", server.address().port());
        let attempt = post(&sender, &url).await;
        match attempt {
            Attempt::Timeout { ms, duration_ms } => {
                assert_eq!(ms, 300);
                assert!((300..3_000).contains(&duration_ms), "{duration_ms}");
            }
            other => panic!("expected a timeout, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_slow_connect_times_out_at_the_connect_limit() {
        // DNS is inside the connect limit: a lookup that hangs is a connect timeout.
        let lookup: Lookup = Arc::new(|_host: &str, _port: u16| {
            Box::pin(async {
                tokio::time::sleep(Duration::from_secs(5)).await;
                Ok(vec![addr("127.0.0.1", 0)])
            })
        });
        let sender = Sender::with_limits(true, lookup, short_limits(200, 1_000));
        match post(&sender, "http://receiver.test:9/hook").await {
            Attempt::Timeout { ms, duration_ms } => {
                assert_eq!(ms, 200);
                assert!(duration_ms < 1_000, "{duration_ms}");
            }
            other => panic!("expected a connect timeout, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_closed_port_is_a_request_error() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        drop(listener);
        let (lookup, _) = fake_lookup(vec![addr("127.0.0.1", 0)]);
        let sender = Sender::with_lookup(true, lookup);
        match post(&sender, &format!("http://receiver.test:{port}/hook")).await {
            Attempt::Failed { reason, .. } => {
                assert!(reason.starts_with("connection failed: "), "{reason}");
                assert!(reason.to_lowercase().contains("refused"), "{reason}");
                assert!(!reason.contains("receiver.test"), "{reason}");
            }
            other => panic!("expected a request error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn dns_failures_and_tls_failures_are_request_errors() {
        let failing: Lookup = Arc::new(|_host: &str, _port: u16| {
            Box::pin(async { Err(io::Error::other("no such host")) })
        });
        let sender = Sender::with_lookup(false, failing);
        match post(&sender, "https://nowhere.example/hook").await {
            Attempt::Failed { reason, .. } => assert_eq!(reason, "dns error: no such host"),
            other => panic!("expected a DNS error, got {other:?}"),
        }
        // https:// to a plain HTTP server: the TLS handshake fails (and the provider works).
        let server = MockServer::start().await;
        let (lookup, _) = fake_lookup(vec![addr("127.0.0.1", 0)]);
        let sender = Sender::with_lookup(true, lookup);
        let url = format!("https://receiver.test:{}/hook", server.address().port());
        match post(&sender, &url).await {
            Attempt::Failed { reason, .. } => {
                // "connection failed: received corrupt message of type InvalidContentType"
                assert!(reason.starts_with("connection failed: "), "{reason}");
                assert!(reason.contains("corrupt message"), "{reason}");
            }
            other => panic!("expected a TLS error, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn bad_urls_and_headers_fail_without_a_request() {
        let (lookup, calls) = fake_lookup(vec![addr("127.0.0.1", 0)]);
        let sender = Sender::with_lookup(true, lookup);
        for url in ["not a url", "ftp://receiver.test/", "https:///"] {
            assert!(
                matches!(post(&sender, url).await, Attempt::Failed { ref reason, .. } if reason == "invalid URL"),
                "{url}"
            );
        }
        let bad_name = [("bad header", "x".to_string())];
        let bad_value = [("x-secret", "line\nbreak".to_string())];
        for headers in [&bad_name[..], &bad_value[..]] {
            let attempt = sender
                .post("http://receiver.test/", headers, Bytes::new())
                .await;
            match attempt {
                Attempt::Failed { reason, .. } => assert!(!reason.contains("line"), "{reason}"),
                other => panic!("expected a header error, got {other:?}"),
            }
        }
        assert_eq!(calls.load(Ordering::SeqCst), 0);
    }

    #[tokio::test]
    async fn long_bodies_are_cut_and_retry_after_is_passed_through() {
        let server = MockServer::start().await;
        // 100 000 two-byte characters (200 000 bytes): only 64 KiB are read, 10 000 kept.
        Mock::given(path("/long"))
            .respond_with(ResponseTemplate::new(500).set_body_string("é".repeat(100_000)))
            .mount(&server)
            .await;
        Mock::given(path("/busy"))
            .respond_with(
                ResponseTemplate::new(503)
                    .insert_header("retry-after", "120")
                    .set_body_string("busy"),
            )
            .mount(&server)
            .await;
        let sender = Sender::with_lookup(true, fake_lookup(vec![]).0);
        match post(&sender, &format!("{}/long", server.uri())).await {
            Attempt::Answered {
                status,
                retry_after,
                body,
                ..
            } => {
                assert_eq!(status, 500);
                assert_eq!(retry_after, None);
                assert_eq!(body.chars().count(), BODY_CHARS);
                assert!(body.chars().all(|c| c == 'é'));
            }
            other => panic!("expected an answer, got {other:?}"),
        }
        assert_eq!(
            post(&sender, &format!("{}/busy", server.uri()))
                .await
                .without_duration(),
            Attempt::Answered {
                status: 503,
                retry_after: Some("120".into()),
                body: "busy".into(),
                duration_ms: 0,
            }
        );
    }

    impl Attempt {
        fn without_duration(self) -> Self {
            match self {
                Attempt::Answered {
                    status,
                    retry_after,
                    body,
                    ..
                } => Attempt::Answered {
                    status,
                    retry_after,
                    body,
                    duration_ms: 0,
                },
                other => other,
            }
        }
    }
}
